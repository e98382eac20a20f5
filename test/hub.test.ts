import { expect } from 'chai';
import type { Request, Response } from 'express';
import { Connection } from '../lib/connection';
import { Hub, type HubOptions } from '../lib/hub';
import { Stream } from '../lib/stream';
import { startRawServer } from './support/raw-server';
import { settle, SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

class BoardStream extends Stream {}

describe('Hub', () => {
  let raw: Awaited<ReturnType<typeof startRawServer>>;
  let hub: Hub;
  let options: HubOptions;
  const clients: SseClient[] = [];

  beforeEach(async () => {
    options = { heartbeat: null, recheckInterval: null, recheck: async () => true };
    hub = new Hub({
      get heartbeat() {
        return options.heartbeat;
      },
      get recheckInterval() {
        return options.recheckInterval;
      },
      recheck: (connection) => options.recheck(connection),
    });
    raw = await startRawServer((req: Request, res: Response) => {
      const key = new URL(req.url!, 'http://x').searchParams.get('key') ?? 'one';
      const connection = new Connection(req, res, new BoardStream(key), hub, 1024 * 1024);
      hub.add(connection);
      connection.open(req, Buffer.from('retry: 1000\n\n'));
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    hub.closeAll();
    await raw.close();
  });

  async function connect(key = 'one'): Promise<SseClient> {
    const before = hub.size;
    const client = await SseClient.open(`${raw.url}/?key=${key}`);
    clients.push(client);
    await waitFor(() => hub.size === before + 1, 2000, 'the hub to add the connection');
    return client;
  }

  it('sends each message to every connection of its stream only', async () => {
    const a = await connect('one');
    const b = await connect('one');
    const other = await connect('two');
    hub.deliver({ stream: 'BoardStream:one', id: 'e-1', data: 'hello' });
    await a.waitForEvents(1);
    await b.waitForEvents(1);
    await settle(50);
    expect(a.events).to.deep.equal([{ id: 'e-1', event: undefined, data: 'hello' }]);
    expect(b.events).to.deep.equal([{ id: 'e-1', event: undefined, data: 'hello' }]);
    expect(other.events).to.deep.equal([]);
  });

  it('encodes a message once and hands the same Buffer to every connection', async () => {
    await connect();
    await connect();
    const frames: Buffer[] = [];
    const original = Connection.prototype.deliver;
    Connection.prototype.deliver = function (id: string, frame: Buffer) {
      frames.push(frame);
      return original.call(this, id, frame);
    };
    try {
      hub.deliver({ stream: 'BoardStream:one', id: 'e-1', data: 'x' });
    } finally {
      Connection.prototype.deliver = original;
    }
    expect(frames).to.have.length(2);
    expect(frames[0]).to.equal(frames[1]);
  });

  it('counts connections and streams and forgets closed ones', async () => {
    const a = await connect('one');
    await connect('two');
    expect([hub.size, hub.streamCount]).to.deep.equal([2, 2]);
    a.close();
    await waitFor(() => hub.size === 1, 2000, 'forget');
    expect(hub.streamCount).to.equal(1);
  });

  it('sends heartbeat comments while a connection is open, and stops with the last one', async () => {
    options.heartbeat = 20;
    expect(hub.hasTimers).to.equal(false);
    const client = await connect();
    expect(hub.hasTimers).to.equal(true);
    await client.waitUntil(() => client.comments.length >= 2, 2000, 'two heartbeats');
    expect(client.events).to.deep.equal([]);
    expect(client.raw).to.match(/^retry: 1000\n\n(:\n\n)+$/);
    client.close();
    await waitFor(() => hub.size === 0, 2000, 'forget');
    expect(hub.hasTimers).to.equal(false);
  });

  it('ends connections whose user no longer passes, keeping the others', async () => {
    options.recheckInterval = 20;
    let revoked = false;
    options.recheck = async (connection) =>
      !(revoked && connection.streamName === 'BoardStream:one');
    const kept = await connect('two');
    const lost = await connect('one');
    revoked = true;
    await lost.waitForEnd(2000);
    await settle(60);
    expect(kept.ended).to.equal(false);
    expect(hub.size).to.equal(1);
  });

  it('treats a re-check that throws as failing', async () => {
    options.recheckInterval = 20;
    options.recheck = async () => {
      throw new Error('session store down');
    };
    const client = await connect();
    await client.waitForEnd(2000);
    expect(hub.size).to.equal(0);
  });

  it('never runs a second round of re-checks while one is pending', async () => {
    options.recheckInterval = 10;
    let running = 0;
    let peak = 0;
    let calls = 0;
    options.recheck = async () => {
      calls += 1;
      running += 1;
      peak = Math.max(peak, running);
      await settle(60);
      running -= 1;
      return true;
    };
    await connect();
    await waitFor(() => calls >= 2, 2000, 'two re-checks');
    expect(peak).to.equal(1);
  });

  it('ends every connection and stops its timers on closeAll()', async () => {
    options.heartbeat = 1000;
    const a = await connect('one');
    const b = await connect('two');
    hub.closeAll();
    await a.waitForEnd();
    await b.waitForEnd();
    expect([hub.size, hub.streamCount, hub.hasTimers]).to.deep.equal([0, 0, false]);
  });
});
