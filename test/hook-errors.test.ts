import { expect } from 'chai';
import type { Sequelize } from 'sequelize';
import { ErrorCodes, ModelStream, registerStream, TurboExpressError } from '../lib';
import { logBroadcastError } from '../lib/broadcaster';
import { startServer, type TestServer } from './support/chat-app';
import { BoardStream, Note, NoteStream, setupNotes, sqliteMemory } from './support/notes-app';
import { settle, SseClient } from './support/sse-client';

/**
 * Fails the way the note's body says: a partial that throws, one that is missing, or onSave. It
 * carries the name NoteStream so that it takes the place of the usual one for Note.
 */
const FailingNoteStream = (() =>
  class NoteStream extends ModelStream<Note> {
    static override model = Note;

    override async onSave(note: Note) {
      const board = new BoardStream();
      if (note.body === 'hook throws') throw new Error('onSave broke');
      if (note.body === 'partial throws') {
        await board.append('chat/message', { message: undefined }, { target: 'notes' });
      } else if (note.body === 'partial missing') {
        await board.append('chat/no-such-partial', {}, { target: 'notes' });
      }
      await board.append({ target: 'notes', html: `<p>${note.body}</p>` });
    }
  })();

function frame(body: string): string {
  return `<turbo-stream action="append" target="notes"><template><p>${body}</p></template></turbo-stream>`;
}

describe('a failing broadcast never fails the write', () => {
  let sequelize: Sequelize;
  let server: TestServer;
  let board: SseClient;
  const errors: TurboExpressError[] = [];

  beforeEach(async () => {
    errors.length = 0;
    sequelize = sqliteMemory();
    await setupNotes(sequelize);
    registerStream(FailingNoteStream);
    server = await startServer({ onError: (error) => errors.push(error) });
    board = await SseClient.open(await server.sourceFor(new BoardStream()));
    await board.waitUntil(() => board.retry !== undefined, 3000, 'the retry hint');
  });

  afterEach(async () => {
    board.close();
    await server.close();
    await sequelize.close();
    registerStream(NoteStream);
  });

  it('resolves the write and reports a partial that throws to onError with stream and template', async () => {
    const note = await Note.create({ slug: 'a', body: 'partial throws' });
    expect(note.id).to.be.a('number');
    await board.waitForEvents(1);
    await settle(150);
    expect(board.data).to.deep.equal([frame('partial throws')]);
    expect(
      errors.map((error) => [error.code, error.stream, error.template, error.action]),
    ).to.deep.equal([[ErrorCodes.RENDER_FAILED, 'Board', 'chat/message', 'append']]);
  });

  it('reports a missing partial to onError and sends the later broadcasts', async () => {
    await Note.create({ slug: 'a', body: 'partial missing' });
    await Note.create({ slug: 'b', body: 'fine' });
    await board.waitForEvents(2);
    await settle(150);
    expect(board.data).to.deep.equal([frame('partial missing'), frame('fine')]);
    expect(errors.map((error) => [error.code, error.stream, error.template])).to.deep.equal([
      [ErrorCodes.TEMPLATE_NOT_FOUND, 'Board', 'chat/no-such-partial'],
    ]);
  });

  it('resolves the commit when onSave throws after it, and keeps broadcasting', async () => {
    await sequelize.transaction(async (transaction) => {
      await Note.create({ slug: 'a', body: 'hook throws' }, { transaction });
      await Note.create({ slug: 'b', body: 'partial throws' }, { transaction });
    });
    const after = await Note.create({ slug: 'c', body: 'after' });
    expect(after.id).to.be.a('number');
    await board.waitForEvents(2);
    await settle(150);
    expect(board.data).to.deep.equal([frame('partial throws'), frame('after')]);
    expect(errors.map((error) => [error.code, error.stream, error.action])).to.deep.equal([
      [ErrorCodes.HOOK_FAILED, 'Note:1', 'onSave'],
      [ErrorCodes.RENDER_FAILED, 'Board', 'append'],
    ]);
    expect(errors[0].message).to.equal('onSave broke');
  });
});

describe('the default onError', () => {
  it('logs each error with its code, and the stream and partial it concerns', () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (line: string) => logged.push(line);
    try {
      logBroadcastError(
        new TurboExpressError(ErrorCodes.RENDER_FAILED, 'boom', {
          stream: 'Room:1',
          template: 'chat/message',
        }),
      );
      logBroadcastError(new TurboExpressError(ErrorCodes.HOOK_FAILED, 'oops', { stream: 'A:1' }));
      logBroadcastError(new TurboExpressError(ErrorCodes.BROKER_FAILED, 'gone'));
    } finally {
      console.error = original;
    }
    expect(logged).to.deep.equal([
      'turbo-express: TURBO_RENDER_FAILED (stream Room:1, partial chat/message): boom',
      'turbo-express: TURBO_HOOK_FAILED (stream A:1): oops',
      'turbo-express: TURBO_BROKER_FAILED: gone',
    ]);
  });
});
