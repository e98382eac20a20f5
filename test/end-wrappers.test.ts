import { expect } from 'chai';
import type { Response } from 'express';
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

/**
 * A middleware that stamps a header from a wrapped `res.end()`: fine for ordinary routes, but it
 * throws ERR_HTTP_HEADERS_SENT when `res.end()` is called after the headers are out.
 */
function stampOnEnd(_req: unknown, res: Response, next: () => void): void {
  const end = res.end;
  res.end = function stampedEnd(this: Response, ...args: unknown[]) {
    res.setHeader('X-Stamped', '1');
    return (end as (...a: unknown[]) => Response).apply(this, args);
  } as Response['end'];
  next();
}

describe('a middleware whose res.end() throws once the headers are out', () => {
  let server: BareServer;
  const clients: SseClient[] = [];

  beforeEach(() => {
    allowed.clear();
    registerStream(StampedStream);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.turbo.close();
    server.server.closeAllConnections();
    await new Promise((resolve) => server.server.close(resolve));
  });

  async function start(options: TurboStreamsOptions = {}): Promise<void> {
    server = await startBareServer(
      { currentUser: (req) => req.get('x-user'), ...options },
      (app) => {
        app.use(stampOnEnd);
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

  it('leaves the stream with Node, which delivers every message', async () => {
    await start();
    allowed.add('alice');
    const alice = await open('alice');
    expect(alice.status).to.equal(200);
    await new StampedStream().append({ target: 'board', html: 'one' });
    await new StampedStream().append({ target: 'board', html: 'two' });
    await alice.waitForEvents(2);
    expect(alice.data).to.deep.equal([
      '<turbo-stream action="append" target="board"><template>one</template></turbo-stream>',
      '<turbo-stream action="append" target="board"><template>two</template></turbo-stream>',
    ]);
    expect(server.turbo.stats()).to.include({ connections: 1, streams: 1 });
  });

  it('closes the socket of a stream a re-check ends, and the process goes on', async () => {
    await start({ recheckInterval: 40 });
    allowed.add('alice').add('bob');
    const alice = await open('alice');
    const bob = await open('bob');
    allowed.delete('alice');
    await alice.waitForEnd(1000);
    await waitFor(() => server.turbo.connectionCount === 1, 1000, 'one stream left');
    await new StampedStream().append({ target: 'board', html: 'after' });
    await bob.waitForEvents(1);
    expect(bob.data).to.deep.equal([
      '<turbo-stream action="append" target="board"><template>after</template></turbo-stream>',
    ]);
    expect(alice.events).to.have.length(0);
  });

  it('counts no stream once its clients left, and close() ends the others', async () => {
    await start();
    allowed.add('alice');
    const gone = await Promise.all([open('alice'), open('alice'), open('alice')]);
    const staying = await open('alice');
    for (const client of gone) client.close();
    await waitFor(() => server.turbo.connectionCount === 1, 1000, 'the closed streams to go');
    await server.turbo.close();
    await staying.waitForEnd(1000);
    expect(server.turbo.stats()).to.include({ connections: 0, streams: 0 });
  });
});
