import { expect } from 'chai';
import compression from 'compression';
import type { NextFunction, Request, Response } from 'express';
import net from 'node:net';
import { registerStream, Stream, type TurboStreamsOptions } from '../lib';
import { SseClient } from './support/sse-client';
import { startBareServer, type BareServer } from './support/turbo-app';
import { waitFor } from './support/wait';

/** Users allowed on the stream; a re-check ends the stream of one taken out. */
const allowed = new Set<string>();

class StampedStream extends Stream {
  override userPassesTest(user: unknown): boolean {
    return allowed.has(user as string);
  }
}

type End = (this: Response, ...args: unknown[]) => Response;
type Wrap = (end: End, res: Response) => End;

/** Middleware that replaces `res.end` with what `wrap` makes of it, as apps' middleware does. */
function wrapEnd(wrap: Wrap) {
  return function wrapper(_req: Request, res: Response, next: NextFunction): void {
    res.end = wrap(res.end as unknown as End, res) as unknown as Response['end'];
    next();
  };
}

/** Wrappers of `res.end()` that are fine for a route answering at once, not once headers are out. */
const WRAPPERS: Record<string, Wrap> = {
  'stamps a header first, which throws': (end, res) =>
    function (...args) {
      res.setHeader('X-Stamped', '1');
      return end.apply(this, args);
    },
  'ends later, then throws': (end) =>
    function (...args) {
      setTimeout(() => end.apply(this, args), 20);
      throw new TypeError('no Content-Length to log');
    },
  'never ends': () =>
    function (this: Response) {
      return this;
    },
  'adds a body': (end) =>
    function (...args) {
      return args.length === 0 ? end.call(this, '<!-- served -->') : end.apply(this, args);
    },
};

const frame = (html: string) =>
  `data: <turbo-stream action="append" target="board"><template>${html}</template></turbo-stream>`;

describe('a middleware that wraps res.end()', () => {
  let server: BareServer;
  const clients: SseClient[] = [];
  const sockets: net.Socket[] = [];

  beforeEach(() => {
    allowed.clear();
    registerStream(StampedStream);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    for (const socket of sockets.splice(0)) socket.destroy();
    await server.turbo.close();
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));
  });

  async function start(wrap: Wrap, options: TurboStreamsOptions = {}, gzip = false) {
    server = await startBareServer(
      { currentUser: (req) => req.get('x-user'), ...options },
      (app) => {
        if (gzip) app.use(compression());
        // On the stream path only: these wrappers would break the app's own routes too.
        app.use('/turbo-streams', wrapEnd(wrap));
        app.get('/ping', (_req, res) => {
          res.type('text/plain').send('pong');
        });
      },
    );
  }

  async function open(user: string): Promise<SseClient> {
    const client = await SseClient.open(await server.sourceFor(new StampedStream()), {
      'x-user': user,
    });
    clients.push(client);
    return client;
  }

  for (const [shape, wrap] of Object.entries(WRAPPERS)) {
    it(`that ${shape}: the stream is handed over without it, and ends leaving its socket reusable`, async () => {
      await start(wrap);
      allowed.add('alice');
      const src = new URL(await server.sourceFor(new StampedStream()));
      const socket = net.connect(Number(src.port), '127.0.0.1');
      sockets.push(socket);
      let received = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (received += chunk));
      socket.write(
        `GET ${src.pathname}${src.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User: alice\r\n\r\n`,
      );
      await waitFor(() => received.includes('retry:'), 2000, 'the stream to open');
      await new StampedStream().append({ target: 'board', html: 'one' });
      await new StampedStream().append({ target: 'board', html: 'two' });
      await waitFor(() => received.includes(frame('two')), 2000, 'both messages');
      await server.turbo.close();
      await waitFor(() => received.endsWith('\r\n0\r\n\r\n'), 2000, 'the last chunk');
      expect(received.split(frame('one')).length - 1).to.equal(1);
      expect(received.split(frame('two')).length - 1).to.equal(1);
      expect(received).to.not.include('served');

      const before = received.length;
      socket.write('GET /ping HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      await waitFor(() => received.endsWith('pong'), 2000, 'the next answer on the socket');
      expect(received.slice(before)).to.match(/^HTTP\/1\.1 200 OK\r\n/);
    });
  }

  it('ends the stream a re-check fails without disturbing the process or the other streams', async () => {
    await start(WRAPPERS['stamps a header first, which throws'], { recheckInterval: 40 });
    allowed.add('alice').add('bob');
    const alice = await open('alice');
    const bob = await open('bob');
    allowed.delete('alice');
    await alice.waitForEnd(1000);
    await waitFor(() => server.turbo.connectionCount === 1, 1000, 'one stream left');
    await new StampedStream().append({ target: 'board', html: 'after' });
    await bob.waitForEvents(1);
    expect(bob.data).to.deep.equal([frame('after').slice('data: '.length)]);
    expect(alice.events).to.have.length(0);
  });

  describe('under compression(), where the response stays with Node', () => {
    it('closes the socket of a stream whose res.end() throws, when the stream ends', async () => {
      await start(WRAPPERS['stamps a header first, which throws'], {}, true);
      allowed.add('alice');
      const alice = await open('alice');
      await new StampedStream().append({ target: 'board', html: 'one' });
      await alice.waitForEvents(1);
      await server.turbo.close();
      await alice.waitForEnd(1000);
      expect(alice.data).to.deep.equal([frame('one').slice('data: '.length)]);
      expect(server.turbo.stats()).to.include({ connections: 0, streams: 0 });
    });

    it('closes the socket of a stream whose res.end() never ends it, within a second', async () => {
      await start(WRAPPERS['never ends'], {}, true);
      allowed.add('alice');
      const alice = await open('alice');
      const closedAt = Date.now();
      await server.turbo.close();
      await alice.waitForEnd(2000);
      expect(Date.now() - closedAt).to.be.within(900, 1900);
      expect(server.turbo.stats()).to.include({ connections: 0, streams: 0 });
    });
  });
});
