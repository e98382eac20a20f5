import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { registerStream, Stream } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

class SlowFeedStream extends Stream {}

const KIB = 1024;

function send(n: number, size: number): Promise<boolean> {
  const filler = String.fromCharCode(97 + (n % 26)).repeat(size);
  return new SlowFeedStream().append({ html: `<p>${n}:${filler}</p>`, target: 'feed' });
}

function numberOf(event: EventSourceMessage): number {
  return Number(/<p>(\d+):/.exec(event.data)![1]);
}

/** An SSE client whose response can be paused, which stops reading the socket. */
function openPausable(url: string): Promise<{ events: EventSourceMessage[]; response: http.IncomingMessage; close(): void }> {
  return new Promise((resolve, reject) => {
    const events: EventSourceMessage[] = [];
    const parser = createParser({ onEvent: (event) => events.push(event) });
    const request = http.get(url, { headers: { accept: 'text/event-stream' } }, (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => parser.feed(chunk));
      resolve({ events, response, close: () => request.destroy() });
    });
    request.on('error', reject);
  });
}

describe('slow clients', () => {
  let server: TestServer;
  const clients: SseClient[] = [];
  const closers: (() => void)[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const close of closers.splice(0)) close();
    await server?.close();
  });

  it('drops a client that never reads, keeps memory bounded and the others on time', async function () {
    this.timeout(20_000);
    const maxQueuedBytes = 256 * KIB;
    const messageSize = 256 * KIB;
    const total = 80; // 20 MiB: more than loopback socket buffers hold for the stalled client.
    registerStream(SlowFeedStream);
    server = await startServer({ maxQueuedBytes });
    const src = await server.sourceFor(new SlowFeedStream());
    const url = new URL(src);

    const stalled = net.connect(Number(url.port), '127.0.0.1');
    closers.push(() => stalled.destroy());
    let stalledClosed = false;
    stalled.on('close', () => (stalledClosed = true));
    stalled.on('error', () => undefined);
    stalled.pause();
    stalled.write(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`);

    const readers: SseClient[] = [];
    for (let i = 0; i < 3; i++) readers.push(await SseClient.open(src));
    clients.push(...readers);
    await waitFor(() => server.turbo.connectionCount === 4, 2000, 'four connections');

    let peakBacklog = 0;
    let droppedAfter = -1;
    let slowestDelivery = 0;
    for (let n = 0; n < total; n++) {
      const sentAt = Date.now();
      await send(n, messageSize);
      peakBacklog = Math.max(peakBacklog, server.turbo.stats().backlogBytes);
      for (const reader of readers) await reader.waitForEvents(n + 1, 3000);
      slowestDelivery = Math.max(slowestDelivery, Date.now() - sentAt);
      peakBacklog = Math.max(peakBacklog, server.turbo.stats().backlogBytes);
      if (droppedAfter === -1 && server.turbo.connectionCount === 3) droppedAfter = n;
    }

    expect(droppedAfter, 'the stalled client is dropped').to.be.within(0, total - 1);
    // Reading again, the stalled client finds what the kernels held, then the end of the stream.
    let stalledBytes = 0;
    stalled.on('data', (chunk: Buffer) => (stalledBytes += chunk.length));
    stalled.resume();
    await waitFor(() => stalledClosed, 5000, 'the stalled socket to be closed by the server');
    expect(stalledBytes).to.be.below(total * messageSize);
    expect(server.turbo.connectionCount).to.equal(3);
    for (const reader of readers) {
      expect(reader.events.map(numberOf)).to.deep.equal(Array.from({ length: total }, (_, n) => n));
    }
    // Each connection holds at most its cap plus the write that was refused; never the 20 MiB sent.
    expect(peakBacklog).to.be.at.most(4 * (maxQueuedBytes + messageSize + 64 * KIB));
    expect(slowestDelivery, 'ms from publish to every reader').to.be.below(2000);
  });

  it('keeps a client that pauses briefly and resumes, in order and complete', async function () {
    this.timeout(10_000);
    registerStream(SlowFeedStream);
    server = await startServer({ maxQueuedBytes: 16 * 1024 * KIB });
    const src = await server.sourceFor(new SlowFeedStream());
    const pauser = await openPausable(src);
    closers.push(pauser.close);
    await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the connection');

    // 12 MiB while paused: past what loopback buffers take, so the server really waits for drain.
    pauser.response.pause();
    for (let n = 0; n < 96; n++) await send(n, 128 * KIB);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.turbo.stats().backlogBytes, 'bytes waiting while paused').to.be.above(0);
    expect(server.turbo.connectionCount, 'still connected while paused').to.equal(1);
    pauser.response.resume();
    for (let n = 96; n < 100; n++) await send(n, 128 * KIB);

    await waitFor(() => pauser.events.length === 100, 5000, '100 events');
    expect(pauser.events.map(numberOf)).to.deep.equal(Array.from({ length: 100 }, (_, n) => n));
    expect(server.turbo.connectionCount).to.equal(1);
    expect(server.turbo.stats().backlogBytes).to.equal(0);
  });
});
