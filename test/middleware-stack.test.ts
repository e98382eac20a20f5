import { expect } from 'chai';
import { Stream } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { SseClient } from './support/sse-client';

class NewsStream extends Stream {}

describe('several turboStreams() in one process', () => {
  const servers: TestServer[] = [];
  const clients: SseClient[] = [];
  const warnings: string[] = [];
  const warn = console.warn;

  beforeEach(() => {
    warnings.length = 0;
    console.warn = (message: string) => warnings.push(message);
  });

  afterEach(async () => {
    console.warn = warn;
    for (const client of clients.splice(0)) client.close();
    for (const server of servers.splice(0)) await server.close();
  });

  it('warns, sends through the newest, and gives the older one back its broadcasts when the newest closes', async () => {
    const first = await startServer();
    servers.push(first);
    const before = await SseClient.open(await first.sourceFor(new NewsStream()));
    clients.push(before);
    const second = await startServer();
    servers.push(second);
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.match(
      /^turbo-express: a second turboStreams\(\) was created while another is open/,
    );

    await second.close();
    await new NewsStream().update({ target: 'headline', html: 'back' });
    await before.waitForEvents(1);
    expect(before.data).to.deep.equal([
      '<turbo-stream action="update" target="headline"><template>back</template></turbo-stream>',
    ]);
  });
});
