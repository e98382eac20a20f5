/**
 * One app process for the multi-process suites, forked by test/support/workers.ts: the chat
 * schema on its own in-memory SQLite, turboStreams() with the broker described by the
 * TURBO_TEST_BROKER environment variable, on 127.0.0.1 port 0. It answers the parent's commands
 * over IPC and tells it about every error the broker or a broadcast reports.
 */
import {
  broadcastsSettled,
  PostgresBroker,
  RedisBroker,
  type Broker,
  type HistoryOptions,
} from '../../lib';
import { Message, Room, setupDatabase, startServer } from './chat-app';

export interface BrokerSpec {
  kind: 'redis' | 'postgres';
  url: string;
  /** The Redis key prefix or the PostgreSQL table. */
  name: string;
  heartbeat?: number | null;
  history?: HistoryOptions;
  /** RedisBroker's logSize. */
  logSize?: number;
}

export type WorkerCommand =
  | { ref: number; type: 'source' }
  | { ref: number; type: 'write'; body: string }
  | { ref: number; type: 'position' }
  | { ref: number; type: 'close' };

function brokerFor(spec: BrokerSpec): Broker {
  if (spec.kind === 'redis')
    return new RedisBroker(spec.url, {
      prefix: spec.name,
      commandTimeout: 1000,
      history: spec.history,
      logSize: spec.logSize,
    });
  return new PostgresBroker(spec.url, {
    table: spec.name,
    connectionTimeout: 1000,
    history: spec.history,
  });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.TURBO_TEST_BROKER!) as BrokerSpec;
  const send = (message: object) => process.send?.(message);
  const sequelize = await setupDatabase();
  const room = await Room.create({ name: 'lobby' });
  const broker = brokerFor(spec);
  const server = await startServer({
    broker,
    heartbeat: spec.heartbeat ?? null,
    onError: (error) => send({ type: 'error', message: error.message }),
  });
  await server.turbo.ready;

  process.on('message', async (command: WorkerCommand) => {
    const reply = (fields: object) => send({ ref: command.ref, ...fields });
    try {
      if (command.type === 'source') return reply({ src: await server.sourceFor(room) });
      if (command.type === 'position') return reply({ position: broker.position() });
      if (command.type === 'write') {
        const message = await Message.create({ roomId: room.id, body: command.body });
        await broadcastsSettled();
        return reply({ id: message.id });
      }
      if (command.type === 'close') {
        await server.close();
        await sequelize.close();
        reply({});
        process.disconnect();
      }
    } catch (error) {
      reply({ failure: (error as Error).message });
    }
  });
  send({ type: 'ready', url: server.url });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
