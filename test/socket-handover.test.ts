import { expect } from 'chai';
import express from 'express';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { registerStream, Stream, turboStreams } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

class LobbyStream extends Stream {
  /** Whether anyone may subscribe; tests close it to take access away. */
  static open = true;

  override userPassesTest(): boolean {
    return LobbyStream.open;
  }
}

const LOBBY_FRAME =
  'data: <turbo-stream action="append" target="lobby"><template>hi</template></turbo-stream>';

/** A raw HTTP/1.1 client on one socket, collecting what the server sends. */
function rawSocket(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  const state = { received: '', closed: false };
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (state.received += chunk));
  socket.on('error', () => undefined);
  socket.on('close', () => (state.closed = true));
  return { socket, state };
}

function get(path: string, headers = ''): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n${headers}\r\n`;
}

/** The header block of the first response in what a raw socket received. */
function headBlock(received: string): string {
  return received.slice(0, received.indexOf('\r\n\r\n'));
}

describe('the socket of an open stream', () => {
  let server: TestServer;
  let requests: { req: http.IncomingMessage; res: http.ServerResponse }[];
  let streamPath: string;
  const clients: SseClient[] = [];
  const sockets: net.Socket[] = [];

  beforeEach(async () => {
    registerStream(LobbyStream);
    LobbyStream.open = true;
    server = await startServer({}, (app) => {
      app.get('/ping', (_req, res) => {
        res.type('text/plain').send('pong');
      });
      app.get('/slow', (_req, res) => {
        setTimeout(() => res.type('text/plain').send('slow'), 300);
      });
    });
    requests = [];
    server.server.on('request', (req, res) => requests.push({ req, res }));
    const src = new URL(await server.sourceFor(new LobbyStream()));
    streamPath = `${src.pathname}${src.search}`;
  });

  afterEach(async () => {
    LobbyStream.open = true;
    for (const client of clients.splice(0)) client.close();
    for (const socket of sockets.splice(0)) socket.destroy();
    await server.close();
  });

  function port(): number {
    return Number(new URL(server.url).port);
  }

  async function openRaw(headers = '') {
    const raw = rawSocket(port());
    sockets.push(raw.socket);
    raw.socket.write(get(streamPath, headers));
    await waitFor(() => raw.state.received.includes('retry:'), 2000, 'the stream to open');
    return raw;
  }

  it('is handed over: Node has finished the response, and the request no longer holds it', async () => {
    const client = await SseClient.open(`${server.url}${streamPath}`);
    clients.push(client);
    await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the stream');
    const { req, res } = requests.find(({ req }) => req.url === streamPath)!;
    await waitFor(() => res.writableFinished, 2000, 'Node to finish the response');
    expect(res.socket).to.equal(null);
    expect((req as { res?: unknown }).res).to.equal(undefined);
    expect(req.socket.timeout ?? 0).to.equal(0);
  });

  it("stays open past the server's keepAliveTimeout and keeps delivering", async () => {
    server.server.keepAliveTimeout = 100;
    const client = await SseClient.open(`${server.url}${streamPath}`);
    clients.push(client);
    await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the stream');
    await new Promise((resolve) => setTimeout(resolve, 400));
    await new LobbyStream().append({ target: 'lobby', html: 'hi' });
    const [event] = await client.waitForEvents(1);
    expect(event.data).to.equal(LOBBY_FRAME.slice('data: '.length));
    expect(server.turbo.connectionCount).to.equal(1);
  });

  it('ends with the last chunk and leaves the socket usable for the next request', async () => {
    const raw = await openRaw();
    await new LobbyStream().append({ target: 'lobby', html: 'hi' });
    await waitFor(() => raw.state.received.includes(LOBBY_FRAME), 2000, 'the message');
    await server.turbo.close();
    await waitFor(() => raw.state.received.endsWith('\r\n0\r\n\r\n'), 2000, 'the last chunk');
    expect(raw.state.closed).to.equal(false);
    const before = raw.state.received.length;
    raw.socket.write(get('/ping'));
    await waitFor(() => raw.state.received.endsWith('pong'), 2000, 'the next answer');
    expect(raw.state.received.slice(before)).to.match(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\npong$/);
  });

  it('is closed when the client sends another request on it, which gets no answer', async () => {
    const raw = await openRaw();
    const before = raw.state.received.length;
    raw.socket.write(get('/ping'));
    await waitFor(() => raw.state.closed, 2000, 'the socket to close');
    await waitFor(() => server.turbo.connectionCount === 0, 2000, 'the stream to be forgotten');
    expect(raw.state.received.slice(before)).to.equal('');
  });

  it('lets server.close() finish on its own, ending every open stream', async () => {
    const client = await SseClient.open(`${server.url}${streamPath}`);
    clients.push(client);
    await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the stream');
    await new Promise<void>((resolve, reject) =>
      server.server.close((error) => (error ? reject(error) : resolve())),
    );
    await client.waitForEnd();
    await waitFor(() => server.turbo.connectionCount === 0, 2000, 'the stream to be forgotten');
    expect(server.turbo.stats()).to.include({ connections: 0, streams: 0 });
  });

  it('honours a client that asks to close: Node answers Connection: close and closes at the end', async () => {
    const raw = await openRaw('Connection: close\r\n');
    expect(headBlock(raw.state.received)).to.match(/\r\nConnection: close(\r\n|$)/);
    await new LobbyStream().append({ target: 'lobby', html: 'hi' });
    await waitFor(() => raw.state.received.includes(LOBBY_FRAME), 2000, 'the message');
    await server.turbo.close();
    await waitFor(() => raw.state.closed, 2000, 'the server to close the socket');
    expect(raw.state.received.endsWith('\r\n0\r\n\r\n')).to.equal(true);
  });

  it('tells the client to close a socket that reached maxRequestsPerSocket', async () => {
    server.server.maxRequestsPerSocket = 1;
    const raw = await openRaw();
    expect(headBlock(raw.state.received)).to.match(/\r\nConnection: close(\r\n|$)/);
    expect(headBlock(raw.state.received)).not.to.include('keep-alive');
    await server.turbo.close();
    await waitFor(() => raw.state.received.endsWith('\r\n0\r\n\r\n'), 2000, 'the last chunk');
  });

  it('answers 503 on close() to a subscription waiting behind another response on its socket', async () => {
    const raw = rawSocket(port());
    sockets.push(raw.socket);
    raw.socket.write(get('/slow') + get(streamPath));
    await waitFor(() => server.turbo.stats().pendingSubscriptions === 1, 2000, 'the wait');
    await server.turbo.close();
    const closed = new Promise<void>((resolve) => server.server.close(() => resolve()));
    await waitFor(() => raw.state.received.includes('503'), 2000, 'the 503');
    await closed;
    expect(raw.state.received).to.match(/^HTTP\/1\.1 200 OK[\s\S]*slowHTTP\/1\.1 503 /);
    expect(raw.state.received).not.to.include('text/event-stream');
    expect(server.turbo.stats()).to.include({ connections: 0, pendingSubscriptions: 0 });
    expect(server.turbo.stats().hasTimers).to.equal(false);
  });

  it('sends the 503 of a subscription waiting behind a stream before close() resolves', async () => {
    const raw = rawSocket(port());
    sockets.push(raw.socket);
    raw.socket.write(get(streamPath) + get(streamPath));
    await waitFor(() => server.turbo.connectionCount === 1, 2000, 'the first stream');
    await waitFor(() => server.turbo.stats().pendingSubscriptions === 1, 2000, 'the wait');
    await server.turbo.close();
    await new Promise<void>((resolve) => server.server.close(() => resolve()));
    await waitFor(() => raw.state.closed, 2000, 'the socket to close');
    expect(raw.state.received).to.match(/\r\n0\r\n\r\nHTTP\/1\.1 503 [\s\S]*Service Unavailable$/);
  });

  it('closes a connection that pipelines a second subscription behind a response', async () => {
    const raw = rawSocket(port());
    sockets.push(raw.socket);
    raw.socket.write(get('/slow') + get(streamPath).repeat(12));
    await waitFor(() => raw.state.closed, 2000, 'the connection to close');
    await waitFor(() => server.turbo.stats().pendingSubscriptions === 0, 2000, 'the wait to end');
    expect(raw.state.received).to.equal('');
    expect(server.turbo.stats()).to.include({ connections: 0, streams: 0 });
  });

  it('checks a pipelined subscription when its turn comes, with the access of that time', async () => {
    const raw = rawSocket(port());
    sockets.push(raw.socket);
    raw.socket.write(get('/slow') + get(streamPath));
    await waitFor(() => server.turbo.stats().pendingSubscriptions === 1, 2000, 'the wait');
    LobbyStream.open = false; // Access is lost while the subscription waits for its socket.
    await waitFor(() => /HTTP\/1\.1 403/.test(raw.state.received), 2000, 'the answer');
    expect(raw.state.received).to.match(/^HTTP\/1\.1 200 OK[\s\S]*slow/);
    expect(raw.state.received).not.to.include('retry:');
    expect(server.turbo.stats()).to.include({ connections: 0, pendingSubscriptions: 0 });
  });
});

describe('the socket of an open stream, with a route mounted before turboStreams()', () => {
  it('is closed before any route can answer into the stream', async () => {
    registerStream(LobbyStream);
    const turbo = turboStreams({ secret: 'test-secret', discover: null, heartbeat: null });
    const app = express();
    app.get('/health', (_req, res) => {
      res.send('ok');
    });
    app.use(turbo);
    app.get('/source', (_req, res) => {
      res.type('text/plain').send(res.locals.turboStreamFrom(new LobbyStream()));
    });
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const tag = await (await fetch(`http://127.0.0.1:${port}/source`)).text();
      const path = /src="([^"]+)"/.exec(tag)![1].replace(/&amp;/g, '&');
      const raw = rawSocket(port);
      raw.socket.write(get(path));
      await waitFor(() => raw.state.received.includes('retry:'), 2000, 'the stream to open');
      const before = raw.state.received.length;
      raw.socket.write(get('/health'));
      await waitFor(() => raw.state.closed, 2000, 'the socket to close');
      expect(raw.state.received.slice(before)).to.equal('');
    } finally {
      await turbo.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
