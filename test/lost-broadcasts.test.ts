import { expect } from 'chai';
import type { Broker, BrokerMessage } from '../lib';
import { LostBroadcasts } from '../lib/lost-broadcasts';
import { waitFor } from './support/wait';

/** A broker that refuses publishes while `isDown`, and records what it took. */
class FlakyBroker implements Broker {
  isDown = true;
  published: BrokerMessage[] = [];
  start(): void {}
  async publish(stream: string, data: string): Promise<BrokerMessage> {
    if (this.isDown) throw new Error('unreachable');
    const message = { stream, id: String(this.published.length + 1), data };
    this.published.push(message);
    return message;
  }
  position(): string {
    return '0';
  }
  async replay(): Promise<BrokerMessage[] | null> {
    return null;
  }
  async close(): Promise<void> {}
}

describe('LostBroadcasts', () => {
  let broker: FlakyBroker;
  let lost: LostBroadcasts;

  beforeEach(() => {
    broker = new FlakyBroker();
    lost = new LostBroadcasts(broker);
  });

  afterEach(() => lost.stop());

  it('publishes one refresh per stream once the broker takes messages again', async () => {
    lost.add('Room:1');
    lost.add('Room:2');
    lost.add('Room:1');
    await lost.retry();
    expect(broker.published).to.deep.equal([]);
    broker.isDown = false;
    await lost.retry();
    expect(broker.published.map((m) => [m.stream, m.data])).to.deep.equal([
      ['Room:2', '<turbo-stream action="refresh"></turbo-stream>'],
      ['Room:1', '<turbo-stream action="refresh"></turbo-stream>'],
    ]);
    expect(lost.size).to.equal(0);
  });

  it('retries by itself on a timer', async () => {
    lost.add('Room:1');
    broker.isDown = false;
    await waitFor(() => broker.published.length === 1, 3000, 'the retried refresh');
    expect(broker.published[0].stream).to.equal('Room:1');
  });

  it('sends another refresh for a loss noted while a refresh is being published', async () => {
    broker.isDown = false;
    lost.add('Room:1');
    const publish = broker.publish.bind(broker);
    let isFirst = true;
    broker.publish = async (stream, data) => {
      const message = await publish(stream, data);
      if (isFirst) {
        isFirst = false;
        lost.add('Room:1'); // Lost after the refresh reached the page, before its answer came.
      }
      return message;
    };
    await lost.retry();
    await lost.retry();
    expect(broker.published.map((m) => m.stream)).to.deep.equal(['Room:1', 'Room:1']);
    expect(lost.size).to.equal(0);
  });

  it('drops what waits when stopped', async () => {
    lost.add('Room:1');
    lost.stop();
    broker.isDown = false;
    await lost.retry();
    expect([broker.published.length, lost.size]).to.deep.equal([0, 0]);
  });
});
