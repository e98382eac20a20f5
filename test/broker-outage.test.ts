import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { PostgresBroker, RedisBroker, registerStream, Stream } from '../lib';
import { settle, SseClient } from './support/sse-client';
import { startBareServer, type BareServer } from './support/turbo-app';
import {
  hasRedisServer,
  postgresBin,
  requireService,
  startPrivatePostgres,
  startPrivateRedis,
  freePort,
  type PrivateServer,
} from './support/servers';
import { waitFor } from './support/wait';
import { appendOf, Worker } from './support/workers';
import type { BrokerSpec } from './support/worker';

interface OutageCase {
  kind: BrokerSpec['kind'];
  isAvailable(): boolean;
  missing: string;
  start(): Promise<PrivateServer>;
  /** Whether the server keeps its data across a restart (PostgreSQL) or comes back empty (Redis). */
  keepsHistory: boolean;
}

const cases: OutageCase[] = [
  {
    kind: 'redis',
    isAvailable: hasRedisServer,
    missing: 'no redis-server binary at /usr/bin/redis-server',
    start: startPrivateRedis,
    keepsHistory: false,
  },
  {
    kind: 'postgres',
    isAvailable: () => postgresBin() !== null,
    missing: 'no PostgreSQL binaries under /usr/lib/postgresql',
    start: startPrivatePostgres,
    keepsHistory: true,
  },
];

for (const outage of cases) {
  describe(`a ${outage.kind} outage of a few seconds`, function () {
    this.timeout(90_000);
    let server: PrivateServer | null = null;
    let workers: Worker[] = [];
    const clients: SseClient[] = [];

    async function subscribe(
      worker: Worker,
      headers: Record<string, string> = {},
    ): Promise<SseClient> {
      const client = await SseClient.open(await worker.source(), headers);
      clients.push(client);
      return client;
    }

    /**
     * Reconnects as EventSource does: the same `src` (rendered by whichever process served the
     * page) with the last id seen, here to `worker`'s address.
     */
    async function reconnect(
      left: SseClient,
      worker: Worker,
      lastEventId = left.events[left.events.length - 1].id!,
    ): Promise<SseClient> {
      const { pathname } = new URL(left.url);
      const headers = { 'last-event-id': lastEventId };
      const client = await SseClient.open(`${worker.url}${pathname}`, headers);
      clients.push(client);
      return client;
    }

    beforeEach(async function () {
      requireService(this, outage.isAvailable(), outage.missing);
      server = await outage.start();
      const name = `turbo_outage_${randomBytes(4).toString('hex')}`;
      const spec: BrokerSpec = { kind: outage.kind, url: server.url, name, heartbeat: 200 };
      workers = await Promise.all([Worker.start(spec), Worker.start(spec)]);
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await Promise.all(workers.map((worker) => worker.stop()));
      workers = [];
      await server?.destroy();
      server = null;
    });

    it('keeps processes alive and resumes delivery; streams stay open if the server kept its data, else end for a refresh', async () => {
      const [first, second] = workers;
      const watchers = [await subscribe(first), await subscribe(second)];
      const beforeId = await first.write('before');
      for (const watcher of watchers) await watcher.waitForEvents(1, 10_000);
      const leftAt = watchers[0].events[0].id!;

      await server!.stop();
      const duringId = await first.write('during');
      await waitFor(
        () => first.errors.length > 0,
        10_000,
        'an error report from the first process',
      );
      const heartbeats = watchers.map((watcher) => watcher.comments.length);
      await waitFor(
        () => watchers.every((watcher, i) => watcher.comments.length >= heartbeats[i] + 5),
        10_000,
        'heartbeats during the outage',
      );
      await server!.start();

      // The processes reconnect on their own schedule: write until a publish is not refused. A
      // refused one is reported before the write is answered.
      let afterId = 0;
      let afterBody = '';
      for (let attempt = 0; attempt < 40; attempt++) {
        const refusals = publishFailures(second);
        afterBody = `after-${attempt}`;
        afterId = await second.write(afterBody);
        if (publishFailures(second) === refusals) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(workers.every((worker) => worker.isAlive)).to.equal(true);
      if (!outage.keepsHistory) {
        // Redis came back empty: what it held, and what the processes had not read yet, is
        // gone. Every process ends its streams; each page reconnects and refreshes.
        for (const watcher of watchers) {
          await watcher.waitUntil(() => watcher.ended, 10_000, 'the stream to end');
          expect(watcher.data).not.to.include(appendOf(duringId, 'during'));
        }
        await waitFor(
          () => workers.every((worker) => worker.errors.some((m) => /restarted/.test(m))),
          10_000,
          'every process to report the restart',
        );
        const back = await reconnect(watchers[0], second, watchers[0].events.at(-1)!.id!);
        await back.waitForEvents(1, 10_000);
        expect(back.data[0]).to.equal(REFRESH);
        return;
      }

      // Each process that lost a message in the outage sends one refresh on its stream once the
      // broker is back, before or after the next message depending on when it reconnects.
      const lostBy = publishFailures(second) > 0 ? 2 : 1;
      for (const watcher of watchers) await watcher.waitForEvents(2 + lostBy, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 300));

      for (const watcher of watchers) {
        expect(watcher.ended).to.equal(false);
        const refreshes = watcher.data.filter((data) => data === REFRESH);
        const others = watcher.data.filter((data) => data !== REFRESH);
        expect(others).to.deep.equal([appendOf(beforeId, 'before'), appendOf(afterId, afterBody)]);
        expect(refreshes).to.have.length(lostBy);
        expect(watcher.data).not.to.include(appendOf(duringId, 'during'));
      }
      expect(
        first.errors.some((message) =>
          /lost the connection|connect|closed|ECONNREFUSED|writeable/i.test(message),
        ),
      ).to.equal(true);

      // A client that left before the outage comes back to the other process.
      const back = await reconnect(watchers[0], second, leftAt);
      await back.waitForEvents(1 + lostBy, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(back.data.filter((data) => data !== REFRESH)).to.deep.equal([
        appendOf(afterId, afterBody),
      ]);
      expect(back.data.filter((data) => data === REFRESH)).to.have.length(lostBy);
    });

    if (outage.kind === 'redis') {
      it('ends every stream when Redis comes back from an older snapshot, and answers an id from the lost state with a refresh', async () => {
        const [first, second] = workers;
        const leaving = await subscribe(first);
        const watcher = await subscribe(second);
        const keptId = await first.write('kept');
        await leaving.waitForEvents(1, 10_000);
        leaving.close();

        const redis = new Redis(server!.url);
        await redis.call('SAVE'); // The snapshot Redis comes back from.
        redis.disconnect();
        await first.write('lost-1');
        await first.write('lost-2');
        await watcher.waitForEvents(3, 10_000);
        await server!.stop(); // Killed: what came after the snapshot is gone.
        await server!.start();

        // Written until a publish is taken, which gives the restored keys their new epoch.
        for (let attempt = 0; attempt < 40; attempt++) {
          const refusals = publishFailures(first);
          await first.write(`after-${attempt}`);
          if (publishFailures(first) === refusals) break;
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
        await watcher.waitUntil(() => watcher.ended, 10_000, 'the stream to end');
        expect(watcher.data.slice(0, 3)).to.deep.equal([
          appendOf(keptId, 'kept'),
          appendOf(keptId + 1, 'lost-1'),
          appendOf(keptId + 2, 'lost-2'),
        ]);

        const back = await reconnect(leaving, second, leaving.events[0].id!);
        await back.waitForEvents(1, 10_000);
        expect(back.data[0]).to.equal(REFRESH);
      });
    }
  });
}

const REFRESH = '<turbo-stream action="refresh"></turbo-stream>';

/** How many publishes a worker reported as refused, leaving out the lost-connection notices. */
function publishFailures(worker: Worker): number {
  return worker.errors.filter((message) => !message.includes('lost the connection')).length;
}

describe('a PostgreSQL that is down when the broker starts', function () {
  this.timeout(90_000);
  let server: PrivateServer | null = null;

  afterEach(async () => {
    await server?.destroy();
    server = null;
  });

  it('waits for it, reports once, then publishes and delivers', async function () {
    requireService(
      this,
      postgresBin() !== null,
      'no PostgreSQL binaries under /usr/lib/postgresql',
    );
    server = await startPrivatePostgres();
    await server.stop();
    const broker = new PostgresBroker(server.url, {
      table: `boot_${randomBytes(4).toString('hex')}`,
    });
    const errors: string[] = [];
    const delivered: string[] = [];
    let isStarted = false;
    const starting = broker
      .start(
        (message) => delivered.push(message.data),
        (error) => errors.push(error.message),
      )
      .then(() => (isStarted = true));
    try {
      await waitFor(() => errors.length > 0, 10_000, 'the report of the failed start');
      expect(isStarted).to.equal(false);
      await server.start();
      await starting;
      await broker.publish('Room:1', 'after boot');
      await waitFor(() => delivered.length === 1, 10_000, 'the message');
      expect(delivered).to.deep.equal(['after boot']);
      expect(
        errors.filter((message) => message.startsWith('PostgresBroker: cannot start yet')),
      ).to.have.length(1);
    } finally {
      await broker.close();
    }
  });
});

describe('a broker that is down when the middleware starts', function () {
  this.timeout(30_000);
  class BootStream extends Stream {}
  let server: PrivateServer | null = null;
  let bare: BareServer | null = null;
  const clients: SseClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await bare?.turbo.close();
    bare?.server.closeAllConnections();
    bare?.server.close();
    bare = null;
    await server?.destroy();
    server = null;
  });

  it('tells subscribers to reconnect after checkTimeout, then serves them once it is up', async function () {
    requireService(this, hasRedisServer(), 'no redis-server binary at /usr/bin/redis-server');
    registerStream(BootStream);
    server = await startPrivateRedis();
    await server.stop();
    const errors: string[] = [];
    bare = await startBareServer({
      broker: new RedisBroker(server.url, { prefix: `boot-${randomBytes(4).toString('hex')}` }),
      checkTimeout: 300,
      retry: 100,
      onError: (error) => errors.push(error.message),
    });
    const src = await bare.sourceFor(new BootStream('lobby'));

    const early = await SseClient.open(src);
    clients.push(early);
    const started = Date.now();
    await early.waitForEnd(3000);
    expect(Date.now() - started).to.be.below(1500);
    expect(early.status).to.equal(200);
    expect(early.retry).to.equal(100);
    expect(early.events).to.have.length(0);
    expect(bare.turbo.stats().pendingSubscriptions).to.equal(0);

    await server.start();
    await bare.turbo.ready;
    const late = await SseClient.open(src);
    clients.push(late);
    await late.waitUntil(() => late.retry !== undefined, 3000, 'the retry hint');
    await waitFor(() => bare!.turbo.connectionCount === 1, 3000, 'the open stream');
    await new BootStream('lobby').append({ target: 'log', html: '<p>up</p>' });
    await late.waitForEvents(2, 3000);
    // The page was rendered before the broker had a position: what it missed cannot be proven.
    expect(late.data).to.deep.equal([
      '<turbo-stream action="refresh"></turbo-stream>',
      '<turbo-stream action="append" target="log"><template><p>up</p></template></turbo-stream>',
    ]);
  });

  for (const kind of ['redis', 'postgres'] as const) {
    it(`forgets waiting clients that leave, and close() leaves no timer of theirs (${kind})`, async () => {
      registerStream(BootStream);
      // Nothing listens on the port: the broker keeps trying to connect.
      const port = await freePort();
      const broker =
        kind === 'redis'
          ? new RedisBroker(`redis://127.0.0.1:${port}`, { prefix: 'boot' })
          : new PostgresBroker(`postgres://postgres@127.0.0.1:${port}/test`, { table: 'boot' });
      bare = await startBareServer({ broker, checkTimeout: 20_000, onError: () => {} });
      const src = await bare.sourceFor(new BootStream('lobby'));
      const timersBefore = activeTimers();
      const requests = [1, 2, 3].map(() => {
        const req = http.get(src);
        req.on('error', () => {});
        return req;
      });
      const answered = new Promise<number>((resolve) =>
        requests[2].on('response', (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        }),
      );
      await waitFor(() => bare!.turbo.stats().pendingSubscriptions === 3, 3000, 'three waiting');
      requests[0].destroy();
      requests[1].destroy();
      await waitFor(() => bare!.turbo.stats().pendingSubscriptions === 1, 1000, 'two forgotten');

      await bare.turbo.close();
      expect(await answered).to.equal(503);
      await settle(100);
      expect(activeTimers()).to.be.at.most(timersBefore);
    });
  }
});

/** Timers that keep the process alive. */
function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;
}
