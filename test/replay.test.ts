import { expect } from 'chai';
import { MemoryBroker, registerStream, Stream, type TurboStreamsOptions } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { settle, SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

/** A stream that is not a row, so that messages can be sent without a database. */
class ReplayTickerStream extends Stream {}

const REFRESH = '<turbo-stream action="refresh"></turbo-stream>';

function tick(n: number): string {
  return `<turbo-stream action="append" target="ticks"><template><p>tick ${n}</p></template></turbo-stream>`;
}

function send(n: number): Promise<boolean> {
  return new ReplayTickerStream('a').append({ html: `<p>tick ${n}</p>`, target: 'ticks' });
}

describe('replay', () => {
  let server: TestServer;
  const clients: SseClient[] = [];

  async function start(options: TurboStreamsOptions = {}): Promise<void> {
    registerStream(ReplayTickerStream);
    server = await startServer(options);
  }

  async function open(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = await SseClient.open(url, headers);
    clients.push(client);
    return client;
  }

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server?.close();
  });

  describe('with Last-Event-ID', () => {
    it('gives every stream message an id', async () => {
      await start();
      const client = await open(await server.sourceFor(new ReplayTickerStream('a')));
      await send(1);
      await send(2);
      const events = await client.waitForEvents(2);
      expect(events.every((event) => typeof event.id === 'string' && event.id.length > 0)).to.equal(
        true,
      );
      expect(events[0].id).to.not.equal(events[1].id);
    });

    it('loses and duplicates nothing across 40 dropped connections during 400 messages', async function () {
      this.timeout(15_000);
      const total = 400;
      await start({ history: { size: 1000 } });
      const src = await server.sourceFor(new ReplayTickerStream('a'));

      let published = 0;
      const publishing = (async () => {
        for (; published < total; published++) {
          await send(published);
          if (published % 2 === 0) await new Promise((resolve) => setTimeout(resolve, 2));
        }
      })();

      const received: string[] = [];
      const ids: string[] = [];
      let lastId: string | undefined;
      let drops = 0;
      const deadline = Date.now() + 10_000;
      while (received.length < total && Date.now() < deadline) {
        const client = await SseClient.open(
          src,
          lastId === undefined ? {} : { 'last-event-id': lastId },
        );
        expect(client.status).to.equal(200);
        // Drop after a varying number of events, or a short wait when the stream is quiet.
        const want = 1 + ((drops * 7) % 13);
        await client.waitForEvents(want, 30).catch(() => undefined);
        client.close();
        if (published < total) drops += 1;
        for (const event of client.events) {
          received.push(event.data);
          ids.push(event.id!);
          lastId = event.id;
        }
      }
      await publishing;

      expect(drops).to.be.at.least(40);
      expect(received).to.have.length(total);
      expect(received).to.deep.equal(Array.from({ length: total }, (_, n) => tick(n)));
      expect(new Set(ids).size).to.equal(total);
      await waitFor(() => server.turbo.connectionCount === 0, 2000, 'every connection to close');
    });
  });

  describe('while replay is awaited', () => {
    /** A broker whose replay takes a while, as one over the network does. */
    class SlowReplayBroker extends MemoryBroker {
      constructor(private readonly snapshotAtEnd: boolean) {
        super();
      }
      override async replay(stream: string, afterId: string) {
        const early = this.snapshotAtEnd ? null : await super.replay(stream, afterId);
        await settle(40);
        return this.snapshotAtEnd ? super.replay(stream, afterId) : early;
      }
    }

    for (const snapshotAtEnd of [false, true]) {
      it(`sends live messages once, after replay (history read at the ${snapshotAtEnd ? 'end' : 'start'})`, async () => {
        await start({ broker: new SlowReplayBroker(snapshotAtEnd) });
        const src = await server.sourceFor(new ReplayTickerStream('a'));
        await send(1);
        const client = await open(src);
        await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the connection');
        await send(2);
        await send(3);
        await client.waitForEvents(3);
        await settle(60);
        expect(client.data).to.deep.equal([tick(1), tick(2), tick(3)]);
      });
    }

    it('forgets a client that leaves while replay is awaited', async () => {
      await start({ broker: new SlowReplayBroker(true) });
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      const client = await open(src);
      await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the connection');
      client.close();
      await waitFor(() => server.turbo.connectionCount === 0, 2000, 'the hub to forget it');
      await settle(60);
      expect(server.turbo.stats()).to.deep.equal({
        connections: 0,
        pendingSubscriptions: 0,
        streams: 0,
        backlogBytes: 0,
        hasTimers: false,
      });
    });
  });

  describe('from the render position', () => {
    it('replays what was sent between render and subscribe, then goes live', async () => {
      await start();
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      await send(1);
      await send(2);
      const client = await open(src);
      await client.waitForEvents(2);
      await send(3);
      await client.waitForEvents(3);
      await settle(50);
      expect(client.data).to.deep.equal([tick(1), tick(2), tick(3)]);
    });

    it('replays nothing of what was sent before the render', async () => {
      await start();
      await send(1);
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      const client = await open(src);
      await send(2);
      await client.waitForEvents(1);
      await settle(50);
      expect(client.data).to.deep.equal([tick(2)]);
    });

    it('prefers Last-Event-ID to the render position', async () => {
      await start();
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      await send(1);
      const first = await open(src);
      await first.waitForEvents(1);
      first.close();
      await send(2);
      const second = await open(src, { 'last-event-id': first.events[0].id! });
      await second.waitForEvents(1);
      await settle(50);
      expect(second.data).to.deep.equal([tick(2)]);
    });

    it('never replays from before the render position, whatever Last-Event-ID asks for', async () => {
      await start();
      await send(1); // Before the render: say, a message deleted since.
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      await send(2);
      const position = server.turbo.broker.position();
      const [epoch] = position.split('-');
      const client = await open(src, { 'last-event-id': `${epoch}-0` });
      await client.waitForEvents(1);
      await send(3);
      await client.waitForEvents(2);
      await settle(50);
      expect(client.data).to.deep.equal([tick(2), tick(3)]);
    });

    it('ignores an after= query: the render position is signed into the name', async () => {
      await start();
      await send(1);
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      const [epoch] = server.turbo.broker.position().split('-');
      const client = await open(`${src}?after=${epoch}-0`);
      await send(2);
      await client.waitForEvents(1);
      await settle(50);
      expect(client.data).to.deep.equal([tick(2)]);
    });
  });

  describe('when the history cannot cover the gap', () => {
    async function expectOneRefreshThenLive(client: SseClient): Promise<void> {
      await client.waitForEvents(1);
      await settle(50);
      expect(client.events).to.have.length(1);
      expect(client.events[0].data).to.equal(REFRESH);
      expect(client.events[0].id).to.equal(server.turbo.broker.position());
      await send(99);
      await client.waitForEvents(2);
      expect(client.data).to.deep.equal([REFRESH, tick(99)]);
    }

    it('sends one refresh when the messages after the id were evicted', async () => {
      await start({ history: { size: 2 } });
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      for (let n = 1; n <= 5; n++) await send(n);
      await expectOneRefreshThenLive(await open(src));
    });

    it('sends one refresh when the messages after the id are older than maxAge', async () => {
      await start({ history: { maxAge: 20 } });
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      await send(1);
      await settle(50);
      await expectOneRefreshThenLive(await open(src));
    });

    for (const [what, id] of [
      ['an unknown', 'abcdef12-5'],
      ['a malformed', 'not an id'],
      ['an empty-seq', 'abcdef12-'],
    ]) {
      it(`sends one refresh for ${what} Last-Event-ID`, async () => {
        await start();
        const src = await server.sourceFor(new ReplayTickerStream('a'));
        await expectOneRefreshThenLive(await open(src, { 'last-event-id': id }));
      });
    }

    it('sends one refresh, and nothing older, to a page rendered before the broker started', async () => {
      /** A broker that starts late and, like the Redis and PostgreSQL ones, has no position until then. */
      class LateBroker extends MemoryBroker {
        private hasStarted = false;
        override start(...args: Parameters<MemoryBroker['start']>) {
          setTimeout(() => {
            this.hasStarted = true;
            super.start(...args);
          }, 300);
          return settle(300);
        }
        override position(): string {
          return this.hasStarted ? super.position() : 'none-0';
        }
      }
      const broker = new LateBroker();
      const early = await broker.publish('ReplayTickerStream:a', 'written by another process');
      await start({ broker });
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      const token = new URL(src).pathname.split('/').pop()!;
      const payload = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString());
      expect(payload).to.deep.equal(['ReplayTickerStream:a', null, 'none-0']); // Rendered early.
      await server.turbo.ready;
      const [epoch] = early.id.split('-');
      const client = await open(src, { 'last-event-id': `${epoch}-0` });
      await client.waitForEvents(1);
      await settle(50);
      expect(client.data).to.deep.equal([REFRESH]);
    });

    it('sends one refresh when the broker fails to replay, and tells onError why', async () => {
      class FailingReplayBroker extends MemoryBroker {
        override async replay(): Promise<null> {
          throw new Error('connection reset');
        }
      }
      const errors: string[] = [];
      await start({
        broker: new FailingReplayBroker(),
        onError: (error) => errors.push(`${error.code} ${error.stream}: ${error.message}`),
      });
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      await send(1);
      await expectOneRefreshThenLive(await open(src));
      expect(errors).to.deep.equal([
        'TURBO_BROKER_FAILED ReplayTickerStream:a: Replay for a reconnecting page failed ' +
          '(it gets a refresh): connection reset',
      ]);
    });

    it('sends one refresh and then every live message to an id from ahead of the broker', async () => {
      await start();
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      const [epoch] = server.turbo.broker.position().split('-');
      await expectOneRefreshThenLive(await open(src, { 'last-event-id': `${epoch}-999` }));
    });

    it('sends one refresh for an id from before a restart', async () => {
      await start({ broker: new MemoryBroker() });
      const src = await server.sourceFor(new ReplayTickerStream('a'));
      await send(1);
      const before = await open(src);
      await before.waitForEvents(1);
      const oldId = before.events[0].id!;
      before.close();
      await server.close();

      await start({ broker: new MemoryBroker() });
      await send(1);
      await send(2);
      const src2 = await server.sourceFor(new ReplayTickerStream('a'));
      const after = await open(src2, { 'last-event-id': oldId });
      await expectOneRefreshThenLive(after);
    });
  });
});
