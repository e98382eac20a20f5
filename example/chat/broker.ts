import { PostgresBroker, RedisBroker, type Broker } from 'turbo-express';

/**
 * The broker the chat's processes share, chosen by BROKER: `redis` (at REDIS_URL, default
 * redis://127.0.0.1:6379), `postgres` (at BROKER_DATABASE_URL or DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test), or unset for the in-process broker of a single process.
 */
export async function brokerFromEnvironment(): Promise<Broker | undefined> {
  const kind = process.env.BROKER;
  if (kind === undefined || kind === '' || kind === 'memory') return undefined;
  if (kind === 'redis') {
    return new RedisBroker(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', {
      prefix: 'turbo-chat',
    });
  }
  if (kind === 'postgres') {
    const url =
      process.env.BROKER_DATABASE_URL ??
      process.env.DATABASE_URL ??
      'postgres://postgres@127.0.0.1:5432/test';
    return new PostgresBroker(url, { table: 'turbo_chat_messages' });
  }
  throw new Error(`BROKER must be redis, postgres or memory; got ${kind}`);
}
