/**
 * better-sse alone, for reference: Express 5 + better-sse, one channel, `channel.broadcast` of an
 * HTML string built in the POST handler. No database and no template: its fixed cost per
 * broadcast is the fan-out's alone, which no app that saves what it broadcasts gets. Heartbeats
 * and the initial `retry:` line are off; the serializer passes HTML through unquoted (the default
 * JSON.stringify would break Turbo Stream HTML).
 */
import http from 'node:http';
import express from 'express';
import { createChannel, createSession } from 'better-sse';
import { buildHtml, isBroadcastRequest } from '../payload';
import type { BenchServer } from './contract';
import { BROADCAST_PATH, EVENTS_PATH } from './contract';

export async function createBenchServer(): Promise<BenchServer> {
  const channel = createChannel();
  let lastId = 0;
  const app = express();

  app.get(EVENTS_PATH, async (req, res) => {
    const session = await createSession(req, res, {
      keepAlive: null,
      retry: null,
      serializer: (data) => String(data),
    });
    channel.register(session);
  });

  app.post(BROADCAST_PATH, express.json(), (req, res) => {
    if (!isBroadcastRequest(req.body)) {
      res.sendStatus(400);
      return;
    }
    const body = req.body;
    for (let i = 0; i < (body.count ?? 1); i++) {
      const html = buildHtml({ ...body, seq: body.seq + i });
      channel.broadcast(html, 'message', { eventId: String(++lastId) });
    }
    res.sendStatus(204);
  });

  return {
    server: http.createServer(app),
    renderCount: () => null,
    subscriberCount: () => channel.sessionCount,
    close: async () => {},
  };
}
