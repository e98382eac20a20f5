import path from 'node:path';
import {
  DataTypes,
  Model,
  Sequelize,
  type CreationOptional,
  type ForeignKey,
  type InferAttributes,
  type InferCreationAttributes,
  type NonAttribute,
} from 'sequelize';
import type { MessageStream, RoomStream } from './streams';

/** SQLite by default; DATABASE_URL points the chat at PostgreSQL instead. */
export const sequelize = process.env.DATABASE_URL
  ? new Sequelize(process.env.DATABASE_URL, { logging: false })
  : new Sequelize({
      dialect: 'sqlite',
      storage: process.env.CHAT_DB ?? path.join(__dirname, 'chat.sqlite'),
      logging: false,
    });

export class Room extends Model<InferAttributes<Room>, InferCreationAttributes<Room>> {
  declare id: CreationOptional<number>;
  declare name: string;
  declare readonly stream: NonAttribute<RoomStream>;
}

export class Message extends Model<InferAttributes<Message>, InferCreationAttributes<Message>> {
  declare id: CreationOptional<number>;
  declare body: string;
  declare author: string;
  declare roomId: ForeignKey<Room['id']>;
  declare readonly stream: NonAttribute<MessageStream>;
  declare getRoom: NonAttribute<() => Promise<Room>>;

  /** The author as the page's own-messages rule names them; see `authorKey()`. */
  get authorKey(): NonAttribute<string> {
    return authorKey(this.author);
  }
}

/**
 * A user name as hex, safe inside an HTML attribute and a CSS selector alike. A message is
 * rendered once for every page, so it cannot show its Edit and Delete buttons to its author
 * only; it carries `data-author` instead, and each room page shows them by a style rule for its
 * own user.
 */
export function authorKey(name: string): string {
  return Buffer.from(name).toString('hex');
}

Room.init(
  {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    name: { type: DataTypes.STRING, allowNull: false },
  },
  { sequelize, modelName: 'Room' },
);

Message.init(
  {
    id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
    body: { type: DataTypes.TEXT, allowNull: false },
    author: { type: DataTypes.STRING, allowNull: false },
  },
  { sequelize, modelName: 'Message' },
);

Room.hasMany(Message, { foreignKey: 'roomId', onDelete: 'CASCADE' });
Message.belongsTo(Room, { foreignKey: 'roomId' });

/** Creates the tables and two rooms the first time. */
export async function prepareDatabase(): Promise<void> {
  await sequelize.sync();
  if ((await Room.count()) === 0) {
    await Room.bulkCreate([{ name: 'General' }, { name: 'Random' }]);
  }
}
