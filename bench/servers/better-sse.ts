/**
 * The peer most users would pick, on the same product path as turbo-express: an Express 5 app
 * with Sequelize and Pug that broadcasts with better-sse. POST /broadcast -> `Message.create()`
 * on SQLite -> an after-commit hook -> the same Pug partial, rendered once and wrapped in the
 * same `<turbo-stream>` element -> `channel.broadcast` to the room's channel.
 *
 * GET /events loads the room (`Room.findByPk`) before opening the session, as an app checking
 * that the room exists would; it signs and checks nothing else. Heartbeats and the initial
 * `retry:` line are off; the serializer passes HTML through unquoted (the default
 * JSON.stringify would break Turbo Stream HTML).
 */
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import pug from 'pug';
import type { Transaction } from 'sequelize';
import { createChannel, createSession, type Channel } from 'better-sse';
import { Message, postMessages, Room, setupDatabase } from './chat-db';
import type { BenchServer } from './contract';
import { BROADCAST_PATH, EVENTS_PATH } from './contract';

let renders = 0;
function countRender(): void {
  renders += 1;
}

export async function createBenchServer(): Promise<BenchServer> {
  const partial = pug.compileFile(path.join(__dirname, '..', 'views', 'bench', 'message.pug'));
  const channels = new Map<number, Channel>();
  let lastId = 0;

  function channelOf(roomId: number): Channel {
    let channel = channels.get(roomId);
    if (channel === undefined) {
      channel = createChannel();
      channels.set(roomId, channel);
    }
    return channel;
  }

  function broadcast(message: Message): void {
    const html = partial({ message, countRender });
    const stream =
      `<turbo-stream action="append" target="messages">` +
      `<template>${html}</template></turbo-stream>`;
    channelOf(message.roomId).broadcast(stream, 'message', { eventId: String(++lastId) });
  }

  /** Broadcasts once the write's transaction commits, or at once without one. */
  function afterCommit(
    messages: readonly Message[],
    transaction: Transaction | null | undefined,
  ): void {
    const send = () => messages.forEach(broadcast);
    if (transaction) transaction.afterCommit(send);
    else send();
  }

  const { sequelize, room } = await setupDatabase(() => {
    Message.afterCreate((message, options) => afterCommit([message], options.transaction));
    Message.afterBulkCreate((messages, options) => afterCommit(messages, options.transaction));
  });

  const app = express();

  app.get(EVENTS_PATH, async (req, res) => {
    const found = await Room.findByPk(room.id);
    if (found === null) {
      res.sendStatus(404);
      return;
    }
    const session = await createSession(req, res, {
      keepAlive: null,
      retry: null,
      serializer: (data) => String(data),
    });
    channelOf(found.id).register(session);
  });

  app.post(BROADCAST_PATH, express.json(), postMessages(room));

  return {
    server: http.createServer(app),
    renderCount: () => renders,
    subscriberCount: () => channelOf(room.id).sessionCount,
    close: () => sequelize.close(),
  };
}
