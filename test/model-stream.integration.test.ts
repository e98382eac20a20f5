import { expect } from 'chai';
import type { Sequelize } from 'sequelize';
import { broadcastsSettled, ErrorCodes, TurboExpressError } from '../lib';
import { Message, Room, setupDatabase, startServer, type TestServer } from './support/chat-app';
import { settle, SseClient } from './support/sse-client';

describe('ModelStream over SSE (SQLite)', () => {
  let sequelize: Sequelize;
  let server: TestServer;
  const clients: SseClient[] = [];

  async function subscribe(source: Room, headers: Record<string, string> = {}): Promise<SseClient> {
    const client = await SseClient.open(await server.sourceFor(source), headers);
    clients.push(client);
    return client;
  }

  beforeEach(async () => {
    sequelize = await setupDatabase();
    server = await startServer();
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server.close();
    await sequelize.close();
  });

  it('sends an append to the room stream when a message is created', async () => {
    const room = await Room.create({ name: 'lobby' });
    const client = await subscribe(room);
    const message = await Message.create({ roomId: room.id, body: 'hello' });
    await client.waitForEvents(1);
    expect(client.data).to.deep.equal([
      `<turbo-stream action="append" target="messages"><template><div id="message-${message.id}"><p>hello</p></div></template></turbo-stream>`,
    ]);
  });

  it('sends a replace on update and a remove on destroy', async () => {
    const room = await Room.create({ name: 'lobby' });
    const message = await Message.create({ roomId: room.id, body: 'hello' });
    await broadcastsSettled();
    const client = await subscribe(room);
    await message.update({ body: 'edited' });
    await message.destroy();
    await client.waitForEvents(2);
    expect(client.data).to.deep.equal([
      `<turbo-stream action="replace" target="message-${message.id}"><template><div id="message-${message.id}"><p>edited</p></div></template></turbo-stream>`,
      `<turbo-stream action="remove" target="message-${message.id}"></turbo-stream>`,
    ]);
  });

  it('sends nothing to subscribers of another room', async () => {
    const room = await Room.create({ name: 'one' });
    const other = await Room.create({ name: 'two' });
    const watcher = await subscribe(room);
    const bystander = await subscribe(other);
    await Message.create({ roomId: room.id, body: 'hi' });
    await watcher.waitForEvents(1);
    await settle(100);
    expect(bystander.events).to.have.length(0);
  });

  it('opens the stream with the SSE headers and a retry hint', async () => {
    const room = await Room.create({ name: 'lobby' });
    const client = await subscribe(room);
    expect(client.status).to.equal(200);
    expect(client.headers['content-type']).to.equal('text/event-stream; charset=utf-8');
    expect(client.headers['cache-control']).to.equal('no-cache, no-transform');
    expect(client.headers['x-accel-buffering']).to.equal('no');
    await client.waitUntil(() => client.retry !== undefined);
    expect(client.retry).to.equal(2000);
  });

  it('answers 403 for a tampered stream name', async () => {
    const room = await Room.create({ name: 'lobby' });
    const src = await server.sourceFor(room);
    const tampered = src.replace(/\/turbo-streams\/([^.]+)\./, (_m, payload: string) => {
      const forged = Buffer.from(JSON.stringify(['Room:999'])).toString('base64url');
      return `/turbo-streams/${forged === payload ? payload : forged}.`;
    });
    const client = await SseClient.open(tampered);
    clients.push(client);
    expect(client.status).to.equal(403);
  });

  it('answers 403 when userPassesTest fails', async () => {
    const room = await Room.create({ name: 'lobby' });
    const client = await subscribe(room, { 'x-user': 'intruder' });
    expect(client.status).to.equal(403);
    expect(client.headers['content-type']).to.match(/^text\/plain/);
  });

  it('rejects a broadcast on a row without a primary key, naming the model', async () => {
    const room = Room.build({ name: 'unsaved' });
    const error = await room.stream
      .append('chat/message', { message: { id: 1, body: 'x' } }, { target: 'messages' })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).to.be.instanceOf(TurboExpressError);
    expect((error as TurboExpressError).code).to.equal(ErrorCodes.NO_PRIMARY_KEY);
    expect((error as Error).message).to.include('Room');
  });

  it('throws at the call for refreshLater() on a row without a primary key', () => {
    const room = Room.build({ name: 'unsaved' });
    expect(() => room.stream.refreshLater())
      .to.throw(TurboExpressError, 'Cannot use the stream of a Room that has no primary key')
      .with.property('code', ErrorCodes.NO_PRIMARY_KEY);
  });
});
