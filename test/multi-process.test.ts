import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import { SseClient } from './support/sse-client';
import {
  isListening,
  portOf,
  requireService,
  SHARED_POSTGRES_URL,
  SHARED_REDIS_URL,
} from './support/servers';
import { waitFor } from './support/wait';
import { appendOf, Worker } from './support/workers';
import type { BrokerSpec } from './support/worker';

interface Backend {
  kind: BrokerSpec['kind'];
  url: string;
  port: number;
  /** A name unique to this run: the Redis key prefix or the PostgreSQL table. */
  uniqueName(): string;
  /** Empties the history, as FLUSHALL or TRUNCATE would. */
  flush(name: string): Promise<void>;
  /** Removes what the run left in the shared server. */
  clean(name: string): Promise<void>;
}

const backends: Backend[] = [
  {
    kind: 'redis',
    url: SHARED_REDIS_URL,
    port: portOf(SHARED_REDIS_URL, 6379),
    uniqueName: () => `turbo-test-${process.pid}-${randomBytes(4).toString('hex')}`,
    flush(prefix) {
      return this.clean(prefix);
    },
    async clean(prefix) {
      const redis = new Redis(SHARED_REDIS_URL);
      try {
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  },
  {
    kind: 'postgres',
    url: SHARED_POSTGRES_URL,
    port: portOf(SHARED_POSTGRES_URL, 5432),
    uniqueName: () => `turbo_test_${process.pid}_${randomBytes(4).toString('hex')}`,
    flush: (table) => postgresQuery(`TRUNCATE ${table}`),
    clean: (table) => postgresQuery(`DROP TABLE IF EXISTS ${table}, ${table}_floors`),
  },
];

for (const backend of backends) {
  describe(`two app processes on one ${backend.kind} broker`, function () {
    this.timeout(60_000);
    let name: string;
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
      lastEventId = left.events.at(-1)?.id ?? '',
    ): Promise<SseClient> {
      const { pathname } = new URL(left.url);
      const headers: Record<string, string> = lastEventId ? { 'last-event-id': lastEventId } : {};
      const client = await SseClient.open(`${worker.url}${pathname}`, headers);
      clients.push(client);
      return client;
    }

    beforeEach(async function () {
      const isUp = await isListening(backend.port);
      requireService(this, isUp, `no ${backend.kind} server at ${backend.url}`);
      name = backend.uniqueName();
      const spec: BrokerSpec = { kind: backend.kind, url: backend.url, name };
      workers = await Promise.all([Worker.start(spec), Worker.start(spec)]);
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await Promise.all(workers.map((worker) => worker.stop()));
      workers = [];
      if (name !== undefined) await backend.clean(name);
    });

    it('delivers every write of every process once, in one order, to subscribers of both', async () => {
      const [first, second] = workers;
      const subscribers = [
        await subscribe(first),
        await subscribe(first),
        await subscribe(second),
        await subscribe(second),
      ];

      const perWorker = 15;
      const written = await Promise.all(
        workers.map(async (worker, w) => {
          const sent: string[] = [];
          for (let i = 0; i < perWorker; i++) {
            const body = `w${w}-${i}`;
            sent.push(appendOf(await worker.write(body), body));
          }
          return sent;
        }),
      );
      const total = perWorker * workers.length;
      for (const subscriber of subscribers) await subscriber.waitForEvents(total, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 200));

      const order = subscribers[0].data;
      expect(order).to.have.length(total);
      expect([...order].sort()).to.deep.equal([...written.flat()].sort());
      for (const subscriber of subscribers) {
        expect(subscriber.data).to.deep.equal(order);
        expect(subscriber.events.map((event) => event.id)).to.deep.equal(
          subscribers[0].events.map((event) => event.id),
        );
      }
      // Each process wrote one after another, so its messages keep their order in the stream.
      for (const sent of written)
        expect(order.filter((data) => sent.includes(data))).to.deep.equal(sent);
      expect(new Set(subscribers[0].events.map((event) => event.id)).size).to.equal(total);
      expect(workers.flatMap((worker) => worker.errors)).to.deep.equal([]);
    });

    it('delivers a message of 50,000 bytes whole to the other process', async () => {
      const [first, second] = workers;
      const watcher = await subscribe(first);
      const body = 'x'.repeat(50_000);
      const id = await second.write(body);
      await watcher.waitForEvents(1, 10_000);
      expect(watcher.data).to.deep.equal([appendOf(id, body)]);
      expect(watcher.data[0].length).to.be.greaterThan(50_000);
    });

    it('replays what a client missed when it reconnects to the other process', async () => {
      const [first, second] = workers;
      const leaving = await subscribe(first);
      const seenId = await first.write('seen');
      await leaving.waitForEvents(1, 10_000);
      const lastEventId = leaving.events[0].id!;
      leaving.close();

      const missed = [
        await second.write('missed-1'),
        await first.write('missed-2'),
        await second.write('missed-3'),
      ];
      const back = await reconnect(leaving, second, lastEventId);
      await back.waitForEvents(3, 10_000);
      const after = await first.write('after');
      await back.waitForEvents(4, 10_000);
      await new Promise((resolve) => setTimeout(resolve, 200));

      expect(leaving.data).to.deep.equal([appendOf(seenId, 'seen')]);
      expect(back.data).to.deep.equal([
        appendOf(missed[0], 'missed-1'),
        appendOf(missed[1], 'missed-2'),
        appendOf(missed[2], 'missed-3'),
        appendOf(after, 'after'),
      ]);
    });

    it('answers a position from before a flush of the history with a refresh', async () => {
      const [first, second] = workers;
      const leaving = await subscribe(first);
      await first.write('before');
      await leaving.waitForEvents(1, 10_000);
      const lastEventId = leaving.events[0].id!;
      leaving.close();

      await backend.flush(name);
      await first.write('after the flush');
      const back = await reconnect(leaving, second, lastEventId);
      await back.waitForEvents(1, 10_000);
      expect(back.data[0]).to.equal('<turbo-stream action="refresh"></turbo-stream>');
    });

    it('ends the streams of a process that stalled while what it had not read left the history, and replays nothing of it', async () => {
      await Promise.all(workers.map((worker) => worker.stop()));
      // Small history and log, so that messages leave them while the stalled process sleeps.
      const spec: BrokerSpec = {
        kind: backend.kind,
        url: backend.url,
        name,
        history: { size: 2, maxAge: 1000 },
        logSize: 10,
      };
      workers = await Promise.all([Worker.start(spec), Worker.start(spec)]);
      const [first, stalled] = workers;
      const watcher = await subscribe(stalled);
      await watcher.waitUntil(() => watcher.retry !== undefined, 5000, 'the stream to open');

      stalled.child.kill('SIGSTOP'); // A long GC pause, a frozen VM.
      try {
        const writes = backend.kind === 'redis' ? 300 : 5;
        for (let n = 0; n < writes; n++) await first.write(`while stalled ${n}`);
        await new Promise((resolve) => setTimeout(resolve, 2500)); // Pruning runs every second.
      } finally {
        stalled.child.kill('SIGCONT');
      }

      await watcher.waitUntil(() => watcher.ended, 10_000, 'the stalled process to end it');
      // Told over IPC, which may arrive after the stream's end.
      await waitFor(
        () => stalled.errors.some((message) => /before this process read them/.test(message)),
        5000,
        'the report of the missed messages',
      );
      const back = await reconnect(watcher, stalled, watcher.events.at(-1)?.id ?? '');
      await back.waitForEvents(1, 10_000);
      expect(back.data[0]).to.equal('<turbo-stream action="refresh"></turbo-stream>');
    });
  });
}

async function postgresQuery(sql: string): Promise<void> {
  const client = new Client(SHARED_POSTGRES_URL);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
