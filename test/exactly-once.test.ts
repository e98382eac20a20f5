import { expect } from 'chai';
import type { Sequelize } from 'sequelize';
import { ModelStream, registerStream } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import {
  BoardStream,
  Note,
  NoteStream,
  probe,
  savedFrame,
  setupNotes,
  sqliteMemory,
} from './support/notes-app';
import { settle, SseClient } from './support/sse-client';

describe('exactly one broadcast per change', () => {
  let sequelize: Sequelize;
  let server: TestServer;
  let board: SseClient;

  beforeEach(async () => {
    sequelize = sqliteMemory();
    await setupNotes(sequelize);
    server = await startServer();
    board = await SseClient.open(await server.sourceFor(new BoardStream()));
    await board.waitUntil(() => board.retry !== undefined, 3000, 'the retry hint');
  });

  afterEach(async () => {
    board.close();
    await server.close();
    await sequelize.close();
    registerStream(NoteStream); // Undo any class a test registered in its place.
  });

  async function expectFrames(frames: string[]): Promise<void> {
    await board.waitForEvents(frames.length);
    await settle(150);
    expect(board.data).to.deep.equal(frames);
  }

  it('sends one message when the same stream class is registered twice', async () => {
    registerStream(NoteStream);
    registerStream(NoteStream);
    const note = await Note.create({ slug: 'a', body: 'once' });
    await expectFrames([savedFrame(note.id, true, 'once')]);
  });

  it('sends one message, from the newer class, when a module defines its stream class again', async () => {
    // What a module loaded a second time does: a new class, with the same name, for the same model.
    const Reloaded = (() => {
      class NoteStream extends ModelStream<Note> {
        static override model = Note;
        override async onSave(note: Note) {
          await new BoardStream().append({ target: 'notes', html: `<p>reloaded ${note.body}</p>` });
        }
      }
      return NoteStream;
    })();
    registerStream(Reloaded);
    await Note.create({ slug: 'a', body: 'once' });
    await expectFrames([
      '<turbo-stream action="append" target="notes"><template><p>reloaded once</p></template></turbo-stream>',
    ]);
  });

  it('delivers writes in the order they happened, even when an earlier onSave awaits longer', async () => {
    probe.onSave = async (note) => {
      if (note.body === 'slow') await settle(120);
    };
    const slow = await Note.create({ slug: 'a', body: 'slow' });
    const fast = await Note.create({ slug: 'b', body: 'fast' });
    await expectFrames([savedFrame(slow.id, true, 'slow'), savedFrame(fast.id, true, 'fast')]);
  });
});
