import http from 'node:http';
import path from 'node:path';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { DataTypes, Model, Sequelize, type CreationOptional, type ForeignKey } from 'sequelize';
import { ModelStream, registerStream, turboStreams, type TurboStreamsOptions } from '../../lib';
import type { TurboStreamsMiddleware } from '../../lib';

/** A small chat schema and its streams, like an app's, on a fresh in-memory SQLite database. */
export class Room extends Model {
  declare id: CreationOptional<number>;
  declare name: string;
  declare stream: RoomStream;
}

export class Message extends Model {
  declare id: CreationOptional<number>;
  declare body: string;
  declare roomId: ForeignKey<number>;
  declare stream: MessageStream;
  declare getRoom: () => Promise<Room>;
}

export class RoomStream extends ModelStream<Room> {
  static override model = Room;
  override userPassesTest(user: unknown) {
    return user !== 'intruder';
  }
}

export class MessageStream extends ModelStream<Message> {
  static override model = Message;

  override async onSave(message: Message, created: boolean) {
    const room = await message.getRoom();
    if (created) await room.stream.append('chat/message', { message }, { target: 'messages' });
    else
      await room.stream.replace('chat/message', { message }, { target: `message-${message.id}` });
  }

  override async onDelete(message: Message) {
    const room = await Room.findByPk(message.roomId);
    await room!.stream.remove({ target: `message-${message.id}` });
  }
}

/** Connects the models to a new SQLite database in memory and registers the streams. */
export async function setupDatabase(): Promise<Sequelize> {
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
      body: DataTypes.TEXT,
    },
    { sequelize, modelName: 'Message' },
  );
  Message.belongsTo(Room, { foreignKey: 'roomId' });
  Room.hasMany(Message, { foreignKey: 'roomId' });
  await sequelize.sync();
  // Model.init() drops hooks, so the streams are registered after it, as an app would.
  registerStream(RoomStream);
  registerStream(MessageStream);
  return sequelize;
}

export interface TestServer {
  url: string;
  app: express.Express;
  server: http.Server;
  turbo: TurboStreamsMiddleware;
  /** The `src` of the subscription tag a page for `source` would get. */
  sourceFor(
    source: Parameters<express.Locals['turboStreamFrom']>[0],
    user?: string,
  ): Promise<string>;
  close(): Promise<void>;
}

/** Starts an Express app with turboStreams() on 127.0.0.1 port 0. The user is the `x-user` header. */
export async function startServer(
  options: TurboStreamsOptions = {},
  extend?: (app: express.Express) => void,
): Promise<TestServer> {
  const app = express();
  const turbo = turboStreams({
    secret: 'test-secret',
    views: path.join(__dirname, '..', 'fixtures', 'views'),
    discover: null,
    heartbeat: null,
    recheckInterval: null,
    currentUser: (req) => req.get('x-user'),
    ...options,
  });
  app.use(turbo);
  let pendingSource: Parameters<express.Locals['turboStreamFrom']>[0] | undefined;
  app.get('/source', (_req, res) => {
    res.type('text/plain').send(res.locals.turboStreamFrom(pendingSource!));
  });
  extend?.(app);
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    app,
    server,
    turbo,
    async sourceFor(source) {
      pendingSource = source;
      const response = await fetch(`${url}/source`);
      const tag = await response.text();
      const src = /src="([^"]+)"/.exec(tag)![1].replace(/&amp;/g, '&');
      return `${url}${src}`;
    },
    async close() {
      await turbo.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
