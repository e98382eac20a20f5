/**
 * The chat database every contestant with a database writes to: rooms and messages in SQLite in
 * memory, through Sequelize, exactly as an app would declare them. One process holds one.
 */
import { DataTypes, Model, Sequelize, type CreationOptional, type ForeignKey } from 'sequelize';
import type { RequestHandler } from 'express';
import { buildHtml, isBroadcastRequest, type BroadcastRequest } from '../payload';

export class Room extends Model {
  declare id: CreationOptional<number>;
  declare name: string;
}

export class Message extends Model {
  declare id: CreationOptional<number>;
  declare seq: number;
  declare t: number;
  declare body: string;
  declare roomId: ForeignKey<number>;
}

/**
 * The body that makes the rendered element exactly as long as `buildHtml()`'s for the same
 * request, so every contestant sends the same bytes of HTML.
 */
function bodyFor(request: BroadcastRequest): string {
  return 'x'.repeat(Math.max(0, request.size - buildHtml({ ...request, size: 0 }).length));
}

/** The rows one broadcast request writes: `count` messages (default 1) in `room`. */
function rowsFor(request: BroadcastRequest, room: Room) {
  return Array.from({ length: request.count ?? 1 }, (_, i) => ({
    seq: request.seq + i,
    t: request.t,
    body: bodyFor({ ...request, seq: request.seq + i }),
    roomId: room.id,
  }));
}

/**
 * Creates the tables and the one room every subscriber listens to, loaded once so that nothing
 * per message needs a SELECT. `addHooks` runs after `Model.init()`, which drops hooks.
 */
export async function setupDatabase(addHooks: () => void): Promise<{
  sequelize: Sequelize;
  room: Room;
}> {
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
  addHooks();
  const room = await Room.create({ name: 'bench' });
  return { sequelize, room };
}

/**
 * POST /broadcast for the contestants with a database: writes what the request asks for in
 * `room`, with one `create`, or one `bulkCreate` (one INSERT; concurrent transactions would
 * collide on SQLite's single connection) whose hooks then run in the same turn of the event loop.
 * Mount it after `express.json()`.
 */
export function postMessages(room: Room): RequestHandler {
  return async function postMessagesRoute(req, res) {
    if (!isBroadcastRequest(req.body)) {
      res.sendStatus(400);
      return;
    }
    try {
      const rows = rowsFor(req.body, room);
      if (rows.length === 1) await Message.create(rows[0]);
      else await Message.bulkCreate(rows);
      res.sendStatus(204);
    } catch {
      res.sendStatus(500);
    }
  };
}
