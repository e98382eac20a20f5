/**
 * The ceiling: hand-written node:http fan-out. One Buffer is encoded per broadcast and the same
 * Buffer is written to every open response.
 */
import http from 'node:http';
import { buildHtml, isBroadcastRequest } from '../payload';
import type { BenchServer } from './contract';
import { BROADCAST_PATH, EVENTS_PATH } from './contract';
import { readJson } from './read-json';

export async function createBenchServer(): Promise<BenchServer> {
  const clients = new Set<http.ServerResponse>();
  let lastId = 0;

  function subscribe(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.socket.setNoDelay(true); // same as better-sse, so latency is not Nagle-bound
    // The same headers turbo-express sends, so both hold and send the same header block.
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    clients.add(res);
    res.once('close', () => clients.delete(res));
  }

  function broadcast(html: string): void {
    const frame = Buffer.from(`id: ${++lastId}\ndata: ${html}\n\n`);
    for (const res of clients) res.write(frame);
  }

  async function onBroadcast(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readJson(req);
    if (!isBroadcastRequest(body)) {
      res.writeHead(400).end();
      return;
    }
    for (let i = 0; i < (body.count ?? 1); i++) {
      broadcast(buildHtml({ ...body, seq: body.seq + i }));
    }
    res.writeHead(204).end();
  }

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url === EVENTS_PATH) return subscribe(req, res);
    if (req.method === 'POST' && req.url === BROADCAST_PATH) {
      onBroadcast(req, res).catch(() => res.writeHead(500).end());
      return;
    }
    res.writeHead(404).end();
  });

  return {
    server,
    renderCount: () => null,
    subscriberCount: () => clients.size,
    close: async () => clients.clear(),
  };
}
