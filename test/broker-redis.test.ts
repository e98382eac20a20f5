import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisBroker } from '../lib';
import { brokerContract, type Started } from './support/broker-contract';
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

  brokerContract(
    () => ({
      make: (history) => new RedisBroker(SHARED_REDIS_URL, { prefix, history }),
      flush: deleteKeys,
    }),
    () => started,
  );
});
