import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Request, Response } from 'express';

/** A bare HTTP server on 127.0.0.1 port 0 that hands each request to `onRequest`. */
export async function startRawServer(
  onRequest: (req: Request, res: Response) => void,
): Promise<{ url: string; server: http.Server; close(): Promise<void> }> {
  const server = http.createServer((req, res) => onRequest(req as Request, res as Response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
