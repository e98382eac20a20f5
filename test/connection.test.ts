import { expect } from 'chai';
import net from 'node:net';
import type { Request, Response } from 'express';
import { Connection, type ConnectionOwner } from '../lib/connection';
import { Stream } from '../lib/stream';
import { startRawServer } from './support/raw-server';
import { SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

class TickerStream extends Stream {}

/** Flushes dirty connections at the end of the turn, as the hub does, and records forgets. */
class TestOwner implements ConnectionOwner {
  forgotten: Connection[] = [];
  markDirty(connection: Connection): void {
    setImmediate(() => connection.flush());
  }
  forget(connection: Connection): void {
    this.forgotten.push(connection);
  }
}

describe('Connection', () => {
  let raw: Awaited<ReturnType<typeof startRawServer>>;
  let owner: TestOwner;
  let opened: Connection[];
  let maxQueuedBytes: number;
  const clients: SseClient[] = [];
  const sockets: net.Socket[] = [];

  beforeEach(async () => {
    owner = new TestOwner();
    opened = [];
    maxQueuedBytes = 1024 * 1024;
    raw = await startRawServer((req: Request, res: Response) => {
      const connection = new Connection(req, res, new TickerStream(), owner, maxQueuedBytes);
      connection.open(req, Buffer.from('retry: 1000\n\n'));
      opened.push(connection);
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const socket of sockets.splice(0)) socket.destroy();
    await raw.close();
  });

  async function connect(): Promise<{ client: SseClient; connection: Connection }> {
    const client = await SseClient.open(raw.url);
    clients.push(client);
    await client.waitUntil(() => opened.length === clients.length, 2000, 'the server side');
    return { client, connection: opened[opened.length - 1] };
  }

  it('sends the SSE headers and the retry hint before any message', async () => {
    const { client } = await connect();
    await client.waitUntil(() => client.raw.length > 0);
    expect(client.headers['content-type']).to.equal('text/event-stream; charset=utf-8');
    expect(client.headers['cache-control']).to.equal('no-cache, no-transform');
    expect(client.headers['x-accel-buffering']).to.equal('no');
    expect(client.raw).to.equal('retry: 1000\n\n');
  });

  it('writes the frames queued in one turn together, in order', async () => {
    const { client, connection } = await connect();
    connection.deliver('1', Buffer.from('id: 1\ndata: a\n\n'));
    connection.deliver('2', Buffer.from('id: 2\ndata: b\n\n'));
    await client.waitForEvents(2);
    expect(client.raw).to.equal('retry: 1000\n\nid: 1\ndata: a\n\nid: 2\ndata: b\n\n');
  });

  it('holds live messages during replay and drops those replay already sent', async () => {
    const { client, connection } = await connect();
    connection.hold();
    connection.deliver('2', Buffer.from('id: 2\ndata: live-2\n\n'));
    connection.deliver('3', Buffer.from('id: 3\ndata: live-3\n\n'));
    connection.enqueueReplay(Buffer.from('id: 1\ndata: replay-1\n\n'));
    connection.enqueueReplay(Buffer.from('id: 2\ndata: replay-2\n\n'));
    connection.release(new Set(['1', '2']));
    await client.waitForEvents(3);
    expect(client.events.map((e) => `${e.id}:${e.data}`)).to.deep.equal([
      '1:replay-1',
      '2:replay-2',
      '3:live-3',
    ]);
  });

  it('skips live messages the client already saw elsewhere, up to the first newer one', async () => {
    const { client, connection } = await connect();
    const compare = (a: string, b: string) => Number(a) - Number(b);
    connection.skipThrough('5', compare);
    connection.hold();
    connection.deliver('4', Buffer.from('id: 4\ndata: seen-4\n\n'));
    connection.release(new Set());
    connection.deliver('5', Buffer.from('id: 5\ndata: seen-5\n\n'));
    connection.deliver('6', Buffer.from('id: 6\ndata: new-6\n\n'));
    connection.deliver('7', Buffer.from('id: 7\ndata: new-7\n\n'));
    await client.waitForEvents(2);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.events.map((e) => `${e.id}:${e.data}`)).to.deep.equal(['6:new-6', '7:new-7']);
  });

  it('is forgotten once when the client goes away', async () => {
    const { client, connection } = await connect();
    client.close();
    await waitFor(() => owner.forgotten.length === 1, 2000, 'forget');
    expect(connection.isOpen).to.equal(false);
    connection.end();
    expect(owner.forgotten).to.deep.equal([connection]);
  });

  it('ends the response on end()', async () => {
    const { client, connection } = await connect();
    connection.end();
    await client.waitForEnd();
    expect(owner.forgotten).to.deep.equal([connection]);
  });

  it('stops writing once the socket refuses more and drops the client past maxQueuedBytes', async () => {
    maxQueuedBytes = 64 * 1024;
    const socket = net.connect(Number(new URL(raw.url).port), '127.0.0.1');
    sockets.push(socket);
    socket.pause();
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n');
    await waitFor(() => opened.length === 1, 2000, 'the server side');
    const connection = opened[0];
    const frame = Buffer.alloc(32 * 1024, 'a');
    let peak = 0;
    for (let i = 0; i < 2000 && connection.isOpen; i++) {
      connection.deliver(String(i), frame);
      peak = Math.max(peak, connection.backlog);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(connection.isOpen, 'dropped').to.equal(false);
    expect(owner.forgotten).to.deep.equal([connection]);
    // What waits in memory is the cap, plus what one refused write had already handed over.
    expect(peak).to.be.at.most(maxQueuedBytes + frame.length + 64 * 1024);
  });
});
