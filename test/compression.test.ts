import { expect } from 'chai';
import compression from 'compression';
import { registerStream, Stream } from '../lib';
import { SseClient } from './support/sse-client';
import { startBareServer, type BareServer } from './support/turbo-app';

class GzipFeedStream extends Stream {}

describe('behind compression() and proxies', () => {
  let bare: BareServer;
  const clients: SseClient[] = [];

  beforeEach(async () => {
    registerStream(GzipFeedStream);
    bare = await startBareServer({}, (app) => app.use(compression({ threshold: 0 })));
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await bare.turbo.close();
    bare.server.closeAllConnections();
    await new Promise((resolve) => bare.server.close(resolve));
  });

  it('delivers each event on its own while the stream stays open', async () => {
    const client = await SseClient.open(await bare.sourceFor(new GzipFeedStream()), {
      'accept-encoding': 'gzip, deflate, br',
    });
    clients.push(client);
    expect(client.status).to.equal(200);
    // no-transform keeps compression() from buffering the stream into gzip blocks.
    expect(client.headers['content-encoding']).to.equal(undefined);
    for (let n = 1; n <= 5; n++) {
      await new GzipFeedStream().update({ html: `<b>${n}</b>`, target: 'count' });
      await client.waitForEvents(n, 1000);
      expect(client.events).to.have.length(n);
      expect(client.ended).to.equal(false);
    }
    expect(client.data).to.deep.equal(
      [1, 2, 3, 4, 5].map(
        (n) =>
          `<turbo-stream action="update" target="count"><template><b>${n}</b></template></turbo-stream>`,
      ),
    );
  });

  it('tells proxies not to buffer or transform the stream', async () => {
    const client = await SseClient.open(await bare.sourceFor(new GzipFeedStream()));
    clients.push(client);
    expect(client.headers['x-accel-buffering']).to.equal('no');
    expect(client.headers['cache-control']).to.equal('no-cache, no-transform');
    expect(client.headers['content-type']).to.equal('text/event-stream; charset=utf-8');
  });
});
