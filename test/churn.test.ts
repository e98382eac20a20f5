import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import { registerStream, Stream } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

class ChurnStream extends Stream {}

describe('churn', () => {
  let server: TestServer;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);

  beforeEach(async () => {
    warnings.length = 0;
    process.on('warning', onWarning);
    registerStream(ChurnStream);
    server = await startServer({ heartbeat: 1000, recheckInterval: 1000 });
  });

  afterEach(async () => {
    process.off('warning', onWarning);
    await server.close();
  });

  it('forgets a subscription pipelined behind another on one socket when the socket closes', async () => {
    const url = new URL(await server.sourceFor(new ChurnStream('pipelined')));
    const get = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
    const sockets = Array.from({ length: 20 }, () => {
      const socket = net.connect(Number(url.port), '127.0.0.1');
      socket.on('error', () => undefined);
      socket.write(get + get);
      return socket;
    });
    await waitFor(
      () => server.turbo.connectionCount === 20,
      5000,
      'the first stream of each socket',
    );
    for (const socket of sockets) socket.destroy();
    await waitFor(() => server.turbo.connectionCount === 0, 5000, 'every stream to be forgotten');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.turbo.stats()).to.include({
      connections: 0,
      pendingSubscriptions: 0,
      streams: 0,
    });
  });

  it('leaves no connection, stream, timer or listener warning after 1,000 opened and aborted', async function () {
    this.timeout(30_000);
    const sources = await Promise.all(
      ['a', 'b', 'c', 'd'].map((key) => server.sourceFor(new ChurnStream(key))),
    );
    const agent = new http.Agent({ keepAlive: false, maxSockets: 50 });
    let opened = 0;
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const src = sources[(batch + i) % sources.length];
          if (i % 5 === 0) {
            // Aborted before the server answers.
            const request = http.get(src, { agent });
            request.on('error', () => undefined);
            setImmediate(() => request.destroy());
            return;
          }
          const client = await SseClient.open(src, {});
          opened += client.status === 200 ? 1 : 0;
          client.close();
        }),
      );
      await new ChurnStream('a').append({ html: 'x', target: 't' });
    }
    agent.destroy();

    expect(opened).to.equal(800);
    await waitFor(
      () => server.turbo.connectionCount === 0,
      5000,
      'every connection to be forgotten',
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(server.turbo.stats()).to.deep.equal({
      connections: 0,
      pendingSubscriptions: 0,
      streams: 0,
      backlogBytes: 0,
      hasTimers: false,
    });
    expect(warnings.map((w) => `${w.name}: ${w.message}`)).to.deep.equal([]);
  });
});
