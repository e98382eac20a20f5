/**
 * The product, end to end: POST /broadcast -> `Message.create()` on SQLite through Sequelize ->
 * after-commit hook -> `MessageStream.onSave` -> `room.stream.append('bench/message', ...)` ->
 * the Pug partial rendered once -> MemoryBroker -> the hub's SSE fan-out.
 *
 * GET /events is the real turbo-express endpoint: the request is rewritten, inside this server,
 * to the `src` that `res.locals.turboStreamFrom(room)` returns for it (a freshly signed token
 * holding the stream name and the broker position), then handed to the turboStreams() middleware. So every
 * subscriber pays what a page's subscription pays (HMAC sign and verify, `Room.findByPk`,
 * `userPassesTest`, replay check), minus the page render itself.
 *
 * `{ count: K }` writes K messages with one `bulkCreate` (one INSERT; concurrent transactions
 * would collide on SQLite's single connection): their hooks run in the same turn of the event
 * loop, which is where the hub's one write per connection per turn shows.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { Message, postMessages, Room, setupDatabase } from './chat-db';
import type { BenchServer } from './contract';
import { BROADCAST_PATH, EVENTS_PATH } from './contract';

/**
 * The package as it ships: the JavaScript `npm run build` compiles into dist/ (`npm run bench`
 * builds first), not the TypeScript sources as tsx transpiles them on the fly, which adds a
 * getter call to every call between modules and a naming helper to every function expression.
 */
const DIST = path.join(__dirname, '..', '..', 'dist');
if (!existsSync(path.join(DIST, 'index.js'))) {
  throw new Error(`${DIST} has no build of turbo-express: run npm run build (npm run bench does)`);
}
const { ModelStream, registerStream, turboStreams } = require(DIST) as typeof import('../../lib');

class RoomStream extends ModelStream<Room> {
  static override model = Room;
}

let renders = 0;
function countRender(): void {
  renders += 1;
}

/** The one room every subscriber listens to, loaded once: onSave needs no SELECT per message. */
let room: Room & { stream: RoomStream };

class MessageStream extends ModelStream<Message> {
  static override model = Message;

  override async onSave(message: Message, created: boolean) {
    if (!created) return;
    await room.stream.append('bench/message', { message, countRender }, { target: 'messages' });
  }
}

export async function createBenchServer(): Promise<BenchServer> {
  const database = await setupDatabase(() => {
    registerStream(RoomStream);
    registerStream(MessageStream);
  });
  const sequelize = database.sequelize;
  room = database.room as Room & { stream: RoomStream };
  const turbo = turboStreams({
    secret: 'bench-secret',
    views: path.join(__dirname, '..', 'views'),
    discover: null,
    heartbeat: null,
    recheckInterval: null,
  });
  await turbo.ready;

  const app = express();
  app.use(turbo);

  app.get(EVENTS_PATH, (req, res, next) => {
    const tag = res.locals.turboStreamFrom(room);
    // Flattened, so req.url does not keep the whole tag alive as the parent of a sliced string.
    req.url = Buffer.from(/src="([^"]+)"/.exec(tag)![1].replace(/&amp;/g, '&')).toString();
    // The page request that rendered the tag would end here; its view helper would not live on
    // for as long as the subscription does.
    Reflect.deleteProperty(res.locals, 'turboStreamFrom');
    turbo(req, res, next);
  });

  app.post(BROADCAST_PATH, express.json(), postMessages(room));

  return {
    server: http.createServer(app),
    renderCount: () => renders,
    subscriberCount: () => turbo.connectionCount,
    close: async () => {
      await turbo.close();
      await sequelize.close();
    },
  };
}
