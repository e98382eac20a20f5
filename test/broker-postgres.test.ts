import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PostgresBroker } from '../lib';
import { brokerContract, type Started } from './support/broker-contract';
import { isListening, portOf, requireService, SHARED_POSTGRES_URL } from './support/servers';

describe('PostgresBroker', function () {
  this.timeout(20_000);
  let table: string;
  let client: Client | undefined;
  const started: Started[] = [];

  beforeEach(async function () {
    const isUp = await isListening(portOf(SHARED_POSTGRES_URL, 5432));
    requireService(this, isUp, `no PostgreSQL at ${SHARED_POSTGRES_URL}`);
    table = `turbo_test_${process.pid}_${randomBytes(4).toString('hex')}`;
    client = new Client(SHARED_POSTGRES_URL);
    await client.connect();
  });

  afterEach(async () => {
    await Promise.all(started.splice(0).map(({ broker }) => broker.close()));
    if (client !== undefined) {
      await client.query(`DROP TABLE IF EXISTS ${table}, ${table}_floors`);
      await client.end();
      client = undefined;
    }
  });

  brokerContract(
    () => ({
      make: (history) => new PostgresBroker(SHARED_POSTGRES_URL, { table, history }),
      flush: async () => void (await client!.query(`TRUNCATE ${table}`)),
    }),
    () => started,
  );
});
