import path from 'node:path';
import { expect } from 'chai';
import type { Sequelize } from 'sequelize';
import {
  recordBroadcasts,
  turboStreams,
  withoutBroadcasts,
  type BroadcastRecorder,
  type TurboStreamsMiddleware,
} from '../lib';
import { Message, Room, setupDatabase } from './support/chat-app';

// Written the way an application tests its own streams: no server, no SSE client.
describe('recordBroadcasts', () => {
  let sequelize: Sequelize;
  let turbo: TurboStreamsMiddleware;
  let recorder: BroadcastRecorder;

  beforeEach(async () => {
    sequelize = await setupDatabase();
    turbo = turboStreams({
      secret: 'test-secret',
      views: path.join(__dirname, 'fixtures', 'views'),
      discover: null,
      heartbeat: null,
      onError: () => {},
    });
    recorder = recordBroadcasts();
  });

  afterEach(async () => {
    recorder.stop();
    await turbo.close();
    await sequelize.close();
  });

  it('records the stream, action, target, template and html of a create', async () => {
    const room = await Room.create({ name: 'lobby' });
    const message = await Message.create({ roomId: room.id, body: 'hello' });
    await recorder.settled();

    const html = `<div id="message-${message.id}"><p>hello</p></div>`;
    expect(recorder.broadcasts).to.deep.equal([
      {
        stream: `Room:${room.id}`,
        action: 'append',
        target: 'messages',
        template: 'chat/message',
        html,
        element: `<turbo-stream action="append" target="messages"><template>${html}</template></turbo-stream>`,
      },
    ]);
    expect(recorder.on(room.stream)).to.have.length(1);
    expect(recorder.on(`Room:${room.id}`)).to.have.length(1);
  });

  it('records a replace on update and a remove on destroy', async () => {
    const room = await Room.create({ name: 'lobby' });
    const message = await Message.create({ roomId: room.id, body: 'hello' });
    await recorder.settled();
    recorder.clear();

    await message.update({ body: 'edited' });
    await message.destroy();
    await recorder.settled();
    expect(
      recorder.on(room).map(({ action, target, html }) => ({ action, target, html })),
    ).to.deep.equal([
      {
        action: 'replace',
        target: `message-${message.id}`,
        html: `<div id="message-${message.id}"><p>edited</p></div>`,
      },
      { action: 'remove', target: `message-${message.id}`, html: '' },
    ]);
  });

  it('records targets for an action given a CSS selector', async () => {
    const room = await Room.create({ name: 'lobby' });
    await room.stream.update({ targets: '.unread', html: '<b>0</b>' });
    expect(recorder.broadcasts).to.deep.equal([
      {
        stream: `Room:${room.id}`,
        action: 'update',
        targets: '.unread',
        template: undefined,
        html: '<b>0</b>',
        element:
          '<turbo-stream action="update" targets=".unread"><template><b>0</b></template></turbo-stream>',
      },
    ]);
  });

  it('waits in settled() for the hooks of a transaction that committed', async () => {
    const room = await Room.create({ name: 'lobby' });
    await sequelize.transaction(async (transaction) => {
      await Message.create({ roomId: room.id, body: 'one' }, { transaction });
      await Message.create({ roomId: room.id, body: 'two' }, { transaction });
      await recorder.settled();
      expect(recorder.broadcasts).to.have.length(0);
    });
    await recorder.settled();
    expect(recorder.on(room).map((broadcast) => broadcast.action)).to.deep.equal([
      'append',
      'append',
    ]);
  });

  it('sends a waiting refreshLater() at once in settled()', async () => {
    const room = await Room.create({ name: 'lobby' });
    room.stream.refreshLater({ delay: 60_000, requestId: 'abc' });
    room.stream.refreshLater({ delay: 60_000, requestId: 'abc' });
    await recorder.settled();
    expect(recorder.on(room).map((broadcast) => broadcast.element)).to.deep.equal([
      '<turbo-stream action="refresh" request-id="abc"></turbo-stream>',
    ]);
  });

  it('records nothing inside withoutBroadcasts, nor a partial that failed', async () => {
    const room = await Room.create({ name: 'lobby' });
    await withoutBroadcasts(() => Message.create({ roomId: room.id, body: 'quiet' }));
    await room.stream.append('chat/missing', {}, { target: 'messages' });
    await recorder.settled();
    expect(recorder.broadcasts).to.deep.equal([]);
  });

  it('records nothing once stopped', async () => {
    const room = await Room.create({ name: 'lobby' });
    recorder.stop();
    await Message.create({ roomId: room.id, body: 'unseen' });
    await recorder.settled();
    expect(recorder.broadcasts).to.deep.equal([]);
  });
});

describe('recordBroadcasts without any turboStreams()', () => {
  let sequelize: Sequelize;
  let recorder: BroadcastRecorder | undefined;

  beforeEach(async () => {
    sequelize = await setupDatabase();
  });

  afterEach(async () => {
    recorder?.stop();
    await sequelize.close();
  });

  it('renders partials from the views folder it is given', async () => {
    recorder = recordBroadcasts({ views: path.join(__dirname, 'fixtures', 'views') });
    const room = await Room.create({ name: 'lobby' });
    const message = await Message.create({ roomId: room.id, body: 'hi' });
    await recorder.settled();
    expect(recorder.on(room).map((broadcast) => broadcast.html)).to.deep.equal([
      `<div id="message-${message.id}"><p>hi</p></div>`,
    ]);
  });
});
