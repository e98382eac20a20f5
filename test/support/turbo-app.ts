import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { turboStreams, type TurboStreamsMiddleware, type TurboStreamsOptions } from '../../lib';

/** An app whose middleware order the test chooses, on 127.0.0.1 port 0, closed gracefully. */
export interface BareServer {
  url: string;
  server: http.Server;
  turbo: TurboStreamsMiddleware;
  /** The absolute `src` of the tag `turboStreamFrom(source)` writes. */
  sourceFor(source: Parameters<express.Locals['turboStreamFrom']>[0]): Promise<string>;
}

export async function startBareServer(
  options: TurboStreamsOptions = {},
  before: (app: express.Express) => void = () => undefined,
): Promise<BareServer> {
  const app = express();
  before(app);
  const turbo = turboStreams({
    secret: 'test-secret',
    views: path.join(__dirname, '..', 'fixtures', 'views'),
    discover: null,
    heartbeat: null,
    recheckInterval: null,
    ...options,
  });
  app.use(turbo);
  let pending: Parameters<express.Locals['turboStreamFrom']>[0] | undefined;
  app.get('/source', (_req, res) => {
    res.type('text/plain').send(res.locals.turboStreamFrom(pending!));
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    server,
    turbo,
    async sourceFor(source) {
      pending = source;
      const tag = await (await fetch(`${url}/source`)).text();
      return `${url}${/src="([^"]+)"/.exec(tag)![1].replace(/&amp;/g, '&')}`;
    },
  };
}
