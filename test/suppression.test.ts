import { expect } from 'chai';
import type { Express } from 'express';
import type { Sequelize } from 'sequelize';
import { withoutBroadcasts } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import {
  BoardStream,
  Note,
  hookCalls,
  savedFrame,
  setupNotes,
  sqliteMemory,
} from './support/notes-app';
import { settle, SseClient } from './support/sse-client';

describe('withoutBroadcasts', () => {
  let sequelize: Sequelize;
  let server: TestServer;
  let board: SseClient;

  beforeEach(async () => {
    sequelize = sqliteMemory();
    await setupNotes(sequelize);
    server = await startServer({}, addRoutes);
    board = await SseClient.open(await server.sourceFor(new BoardStream()));
    await board.waitUntil(() => board.retry !== undefined, 3000, 'the retry hint');
  });

  afterEach(async () => {
    board.close();
    await server.close();
    await sequelize.close();
  });

  it('sends nothing for writes made inside it', async () => {
    const result = await withoutBroadcasts(async () => {
      const note = await Note.create({ slug: 'a', body: 'quiet' });
      await note.update({ body: 'still quiet' });
      await Note.bulkCreate([{ slug: 'b' }, { slug: 'c' }]);
      await Note.update({ body: 'bulk' }, { where: {} });
      await note.destroy();
      return 'done';
    });
    expect(result).to.equal('done');
    await settle(200);
    expect(board.events).to.have.length(0);
    expect(hookCalls).to.deep.equal([]);
  });

  it('sends nothing for writes deferred to a transaction opened inside it', async () => {
    await withoutBroadcasts(() =>
      sequelize.transaction(async (transaction) => {
        await Note.create({ slug: 'a', body: 'quiet' }, { transaction });
      }),
    );
    await settle(200);
    expect(board.events).to.have.length(0);
  });

  it('keeps broadcasting for the code around it once it returns', async () => {
    await withoutBroadcasts(() => Note.create({ slug: 'a', body: 'quiet' }));
    const loud = await Note.create({ slug: 'b', body: 'loud' });
    await board.waitForEvents(1);
    await settle(150);
    expect(board.data).to.deep.equal([savedFrame(loud.id, true, 'loud')]);
  });

  it('silences only the suppressed writes of a transaction shared with other code', async () => {
    const transaction = await sequelize.transaction();
    await withoutBroadcasts(() => Note.create({ slug: 'a', body: 'quiet' }, { transaction }));
    const loud = await Note.create({ slug: 'b', body: 'loud' }, { transaction });
    await transaction.commit();
    await board.waitForEvents(1);
    await settle(150);
    expect(board.data).to.deep.equal([savedFrame(loud.id, true, 'loud')]);
  });

  it('keeps broadcasting for a concurrent flow while a suppressed one runs', async () => {
    const turns: string[] = [];
    async function quietFlow() {
      for (let i = 0; i < 5; i++) {
        await Note.create({ slug: `quiet-${i}`, body: 'quiet' });
        turns.push('quiet');
        await settle(5);
      }
    }
    async function loudFlow() {
      const notes: Note[] = [];
      for (let i = 0; i < 5; i++) {
        notes.push(await Note.create({ slug: `loud-${i}`, body: `loud ${i}` }));
        turns.push('loud');
        await settle(5);
      }
      return notes;
    }

    const [, loud] = await Promise.all([withoutBroadcasts(quietFlow), loudFlow()]);

    expect(turns.indexOf('loud')).to.be.below(turns.lastIndexOf('quiet')); // the flows interleaved
    await board.waitForEvents(5);
    await settle(150);
    expect(board.data).to.deep.equal(loud.map((note, i) => savedFrame(note.id, true, `loud ${i}`)));
  });

  it('keeps broadcasting for a concurrent HTTP request while another suppresses its writes', async () => {
    const [, typed] = await Promise.all([
      fetch(`${server.url}/import`, { method: 'POST' }),
      fetch(`${server.url}/notes`, { method: 'POST' }).then(
        (response) => response.json() as Promise<{ id: number }>,
      ),
    ]);
    expect(await Note.count()).to.equal(4);
    await board.waitForEvents(1);
    await settle(150);
    expect(board.data).to.deep.equal([savedFrame(typed.id, true, 'typed')]);
  });
});

/** An import that suppresses its writes and a form post that does not, for concurrent requests. */
function addRoutes(app: Express): void {
  app.post('/import', async (_req, res) => {
    await withoutBroadcasts(async () => {
      for (let i = 0; i < 3; i++) {
        await Note.create({ slug: `import-${i}`, body: 'imported' });
        await settle(10);
      }
    });
    res.sendStatus(204);
  });
  app.post('/notes', async (_req, res) => {
    await settle(10);
    const note = await Note.create({ slug: `typed-${Date.now()}`, body: 'typed' });
    res.json({ id: note.id });
  });
}
