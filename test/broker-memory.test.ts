import { expect } from 'chai';
import { ErrorCodes, type BrokerMessage } from '../lib';
import { MemoryBroker } from '../lib/broker/memory';

describe('MemoryBroker', () => {
  let broker: MemoryBroker;
  let delivered: BrokerMessage[];

  function start(history = {}): MemoryBroker {
    broker = new MemoryBroker(history);
    delivered = [];
    broker.start((message) => delivered.push(message));
    return broker;
  }

  /** Starts a broker holding at most `maxBytes`; resolves to its position before any message. */
  function startWithMaxBytes(maxBytes: number): string {
    broker = new MemoryBroker({}, { maxBytes });
    broker.start(() => {});
    return broker.position();
  }

  /** The data replay answers for `stream` after `id`, or null for a gap. */
  async function replayed(stream: string, id: string): Promise<string[] | null> {
    return (await broker.replay(stream, id))?.map((m) => m.data) ?? null;
  }

  afterEach(async () => {
    await broker.close();
  });

  it('numbers messages with strictly increasing ids and delivers them at once', async () => {
    start();
    const first = await broker.publish('A', 'one');
    const second = await broker.publish('A', 'two');
    const seqOf = (id: string) => Number(id.split('-')[1]);
    expect(seqOf(second.id)).to.equal(seqOf(first.id) + 1);
    expect(delivered.map((m) => m.data)).to.deep.equal(['one', 'two']);
    expect(broker.position()).to.equal(second.id);
  });

  it('replays every message of the stream after an id, in order', async () => {
    start();
    const first = await broker.publish('A', 'a1');
    await broker.publish('B', 'b1');
    await broker.publish('A', 'a2');
    await broker.publish('A', 'a3');
    const missed = await broker.replay('A', first.id);
    expect(missed!.map((m) => m.data)).to.deep.equal(['a2', 'a3']);
  });

  it('replays nothing from the current position', async () => {
    start();
    await broker.publish('A', 'a1');
    expect(await broker.replay('A', broker.position())).to.deep.equal([]);
    expect(await broker.replay('Quiet', broker.position())).to.deep.equal([]);
  });

  it('answers a gap once the history is full past the id', async () => {
    start({ size: 2 });
    const first = await broker.publish('A', 'a1');
    const second = await broker.publish('A', 'a2');
    await broker.publish('A', 'a3');
    await broker.publish('A', 'a4');
    expect(await broker.replay('A', first.id)).to.equal(null);
    expect((await broker.replay('A', second.id))!.map((m) => m.data)).to.deep.equal(['a3', 'a4']);
  });

  it('answers a gap once messages after the id are older than maxAge', async () => {
    start({ maxAge: 30 });
    const before = broker.position();
    await broker.publish('A', 'a1');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(await broker.replay('A', before)).to.equal(null);
  });

  it('answers a gap for a stream whose history was forgotten and begun anew', async () => {
    start({ maxAge: 30 });
    const before = broker.position();
    await broker.publish('A', 'old');
    await new Promise((resolve) => setTimeout(resolve, 60));
    await broker.replay('Other', before); // sweeps: A's history is forgotten
    await broker.publish('A', 'new');
    expect(await broker.replay('A', before)).to.equal(null);
  });

  it('forgets the least recently published histories past maxBytes, answering their gap', async () => {
    const start = startWithMaxBytes(10);
    await broker.publish('A', 'aaaaaa');
    await broker.publish('B', 'bbbbbb');
    expect(await broker.replay('A', start)).to.equal(null);
    expect(await replayed('B', start)).to.deep.equal(['bbbbbb']);
  });

  it('counts maxBytes in UTF-8 bytes of message data', async () => {
    const start = startWithMaxBytes(12);
    await broker.publish('A', 'ééé'); // 6 bytes in 3 characters
    await broker.publish('B', 'ééé');
    expect(await replayed('A', start)).to.deep.equal(['ééé']);
    await broker.publish('C', 'é');
    expect(await broker.replay('A', start)).to.equal(null);
    expect(await replayed('B', start)).to.deep.equal(['ééé']);
  });

  it('replays a history over half of maxBytes to every client, keeping the others', async () => {
    const start = startWithMaxBytes(100);
    await broker.publish('other', 'o'.repeat(10));
    await broker.publish('A', 'a'.repeat(30));
    await broker.publish('A', 'b'.repeat(30));
    for (let client = 0; client < 3; client++) {
      expect(await replayed('A', start)).to.deep.equal(['a'.repeat(30), 'b'.repeat(30)]);
    }
    expect(await replayed('other', start)).to.deep.equal(['o'.repeat(10)]);
  });

  it('keeps no history with size 0', async () => {
    start({ size: 0 });
    const before = broker.position();
    await broker.publish('A', 'a1');
    expect(await broker.replay('A', before)).to.equal(null);
    expect(delivered).to.have.length(1);
  });

  it('answers a gap for an id of another broker, as after a restart', async () => {
    start();
    const other = new MemoryBroker();
    const foreign = (await other.publish('A', 'x')).id;
    expect(await broker.replay('A', foreign)).to.equal(null);
    await other.close();
  });

  it('answers a gap for an id ahead of the newest message', async () => {
    start();
    await broker.publish('A', 'a1');
    const ahead = broker.position().replace(/-\d+$/, '-999');
    expect(await broker.replay('A', ahead)).to.equal(null);
  });

  for (const suffix of ['', 'x', '0x1', '1e0', ' 1', '-1', '1.0', '01', '99999999999999999999']) {
    it(`answers a gap for the malformed seq ${JSON.stringify(suffix)}`, async () => {
      start();
      await broker.publish('A', 'a1');
      const epoch = broker.position().split('-')[0];
      expect(await broker.replay('A', `${epoch}-${suffix}`)).to.equal(null);
    });
  }

  for (const id of ['', '-', 'garbage', '\n', 'id: 1']) {
    it(`answers a gap for the malformed id ${JSON.stringify(id)}`, async () => {
      start();
      expect(await broker.replay('A', id)).to.equal(null);
    });
  }

  it('refuses a history size that is not a whole number', () => {
    expect(() => new MemoryBroker({ size: -1 }))
      .to.throw('history.size')
      .with.property('code', ErrorCodes.INVALID_OPTION);
    expect(() => new MemoryBroker({ maxAge: 1.5 })).to.throw('history.maxAge');
    broker = new MemoryBroker();
  });

  it('stops its sweep timer and delivery on close', async () => {
    start();
    await broker.close();
    await broker.publish('A', 'after close');
    expect(delivered).to.deep.equal([]);
  });
});
