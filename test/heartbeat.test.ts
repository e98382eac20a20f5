import { expect } from 'chai';
import { ErrorCodes, registerStream, Stream, turboStreams } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { settle, SseClient } from './support/sse-client';

class IdleStream extends Stream {}

describe('heartbeats', () => {
  let server: TestServer;
  const clients: SseClient[] = [];

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server?.close();
  });

  async function openIdle(heartbeat: number | null): Promise<SseClient> {
    registerStream(IdleStream);
    server = await startServer({ heartbeat });
    const client = await SseClient.open(await server.sourceFor(new IdleStream()));
    clients.push(client);
    return client;
  }

  it('sends comment lines on an idle stream, never events', async () => {
    const client = await openIdle(25);
    await client.waitUntil(() => client.comments.length >= 3, 2000, 'three heartbeats');
    expect(client.events).to.deep.equal([]);
    expect(client.raw).to.match(/^retry: 2000\n\n(:\n\n){3,}$/);
  });

  it('sends none with heartbeat: null', async () => {
    const client = await openIdle(null);
    await settle(150);
    expect(client.raw).to.equal('retry: 2000\n\n');
  });

  for (const name of ['heartbeat', 'recheckInterval', 'tokenTtl']) {
    for (const value of [0, -1, Number.NaN, 2 ** 31, '1000']) {
      it(`refuses ${name}: ${typeof value === 'string' ? JSON.stringify(value) : String(value)} when the middleware is built`, () => {
        expect(() => turboStreams({ secret: 's', discover: null, [name]: value }))
          .to.throw(`"${name}" must be a number of milliseconds from 1 to 2147483647, or null`)
          .with.property('code', ErrorCodes.INVALID_OPTION);
      });
    }
  }

  it('refuses maxQueuedBytes: 0 and a negative history size', () => {
    expect(() => turboStreams({ secret: 's', discover: null, maxQueuedBytes: 0 })).to.throw(
      '"maxQueuedBytes" must be a whole number of at least 1',
    );
    expect(() => turboStreams({ secret: 's', discover: null, history: { size: -1 } })).to.throw(
      '"history.size" must be a whole number of at least 0',
    );
  });
});
