import { expect } from 'chai';
import type { Express } from 'express';
import type { Sequelize } from 'sequelize';
import {
  ErrorCodes,
  ModelStream,
  recordBroadcasts,
  registerStream,
  withoutBroadcasts,
} from '../lib';
import { DEFAULT_REFRESH_DELAY, pendingRefreshCount } from '../lib/refresh-debounce';
import { startServer, type TestServer } from './support/chat-app';
import { BoardStream, Note, NoteStream, setupNotes, sqliteMemory } from './support/notes-app';
import { settle, SseClient } from './support/sse-client';

const DELAY = 60;

/** Refreshes the board on every change of a note, the way a page that re-renders would want. */
const RefreshingNoteStream = (() =>
  class NoteStream extends ModelStream<Note> {
    static override model = Note;
    override onSave() {
      new BoardStream().refreshLater({ delay: DELAY });
    }
    override onDelete() {
      new BoardStream().refreshLater({ delay: DELAY });
    }
  })();

/** A form post that changes several notes at once. */
function addRoutes(app: Express): void {
  app.post('/notes/burst', async (req, res) => {
    const prefix = String(req.query.prefix ?? 'n');
    for (let i = 0; i < 5; i++) await Note.create({ slug: `${prefix}-${i}`, body: 'burst' });
    await Note.update({ body: 'edited' }, { where: {} });
    res.sendStatus(204);
  });
}

describe('stream.refreshLater', () => {
  let sequelize: Sequelize;
  let server: TestServer | undefined;
  let board: SseClient;

  beforeEach(async () => {
    sequelize = sqliteMemory();
    await setupNotes(sequelize);
    registerStream(RefreshingNoteStream);
    server = await startServer({}, addRoutes);
    board = await SseClient.open(await server.sourceFor(new BoardStream()));
    await board.waitUntil(() => board.retry !== undefined, 3000, 'the retry hint');
  });

  afterEach(async () => {
    board.close();
    await server?.close();
    await sequelize.close();
    registerStream(NoteStream);
  });

  it('sends one refresh carrying the request id for a burst of changes made by a request', async () => {
    const response = await fetch(`${server!.url}/notes/burst`, {
      method: 'POST',
      headers: { 'X-Turbo-Request-Id': 'abc' },
    });
    expect(response.status).to.equal(204);
    await board.waitForEvents(1);
    await settle(DELAY * 3);
    expect(board.data).to.deep.equal([
      '<turbo-stream action="refresh" request-id="abc"></turbo-stream>',
    ]);
  });

  it('sends one refresh per request when two requests change the stream at once', async () => {
    await Promise.all([
      fetch(`${server!.url}/notes/burst?prefix=a`, {
        method: 'POST',
        headers: { 'X-Turbo-Request-Id': 'one' },
      }),
      fetch(`${server!.url}/notes/burst?prefix=b`, {
        method: 'POST',
        headers: { 'X-Turbo-Request-Id': 'two' },
      }),
    ]);
    await board.waitForEvents(2);
    await settle(DELAY * 3);
    expect([...board.data].sort()).to.deep.equal([
      '<turbo-stream action="refresh" request-id="one"></turbo-stream>',
      '<turbo-stream action="refresh" request-id="two"></turbo-stream>',
    ]);
  });

  it('gives a request without an id no request-id, even beside one that has an id', async () => {
    await Promise.all([
      fetch(`${server!.url}/notes/burst?prefix=a`, {
        method: 'POST',
        headers: { 'X-Turbo-Request-Id': 'one' },
      }),
      fetch(`${server!.url}/notes/burst?prefix=b`, { method: 'POST' }),
    ]);
    await board.waitForEvents(2);
    await settle(DELAY * 3);
    expect([...board.data].sort()).to.deep.equal([
      '<turbo-stream action="refresh" request-id="one"></turbo-stream>',
      '<turbo-stream action="refresh"></turbo-stream>',
    ]);
  });

  it('tells an empty request id from none, merging neither into the other', async () => {
    const stream = new BoardStream();
    stream.refreshLater({ delay: DELAY, requestId: '' });
    stream.refreshLater({ delay: DELAY });
    await board.waitForEvents(2);
    await settle(DELAY * 3);
    expect([...board.data].sort()).to.deep.equal([
      '<turbo-stream action="refresh" request-id=""></turbo-stream>',
      '<turbo-stream action="refresh"></turbo-stream>',
    ]);
  });

  it('sends one refresh without request-id for calls made outside any request', async () => {
    const stream = new BoardStream();
    for (let i = 0; i < 20; i++) stream.refreshLater({ delay: DELAY });
    expect(board.events).to.have.length(0);
    await board.waitForEvents(1);
    await settle(DELAY * 3);
    expect(board.data).to.deep.equal(['<turbo-stream action="refresh"></turbo-stream>']);
  });

  it('passes method and scroll through, the last call winning', async () => {
    const stream = new BoardStream();
    stream.refreshLater({ delay: DELAY, method: 'replace', requestId: 'given' });
    stream.refreshLater({ delay: DELAY, method: 'morph', scroll: 'preserve', requestId: 'given' });
    await board.waitForEvents(1);
    expect(board.data).to.deep.equal([
      '<turbo-stream action="refresh" method="morph" scroll="preserve" request-id="given"></turbo-stream>',
    ]);
  });

  it('still refreshes during a burst that never pauses, after five times the delay', async () => {
    const stream = new BoardStream();
    const started = Date.now();
    const keepChanging = setInterval(() => stream.refreshLater({ delay: DELAY }), DELAY / 4);
    try {
      await board.waitForEvents(1, DELAY * 10);
    } finally {
      clearInterval(keepChanging);
    }
    expect(Date.now() - started).to.be.within(DELAY * 5 - 10, DELAY * 8);
  });

  it('schedules nothing inside withoutBroadcasts', async () => {
    withoutBroadcasts(() => new BoardStream().refreshLater({ delay: DELAY }));
    expect(pendingRefreshCount()).to.equal(0);
    await settle(DELAY * 2);
    expect(board.events).to.have.length(0);
  });

  it('does not keep the process alive while a refresh waits', () => {
    const before = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    new BoardStream().refreshLater({ delay: 60_000 });
    const after = process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    expect(pendingRefreshCount()).to.equal(1);
    expect(after).to.equal(before);
  });

  it('sends the waiting refreshes and clears their timers when the middleware closes', async () => {
    const recorder = recordBroadcasts();
    try {
      new BoardStream().refreshLater({ delay: 60_000, requestId: 'closing' });
      await server!.close();
      server = undefined;
      expect(pendingRefreshCount()).to.equal(0);
      expect(recorder.broadcasts.map((broadcast) => broadcast.element)).to.deep.equal([
        '<turbo-stream action="refresh" request-id="closing"></turbo-stream>',
      ]);
    } finally {
      recorder.stop();
    }
  });

  it('refuses a delay that is not a finite number of milliseconds', () => {
    const stream = new BoardStream();
    for (const delay of [-1, Number.NaN, Infinity, '10' as unknown as number]) {
      expect(() => stream.refreshLater({ delay }))
        .to.throw('refreshLater() takes a delay in milliseconds')
        .with.property('code', ErrorCodes.INVALID_OPTION);
    }
    expect(pendingRefreshCount()).to.equal(0);
  });

  it('waits 300 ms by default', () => {
    expect(DEFAULT_REFRESH_DELAY).to.equal(300);
  });
});
