import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createChatApp } from './app';
import { prepareDatabase, sequelize } from './models';
import { brokerFromEnvironment } from './broker';

const secret = process.env.TURBO_SECRET ?? 'example-chat-secret-change-me';

async function main(): Promise<void> {
  await prepareDatabase();
  const { app, turbo } = createChatApp({ secret, broker: await brokerFromEnvironment() });
  const server = http.createServer(app);
  const port = Number(process.env.PORT ?? 3000);
  server.listen(port, process.env.HOST ?? '127.0.0.1', () => {
    const { address, family, port: actual } = server.address() as AddressInfo;
    const host = family === 'IPv6' ? `[${address}]` : address;
    console.log(`Chat listening on http://${host}:${actual} (pid ${process.pid})`);
  });

  const shutdown = async () => {
    await turbo.close();
    server.close();
    await sequelize.close();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
