import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { PostgresBroker } from '../lib';
import { expect } from 'chai';
import { brokerContract, type Started } from './support/broker-contract';
import { waitFor } from './support/wait';
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

  it('sends NUL in a message as U+FFFD instead of failing like an outage', async () => {
    const broker = new PostgresBroker(SHARED_POSTGRES_URL, { table });
    const delivered: string[] = [];
    await broker.start(
      (message) => delivered.push(message.data),
      () => {},
    );
    try {
      const message = await broker.publish('Room:1', 'a\0b');
      expect(message.data).to.equal('a\uFFFDb');
      await waitFor(() => delivered.length === 1, 5000, 'the message');
      expect(delivered).to.deep.equal(['a\uFFFDb']);
    } finally {
      await broker.close();
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
