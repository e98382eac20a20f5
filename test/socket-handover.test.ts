import { expect } from 'chai';
import type http from 'node:http';
import net from 'node:net';
import { registerStream, Stream } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

class LobbyStream extends Stream {}

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

function get(path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`;
}

describe('the socket of an open stream', () => {
  let server: TestServer;
  let requests: { req: http.IncomingMessage; res: http.ServerResponse }[];
  let streamPath: string;
  const clients: SseClient[] = [];
  const sockets: net.Socket[] = [];

  beforeEach(async () => {
    registerStream(LobbyStream);
    server = await startServer({}, (app) => {
      app.get('/ping', (_req, res) => {
        res.type('text/plain').send('pong');
      });
    });
    requests = [];
    server.server.on('request', (req, res) => requests.push({ req, res }));
    const src = new URL(await server.sourceFor(new LobbyStream()));
    streamPath = `${src.pathname}${src.search}`;
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const socket of sockets.splice(0)) socket.destroy();
    await server.close();
  });

  function port(): number {
    return Number(new URL(server.url).port);
  }

  async function openRaw() {
    const raw = rawSocket(port());
    sockets.push(raw.socket);
    raw.socket.write(get(streamPath));
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
});
