import { expect } from 'chai';
import {
  ErrorCodes,
  TurboExpressError,
  type Broker,
  type BrokerMessage,
  type HistoryOptions,
} from '../../lib';
import { waitFor } from './wait';

/** How a broker suite makes brokers that share one history, and wipes it. */
export interface BrokerFixture {
  /** A new broker on the shared history of this test; not yet started. */
  make(history?: HistoryOptions): Broker;
  /** Empties the shared history, as FLUSHALL or TRUNCATE would. */
  flush(): Promise<void>;
}

/** A started broker and what it delivered. */
export interface Started {
  broker: Broker;
  delivered: BrokerMessage[];
  errors: Error[];
}

/**
 * The behaviour every broker for several processes must show, run against one fixture: two
 * brokers stand for two processes.
 */
export function brokerContract(fixture: () => BrokerFixture, closeAll: () => Started[]): void {
  async function start(history?: HistoryOptions): Promise<Started> {
    const broker = fixture().make(history);
    const started: Started = { broker, delivered: [], errors: [] };
    closeAll().push(started);
    await broker.start(
      (message) => started.delivered.push(message),
      (error) => started.errors.push(error),
    );
    return started;
  }

  it('delivers every message of both brokers to both in one order, which replay repeats', async () => {
    const [a, b] = [await start(), await start()];
    await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => a.broker.publish('Room:1', `a${i}`)),
      ...Array.from({ length: 20 }, (_, i) =>
        b.broker.publish(i % 2 === 0 ? 'Room:1' : 'Room:2', `b${i}`),
      ),
    ]);
    await waitFor(
      () => a.delivered.length === 40 && b.delivered.length === 40,
      5000,
      '40 messages each',
    );

    expect(b.delivered).to.deep.equal(a.delivered);
    expect(new Set(a.delivered.map((message) => message.id)).size).to.equal(40);
    for (const stream of ['Room:1', 'Room:2']) {
      const replayed = await b.broker.replay(stream, a.delivered[0].id);
      const expected = a.delivered.filter((m, i) => i > 0 && m.stream === stream).map((m) => m.id);
      expect(expected.length).to.be.greaterThan(0);
      expect(replayed?.map((message) => message.id)).to.deep.equal(expected);
    }
    expect([...a.errors, ...b.errors]).to.deep.equal([]);
  });

  it('replays exactly what came after an id, from the other broker', async () => {
    const [a, b] = [await start(), await start()];
    const first = await a.broker.publish('Room:1', 'one');
    const second = await a.broker.publish('Room:1', 'two');
    await b.broker.publish('Room:9', 'elsewhere');
    const third = await a.broker.publish('Room:1', 'three');
    await waitFor(() => b.delivered.length === 4, 5000, 'four messages');

    expect(await b.broker.replay('Room:1', first.id)).to.deep.equal([second, third]);
    expect(await b.broker.replay('Room:1', third.id)).to.deep.equal([]);
  });

  it('takes its position as a replay start for any stream', async () => {
    const [a, b] = [await start(), await start()];
    await a.broker.publish('Room:1', 'before');
    await waitFor(() => b.delivered.length === 1, 5000, 'one message');
    const position = b.broker.position();
    expect(await b.broker.replay('Room:2', position)).to.deep.equal([]);

    const later = await a.broker.publish('Room:2', 'later');
    await waitFor(() => b.delivered.length === 2, 5000, 'two messages');
    expect(await b.broker.replay('Room:2', position)).to.deep.equal([later]);
  });

  it('passes a message of 50,000 bytes whole', async () => {
    const [a, b] = [await start(), await start()];
    const position = b.broker.position();
    const data = `<turbo-stream action="append" target="t"><template>${'é'.repeat(25_000)}</template></turbo-stream>`;
    await a.broker.publish('Big:1', data);
    await waitFor(() => b.delivered.length === 1, 5000, 'the large message');
    expect(b.delivered[0].data).to.equal(data);
    expect((await b.broker.replay('Big:1', position))?.[0].data).to.equal(data);
  });

  it('answers null for an id it cannot read or from another epoch', async () => {
    const a = await start();
    const message = await a.broker.publish('Room:1', 'one');
    expect(await a.broker.replay('Room:1', 'nonsense')).to.equal(null);
    expect(await a.broker.replay('Room:1', `0000000000000000${message.id.slice(16)}`)).to.equal(
      null,
    );
    expect(await a.broker.replay('Room:1', `${message.id}\n`)).to.equal(null);
  });

  it('orders its own ids and refuses to compare foreign ones', async () => {
    const a = await start();
    const first = await a.broker.publish('Room:1', 'one');
    const second = await a.broker.publish('Room:2', 'two');
    const compare = a.broker.compareIds!.bind(a.broker);
    expect([
      Math.sign(compare(first.id, second.id)!),
      Math.sign(compare(second.id, first.id)!),
      compare(first.id, first.id),
      compare(first.id, 'nonsense'),
      compare(`0000000000000000${first.id.slice(16)}`, first.id),
    ]).to.deep.equal([-1, 1, 0, null, null]);
  });

  it('answers null once the history is flushed', async () => {
    const [a, b] = [await start(), await start()];
    const message = await a.broker.publish('Room:1', 'one');
    await waitFor(() => b.delivered.length === 1, 5000, 'one message');
    await fixture().flush();
    await a.broker.publish('Room:1', 'two');
    await waitFor(() => b.delivered.length === 2, 5000, 'the message after the flush');
    expect(await b.broker.replay('Room:1', message.id)).to.equal(null);
    expect(b.delivered.map((delivered) => delivered.data)).to.deep.equal(['one', 'two']);
  });

  it('answers null for an id older than the history kept for the stream', async () => {
    const a = await start({ size: 2 });
    const ids: string[] = [];
    for (const data of ['1', '2', '3', '4']) ids.push((await a.broker.publish('Room:1', data)).id);
    await waitFor(() => a.delivered.length === 4, 5000, 'four messages');
    await settleHistory(a.broker);
    expect(await a.broker.replay('Room:1', ids[0])).to.equal(null);
    expect((await a.broker.replay('Room:1', ids[1]))?.map((message) => message.data)).to.deep.equal(
      ['3', '4'],
    );
  });

  it('reads an id spelled with leading zeros as no id', async () => {
    const a = await start();
    const message = await a.broker.publish('Room:1', 'one');
    const padded = message.id.replace(/^([0-9a-f]+[:-])/, '$10');
    expect(padded).to.not.equal(message.id);
    expect(await a.broker.replay('Room:1', padded)).to.equal(null);
    expect(a.broker.compareIds!(padded, message.id)).to.equal(null);
  });

  it('answers nothing missed from its position once every history aged out, in a process started since too', async () => {
    const a = await start({ maxAge: 200 });
    await a.broker.publish('Room:1', 'old');
    await waitFor(() => a.delivered.length === 1, 5000, 'one message');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await settleHistory(a.broker);
    const b = await start({ maxAge: 200 });
    for (const { broker } of [a, b]) {
      // A quiet app: a page rendered now must not be told to refresh, again and again.
      expect(await broker.replay('Room:1', broker.position())).to.deep.equal([]);
      expect(await broker.replay('Room:2', broker.position())).to.deep.equal([]);
    }
    expect(await b.broker.replay('Room:1', a.delivered[0].id)).to.deep.equal([]);
    expect([...a.errors, ...b.errors]).to.deep.equal([]);
  });

  it('refuses a history size that is not a whole number', () => {
    expect(() => fixture().make({ size: -1 }))
      .to.throw(TurboExpressError)
      .with.property('code', ErrorCodes.INVALID_OPTION);
  });
}

/** Lets a broker that prunes on a timer do so: the PostgreSQL broker prunes every second. */
async function settleHistory(broker: Broker): Promise<void> {
  const prune = (broker as unknown as { prune?: () => Promise<void> }).prune;
  if (typeof prune === 'function') await prune.call(broker);
}
