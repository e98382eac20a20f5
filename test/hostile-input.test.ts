import { expect } from 'chai';
import crypto from 'node:crypto';
import http from 'node:http';
import { registerStream, Stream } from '../lib';
import { StreamNameSigner } from '../lib/stream-name';
import { startServer, type TestServer } from './support/chat-app';
import { settle, SseClient } from './support/sse-client';

class GuestbookStream extends Stream {}

const HOSTILE =
  '<script>alert(1)</script></template><turbo-stream action="remove" target="x">\nid: 99\ndata: x\r\nevent: y\rz';

/** GET on a raw path, reporting only the status: some paths are too long for SseClient's URL. */
function statusOf(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${url}${path}`, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', reject);
  });
}

describe('hostile input', () => {
  let server: TestServer;
  const clients: SseClient[] = [];

  beforeEach(async () => {
    registerStream(GuestbookStream);
    server = await startServer();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  async function open(src: string): Promise<SseClient> {
    const client = await SseClient.open(src);
    clients.push(client);
    return client;
  }

  describe('stream names', () => {
    const payload = Buffer.from('["GuestbookStream"]').toString('base64url');
    const cases: [string, () => string][] = [
      ['guessed', () => `${payload}.${crypto.randomBytes(32).toString('base64url')}`],
      ['unsigned', () => payload],
      ['signed with another secret', () => new StreamNameSigner('other').sign('GuestbookStream')],
      [
        'expired',
        () =>
          new StreamNameSigner('test-secret').sign('GuestbookStream', {
            ttl: 1,
            now: Date.now() - 10,
          }),
      ],
      ['10 KB long', () => 'a'.repeat(10 * 1024)],
      [
        'an HMAC of the name with the right secret but not made for a stream name',
        () =>
          `${payload}.${crypto.createHmac('sha256', 'test-secret').update(payload).digest('base64url')}`,
      ],
    ];
    for (const [what, token] of cases) {
      it(`answers 403 for a stream name that is ${what}, opening no stream`, async () => {
        expect(await statusOf(server.url, `/turbo-streams/${token()}`)).to.equal(403);
        expect(server.turbo.connectionCount).to.equal(0);
      });
    }

    it("leaves a 100 KB path to Node's parser (431) and keeps serving", async () => {
      expect(await statusOf(server.url, `/turbo-streams/${'a'.repeat(100 * 1024)}`)).to.equal(431);
      const client = await open(await server.sourceFor(new GuestbookStream()));
      expect(client.status).to.equal(200);
    });
  });

  describe('content', () => {
    it('shows markup and SSE-looking lines from a Pug partial as text, in one event', async () => {
      const client = await open(await server.sourceFor(new GuestbookStream()));
      await new GuestbookStream().append(
        'chat/message',
        { message: { id: 7, body: HOSTILE } },
        { target: 'messages' },
      );
      await client.waitForEvents(1);
      await settle(50);
      expect(client.events).to.deep.equal([
        {
          id: server.turbo.broker.position(),
          event: undefined,
          data:
            '<turbo-stream action="append" target="messages"><template><div id="message-7"><p>' +
            '&lt;script&gt;alert(1)&lt;/script&gt;&lt;/template&gt;&lt;turbo-stream action=&quot;remove&quot; target=&quot;x&quot;&gt;' +
            '\nid: 99\ndata: x\nevent: y\nz</p></div></template></turbo-stream>',
        },
      ]);
      expect(client.raw).to.not.match(/^id: 99$/m);
      expect(client.raw).to.not.match(/^event:/m);
    });

    it('escapes quotes in a target taken from user input', async () => {
      const client = await open(await server.sourceFor(new GuestbookStream()));
      await new GuestbookStream().remove({ target: 'a" onclick="steal()' });
      await client.waitForEvents(1);
      expect(client.data).to.deep.equal([
        '<turbo-stream action="remove" target="a&quot; onclick=&quot;steal()"></turbo-stream>',
      ]);
    });

    it('keeps framing whole when a stream key comes from user input', async () => {
      const key = 'x\n\nid: 1\ndata: forged\r\n\r\n';
      const client = await open(await server.sourceFor(new GuestbookStream(key)));
      const bystander = await open(await server.sourceFor(new GuestbookStream('x')));
      await new GuestbookStream(key).remove({ target: 'entry-1' });
      await client.waitForEvents(1);
      await settle(50);
      expect(client.events).to.deep.equal([
        {
          id: server.turbo.broker.position(),
          event: undefined,
          data: '<turbo-stream action="remove" target="entry-1"></turbo-stream>',
        },
      ]);
      expect(bystander.events).to.deep.equal([]);
    });
  });
});
