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

function send(n: number, size: number, key?: string): Promise<boolean> {
  const filler = String.fromCharCode(97 + (n % 26)).repeat(size);
  return new SlowFeedStream(key).append({ html: `<p>${n}:${filler}</p>`, target: 'feed' });
}

function numberOf(event: EventSourceMessage): number {
  return Number(/<p>(\d+):/.exec(event.data)![1]);
}

/** An SSE client whose response can be paused, which stops reading the socket. */
function openPausable(
  url: string,
): Promise<{ events: EventSourceMessage[]; response: http.IncomingMessage; close(): void }> {
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

const REFRESH = '<turbo-stream action="refresh"></turbo-stream>';

/** A raw client that sends its request and then never reads, as a stalled or hostile one. */
function openStalled(
  src: string,
  closers: (() => void)[],
): { isClosed(): boolean; resume(): void } {
  const url = new URL(src);
  const socket = net.connect(Number(url.port), '127.0.0.1');
  closers.push(() => socket.destroy());
  let isClosed = false;
  socket.on('close', () => (isClosed = true));
  socket.on('error', () => undefined);
  socket.pause();
  socket.write(
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
  );
  return { isClosed: () => isClosed, resume: () => socket.resume() };
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
    stalled.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
    );

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

  describe('replay within maxQueuedBytes', () => {
    it('answers a replay larger than maxQueuedBytes with one refresh, then goes live', async () => {
      registerStream(SlowFeedStream);
      server = await startServer({ maxQueuedBytes: 64 * KIB });
      const src = await server.sourceFor(new SlowFeedStream());
      for (let n = 0; n < 8; n++) await send(n, 16 * KIB);
      const position = server.turbo.broker.position();
      const client = await SseClient.open(src);
      clients.push(client);
      await client.waitForEvents(1);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(client.events).to.deep.equal([{ id: position, event: undefined, data: REFRESH }]);
      await send(8, 10);
      await client.waitForEvents(2);
      expect(numberOf(client.events[1])).to.equal(8);
      expect(server.turbo.connectionCount).to.equal(1);
    });

    it('replays in full what fits in maxQueuedBytes', async () => {
      registerStream(SlowFeedStream);
      server = await startServer({ maxQueuedBytes: 64 * KIB });
      const src = await server.sourceFor(new SlowFeedStream());
      for (let n = 0; n < 3; n++) await send(n, 16 * KIB);
      const client = await SseClient.open(src);
      clients.push(client);
      await client.waitForEvents(3);
      expect(client.events.map(numberOf)).to.deep.equal([0, 1, 2]);
    });

    it('holds no more than maxQueuedBytes per client that replays and never reads', async function () {
      this.timeout(10_000);
      const maxQueuedBytes = 256 * KIB;
      registerStream(SlowFeedStream);
      server = await startServer({ maxQueuedBytes, heartbeat: 50 });
      const src = await server.sourceFor(new SlowFeedStream());
      // 10 MiB of history, more than loopback buffers take, replayed by clients that never read.
      for (let n = 0; n < 100; n++) await send(n, 100 * KIB);
      for (let i = 0; i < 4; i++) openStalled(src, closers);
      await waitFor(() => server.turbo.connectionCount === 4, 2000, 'four connections');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(server.turbo.stats().backlogBytes).to.be.at.most(4 * maxQueuedBytes);
    });
  });

  it('drops a client once what its socket holds passes maxQueuedBytes', async function () {
    this.timeout(10_000);
    registerStream(SlowFeedStream);
    server = await startServer({ maxQueuedBytes: 256 * KIB, heartbeat: 20 });
    const src = await server.sourceFor(new SlowFeedStream());
    const stalled = openStalled(src, closers);
    await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the connection');

    // 20 MiB in one turn: one flush hands it all to the socket, past what loopback buffers take.
    await Promise.all(Array.from({ length: 80 }, (_, n) => send(n, 256 * KIB)));
    await waitFor(() => server.turbo.connectionCount === 0, 2000, 'the client to be dropped');
    // The end of the stream reaches the client behind what its kernel already holds.
    stalled.resume();
    await waitFor(() => stalled.isClosed(), 2000, 'the socket to be closed');
    expect(server.turbo.stats().backlogBytes).to.equal(0);
  });

  describe('stallTimeout', () => {
    it('drops a client whose socket stays congested longer, keeping the readers', async function () {
      this.timeout(10_000);
      registerStream(SlowFeedStream);
      server = await startServer({
        maxQueuedBytes: 64 * 1024 * KIB,
        heartbeat: 20,
        stallTimeout: 200,
      });
      const reader = await SseClient.open(await server.sourceFor(new SlowFeedStream('live')));
      clients.push(reader);
      const stalled = openStalled(await server.sourceFor(new SlowFeedStream()), closers);
      await waitFor(() => server.turbo.connectionCount === 2, 2000, 'two connections');

      const sentAt = Date.now();
      await Promise.all(Array.from({ length: 80 }, (_, n) => send(n, 256 * KIB)));
      await waitFor(
        () => server.turbo.connectionCount === 1,
        3000,
        'the stalled client to be dropped',
      );
      expect(Date.now() - sentAt).to.be.at.least(200);
      // The end of the stream reaches the client behind what its kernel already holds.
      stalled.resume();
      await waitFor(() => stalled.isClosed(), 2000, 'the socket to be closed');
      await send(80, 10, 'live');
      await reader.waitForEvents(1);
      expect(reader.events.map(numberOf)).to.deep.equal([80]);
      expect(reader.ended).to.equal(false);
    });

    it('keeps a client that stops reading for less than stallTimeout', async function () {
      this.timeout(10_000);
      registerStream(SlowFeedStream);
      server = await startServer({
        maxQueuedBytes: 64 * 1024 * KIB,
        heartbeat: 20,
        stallTimeout: 2000,
      });
      const src = await server.sourceFor(new SlowFeedStream());
      const pauser = await openPausable(src);
      closers.push(pauser.close);
      await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the connection');
      pauser.response.pause();
      await Promise.all(Array.from({ length: 80 }, (_, n) => send(n, 256 * KIB)));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(server.turbo.connectionCount).to.equal(1);
      pauser.response.resume();
      await waitFor(() => pauser.events.length === 80, 5000, '80 events');
      expect(server.turbo.connectionCount).to.equal(1);
    });
  });
});
