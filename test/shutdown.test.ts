import { expect } from 'chai';
import { registerStream, Stream } from '../lib';
import { SseClient } from './support/sse-client';
import { startBareServer, type BareServer } from './support/turbo-app';
import { waitFor } from './support/wait';

class ShutdownStream extends Stream {}

describe('shutdown', () => {
  let bare: BareServer;
  const clients: SseClient[] = [];

  beforeEach(async () => {
    registerStream(ShutdownStream);
    bare = await startBareServer({ heartbeat: 1000, recheckInterval: 1000 });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await bare.turbo.close();
    if (bare.server.listening) {
      bare.server.closeAllConnections();
      await new Promise((resolve) => bare.server.close(resolve));
    }
  });

  it('lets server.close() finish within 1 s once close() ended every stream', async () => {
    for (const key of ['a', 'a', 'b']) {
      clients.push(await SseClient.open(await bare.sourceFor(new ShutdownStream(key))));
    }
    expect(bare.turbo.stats()).to.include({ connections: 3, streams: 2, hasTimers: true });

    await bare.turbo.close();
    const started = Date.now();
    const closed = new Promise<void>((resolve, reject) => {
      bare.server.close((error) => (error ? reject(error) : resolve()));
    });
    const deadline = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error('server.close() still waiting after 1000 ms')),
        1000,
      ).unref(),
    );
    await Promise.race([closed, deadline]);

    expect(Date.now() - started).to.be.below(1000);
    for (const client of clients) await client.waitForEnd(1000);
    expect(bare.turbo.stats()).to.deep.equal({
      connections: 0,
      pendingSubscriptions: 0,
      streams: 0,
      backlogBytes: 0,
      hasTimers: false,
    });
  });

  it('answers 503 to subscriptions still being checked at close(), so server.close() finishes', async () => {
    let checks = 0;
    class StalledShutdownStream extends Stream {
      override userPassesTest(): Promise<boolean> {
        checks += 1;
        return new Promise<boolean>(() => undefined);
      }
    }
    registerStream(StalledShutdownStream);
    const src = await bare.sourceFor(new StalledShutdownStream());
    const answers = Array.from({ length: 20 }, () => SseClient.open(src));
    await waitFor(() => checks === 20, 2000, 'twenty checks to start');
    expect(bare.turbo.stats().pendingSubscriptions).to.equal(20);

    await bare.turbo.close();
    const pending = await Promise.all(answers);
    clients.push(...pending);
    expect(pending.map((client) => [client.status, client.body])).to.deep.equal(
      Array.from({ length: 20 }, () => [503, 'Service Unavailable']),
    );
    const closed = new Promise<void>((resolve, reject) => {
      bare.server.close((error) => (error ? reject(error) : resolve()));
    });
    const deadline = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error('server.close() still waiting after 1000 ms')),
        1000,
      ).unref(),
    );
    await Promise.race([closed, deadline]);
    expect(bare.turbo.stats().pendingSubscriptions).to.equal(0);
  });

  it('answers 503 to a subscription after close()', async () => {
    const src = await bare.sourceFor(new ShutdownStream('a'));
    await bare.turbo.close();
    const client = await SseClient.open(src);
    clients.push(client);
    expect(client.status).to.equal(503);
    expect(bare.turbo.connectionCount).to.equal(0);
  });

  it('does nothing on a second close()', async () => {
    await bare.turbo.close();
    await bare.turbo.close();
    expect(bare.turbo.stats().hasTimers).to.equal(false);
  });
});
