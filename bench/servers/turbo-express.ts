/**
 * The product, end to end: POST /broadcast -> `Message.create()` on SQLite through Sequelize ->
 * after-commit hook -> `MessageStream.onSave` -> `room.stream.append('bench/message', ...)` ->
 * the Pug partial rendered once -> MemoryBroker -> the hub's SSE fan-out.
 *
 * GET /events is the real turbo-express endpoint: the request is rewritten, inside this server,
 * to the `src` that `res.locals.turboStreamFrom(room)` returns for it (a freshly signed stream
 * name plus `?after=<broker position>`), then handed to the turboStreams() middleware. So every
 * subscriber pays what a page's subscription pays (HMAC sign and verify, `Room.findByPk`,
 * `userPassesTest`, replay check), minus the page render itself.
 *
 * `{ count: K }` writes K messages with one `bulkCreate` (one INSERT; concurrent transactions
 * would collide on SQLite's single connection): their hooks run in the same turn of the event
 * loop, which is where the hub's one write per connection per turn shows.
 */
import http from 'node:http';
import path from 'node:path';
import express from 'express';
import { DataTypes, Model, Sequelize, type CreationOptional, type ForeignKey } from 'sequelize';
import { ModelStream, registerStream, turboStreams } from '../../lib';
import { buildHtml, isBroadcastRequest, type BroadcastRequest } from '../payload';
import type { BenchServer } from './contract';
import { BROADCAST_PATH, EVENTS_PATH } from './contract';

class Room extends Model {
  declare id: CreationOptional<number>;
  declare name: string;
  declare stream: RoomStream;
}

class Message extends Model {
  declare id: CreationOptional<number>;
  declare seq: number;
  declare t: number;
  declare body: string;
  declare roomId: ForeignKey<number>;
}

class RoomStream extends ModelStream<Room> {
  static override model = Room;
}

let renders = 0;
function countRender(): void {
  renders += 1;
}

/** The one room every subscriber listens to, loaded once: onSave needs no SELECT per message. */
let room: Room;

class MessageStream extends ModelStream<Message> {
  static override model = Message;

  override async onSave(message: Message, created: boolean) {
    if (!created) return;
    await room.stream.append('bench/message', { message, countRender }, { target: 'messages' });
  }
}

/**
 * The body that makes the rendered element exactly as long as `buildHtml()`'s for the same
 * request, so every contestant sends the same bytes of HTML.
 */
function bodyFor(request: BroadcastRequest): string {
  return 'x'.repeat(Math.max(0, request.size - buildHtml({ ...request, size: 0 }).length));
}

async function setupDatabase(): Promise<Sequelize> {
  // In memory: the figure is the library's cost, not the disk's fsync.
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
  Room.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      name: DataTypes.STRING,
    },
    { sequelize, modelName: 'Room' },
  );
  Message.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      seq: DataTypes.INTEGER,
      t: DataTypes.DOUBLE,
      body: DataTypes.TEXT,
    },
    { sequelize, modelName: 'Message' },
  );
  Message.belongsTo(Room, { foreignKey: 'roomId' });
  await sequelize.sync();
  // Model.init() drops hooks, so the streams are registered after it, as an app would.
  registerStream(RoomStream);
  registerStream(MessageStream);
  room = await Room.create({ name: 'bench' });
  return sequelize;
}

export async function createBenchServer(): Promise<BenchServer> {
  const sequelize = await setupDatabase();
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

  app.post(BROADCAST_PATH, express.json(), async (req, res) => {
    const request = req.body as BroadcastRequest;
    if (!isBroadcastRequest(request)) {
      res.sendStatus(400);
      return;
    }
    const rows = Array.from({ length: request.count ?? 1 }, (_, i) => ({
      seq: request.seq + i,
      t: request.t,
      body: bodyFor({ ...request, seq: request.seq + i }),
      roomId: room.id,
    }));
    try {
      if (rows.length === 1) await Message.create(rows[0]);
      else await Message.bulkCreate(rows);
      res.sendStatus(204);
    } catch {
      res.sendStatus(500);
    }
  });

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
