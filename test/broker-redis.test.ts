import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisBroker } from '../lib';
import { expect } from 'chai';
import { brokerContract, type Started } from './support/broker-contract';
import { waitFor } from './support/wait';
import { isListening, portOf, requireService, SHARED_REDIS_URL } from './support/servers';

describe('RedisBroker', function () {
  this.timeout(20_000);
  let prefix: string;
  let redis: Redis;
  const started: Started[] = [];

  async function deleteKeys(): Promise<void> {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }

  beforeEach(async function () {
    const isUp = await isListening(portOf(SHARED_REDIS_URL, 6379));
    requireService(this, isUp, `no Redis at ${SHARED_REDIS_URL}`);
    prefix = `turbo-test-${process.pid}-${randomBytes(4).toString('hex')}`;
    redis = new Redis(SHARED_REDIS_URL);
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map(({ broker }) => broker.close()));
    if (redis !== undefined) {
      await deleteKeys();
      redis.disconnect();
    }
  });

  /** A broker on this test's prefix, started, with what it delivered, reported and missed. */
  async function watched() {
    const broker = new RedisBroker(SHARED_REDIS_URL, { prefix });
    const seen = { broker, delivered: [] as string[], errors: [] as string[], missed: 0 };
    started.push({ broker, delivered: [], errors: [] }); // Closed after the test.
    await broker.start(
      (message) => seen.delivered.push(message.data),
      (error) => seen.errors.push(error.message),
      () => (seen.missed += 1),
    );
    return seen;
  }

  it('reports messages that left the log unread and asks for subscribers to reconnect', async () => {
    const seen = await watched();
    await seen.broker.publish('Room:1', 'one');
    const epoch = await redis.get(`${prefix}:epoch`);
    // A log entry three numbers ahead stands for two messages trimmed before this process read them.
    await redis.xadd(`${prefix}:log`, '*', 'e', epoch!, 'n', '4', 's', 'Room:1', 'd', 'four');
    await waitFor(() => seen.missed === 1, 5000, 'the missed-messages signal');
    expect(seen.errors).to.deep.equal([
      'RedisBroker: 2 message(s) left the log before this process read them; raise logSize',
    ]);
  });

  it('moves once to a new epoch when the keys are flushed while the log is quiet', async () => {
    const seen = await watched();
    const { broker } = seen;
    await broker.publish('Room:1', 'one');
    const before = broker.position();
    await deleteKeys(); // FLUSHALL, or a restart without persistence.
    await waitFor(() => seen.missed === 1, 5000, 'the flush to be noticed');
    await new Promise((resolve) => setTimeout(resolve, 2500)); // Quiet reads go on.
    expect(seen.missed).to.equal(1);
    expect(seen.errors).to.deep.equal([
      'RedisBroker: Redis was flushed or restarted; pages reconnect and refresh',
    ]);
    const position = broker.position();
    expect(position.split(':')[0]).to.not.equal(before.split(':')[0]);
    expect(position.split(':')[0]).to.equal(await redis.get(`${prefix}:epoch`));
    // A page rendered now is not told to refresh: nothing came after its position.
    expect(await broker.replay('Room:1', position)).to.deep.equal([]);
    expect(await broker.replay('Room:1', before)).to.equal(null);
  });

  it('after a flush, delivers and replays the new log even when its ids fall below the old log', async () => {
    const seen = await watched();
    const { broker } = seen;
    await broker.publish('Room:1', 'one');
    const epoch = await redis.get(`${prefix}:epoch`);
    // The old server's clock ran a minute ahead of the one that comes back empty.
    const ahead = `${Date.now() + 60_000}-0`;
    await redis.xadd(`${prefix}:log`, ahead, 'e', epoch!, 'n', '2', 's', 'Room:1', 'd', 'two');
    await waitFor(() => seen.delivered.length === 2, 5000, 'the entry from the fast clock');
    await deleteKeys();
    await waitFor(() => seen.missed === 1, 5000, 'the flush to be noticed');

    const renderedAt = broker.position(); // A page rendered after the flush.
    const three = await broker.publish('Room:1', 'three');
    await waitFor(() => seen.delivered.length === 3, 5000, 'the first message of the new log');
    expect(seen.delivered).to.deep.equal(['one', 'two', 'three']);
    expect(Math.sign(broker.compareIds(three.id, renderedAt)!)).to.equal(1);
    expect((await broker.replay('Room:1', renderedAt))?.map((m) => m.data)).to.deep.equal([
      'three',
    ]);
  });

  it('replays nothing of what a history kept across a new epoch holds from the old one', async () => {
    const seen = await watched();
    const { broker } = seen;
    await broker.publish('Room:1', 'before the restart');
    await redis.del(`${prefix}:epoch`); // The epoch renewed, the history kept (persistence).
    await waitFor(() => seen.missed === 1, 5000, 'the new epoch to be adopted');
    const renderedAt = broker.position();
    expect(await broker.replay('Room:1', renderedAt)).to.deep.equal([]);
    const after = await broker.publish('Room:1', 'after the restart');
    await waitFor(() => broker.position() !== renderedAt, 5000, 'the new message read');
    expect(await broker.replay('Room:1', renderedAt)).to.deep.equal([after]);
  });

  brokerContract(
    () => ({
      make: (history) => new RedisBroker(SHARED_REDIS_URL, { prefix, history }),
      flush: deleteKeys,
    }),
    () => started,
  );
});
