import { expect } from 'chai';
import { broadcastDeleted, broadcastSaved } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import {
  BoardStream,
  Note,
  deletedFrame,
  hookCalls,
  savedFrame,
  setupNotes,
} from './support/notes-app';
import { dialects, type Database } from './support/dialects';
import { settle, SseClient } from './support/sse-client';

for (const dialect of dialects) {
  describe(`every Sequelize write path broadcasts once (${dialect.name})`, () => {
    let db: Database | undefined;
    let server: TestServer | undefined;
    let board: SseClient | undefined;

    /** Creates rows before anyone watches, so that only the write under test is counted. */
    async function seed(...slugs: string[]): Promise<Note[]> {
      const notes: Note[] = [];
      for (const slug of slugs) notes.push(await Note.create({ slug, body: slug }));
      return notes;
    }

    async function watchBoard(): Promise<SseClient> {
      const client = await SseClient.open(await server!.sourceFor(new BoardStream()));
      await client.waitUntil(() => client.retry !== undefined, 3000, 'the retry hint');
      board = client;
      hookCalls.length = 0;
      return client;
    }

    /** Exactly these messages, in this order: they arrive, then nothing more. */
    async function expectFrames(frames: string[]): Promise<void> {
      await board!.waitForEvents(frames.length);
      await settle(150);
      expect(board!.data).to.deep.equal(frames);
    }

    function byId(notes: Note[]): Note[] {
      return [...notes].sort((a, b) => a.id - b.id);
    }

    beforeEach(async function () {
      db = await dialect.connect(this);
      await setupNotes(db.sequelize, db.schema);
      server = await startServer();
    });

    afterEach(async () => {
      board?.close();
      board = undefined;
      await server?.close();
      server = undefined;
      await db?.drop();
      db = undefined;
    });

    it('sends one created message for instance.save() of a new row', async () => {
      await watchBoard();
      const note = Note.build({ slug: 'a', body: 'built' });
      await note.save();
      await expectFrames([savedFrame(note.id, true, 'built')]);
    });

    it('sends one saved message for instance.update()', async () => {
      const [note] = await seed('a');
      await watchBoard();
      await note.update({ body: 'edited' });
      await expectFrames([savedFrame(note.id, false, 'edited')]);
    });

    it('sends nothing for a save or update that changes nothing', async () => {
      const [note] = await seed('a');
      await watchBoard();
      await note.save();
      await note.update({ body: 'a' });
      await settle(200);
      expect(board!.events).to.have.length(0);
      expect(hookCalls).to.deep.equal([]);
    });

    it('sends the messages of writes made through a scope or unscoped(), as the model does', async () => {
      const [note] = await seed('a');
      await watchBoard();
      const created = await Note.unscoped().create({ slug: 'b', body: 'unscoped' });
      const found = (await Note.scope({ where: { slug: 'a' } }).findOne())!;
      await found.update({ body: 'scoped' });
      await Note.scope({ where: { slug: 'b' } }).destroy({ where: {} });
      await expectFrames([
        savedFrame(created.id, true, 'unscoped'),
        savedFrame(note.id, false, 'scoped'),
        deletedFrame(created.id),
      ]);
      expect([created.stream.name, found.stream.name]).to.deep.equal([
        `Note:${created.id}`,
        `Note:${note.id}`,
      ]);
    });

    it('sends created messages for the rows Model.restore() brings back, and none for others', async () => {
      const [gone] = await seed('a', 'b');
      await gone.destroy();
      await watchBoard();
      await Note.restore({ where: {} });
      await expectFrames([savedFrame(gone.id, true, 'a')]);
    });

    it('sends one created message for Model.create()', async () => {
      await watchBoard();
      const note = await Note.create({ slug: 'a', body: 'new' });
      await expectFrames([savedFrame(note.id, true, 'new')]);
    });

    it('sends one created message per row for bulkCreate()', async () => {
      await watchBoard();
      const notes = await Note.bulkCreate([
        { slug: 'a', body: 'one' },
        { slug: 'b', body: 'two' },
        { slug: 'c', body: 'three' },
      ]);
      expect(notes.map((note) => typeof note.id)).to.deep.equal(['number', 'number', 'number']);
      await expectFrames(notes.map((note) => savedFrame(note.id, true, note.body)));
    });

    it('sends one created message per row for bulkCreate() with individualHooks: true', async () => {
      await watchBoard();
      const notes = await Note.bulkCreate(
        [
          { slug: 'a', body: 'one' },
          { slug: 'b', body: 'two' },
        ],
        { individualHooks: true },
      );
      await board!.waitForEvents(2);
      await settle(150);
      expect([...board!.data].sort()).to.deep.equal(
        notes.map((note) => savedFrame(note.id, true, note.body)).sort(),
      );
    });

    it('keeps ignoreDuplicates working for bulkCreate()', async () => {
      await seed('a');
      await watchBoard();
      await Note.bulkCreate([{ slug: 'a', body: 'dup' }], { ignoreDuplicates: true });
      expect(await Note.count()).to.equal(1);
    });

    for (const individualHooks of [undefined, true]) {
      const given =
        individualHooks === undefined ? 'without individualHooks' : 'with individualHooks: true';

      it(`sends one saved message per matching row for Model.update() with where, ${given}`, async () => {
        const [a, , c] = await seed('a', 'b', 'c');
        await watchBoard();
        const options = individualHooks === undefined ? {} : { individualHooks };
        await Note.update({ body: 'bulk' }, { where: { slug: ['a', 'c'] }, ...options });
        await board!.waitForEvents(2);
        await settle(150);
        expect([...board!.data].sort()).to.deep.equal(
          [savedFrame(a.id, false, 'bulk'), savedFrame(c.id, false, 'bulk')].sort(),
        );
      });

      it(`sends one remove per matching row for Model.destroy() with where, ${given}`, async () => {
        const [a, b] = await seed('a', 'b', 'c');
        await watchBoard();
        const options = individualHooks === undefined ? {} : { individualHooks };
        await Note.destroy({ where: { slug: ['a', 'b'] }, ...options });
        await board!.waitForEvents(2);
        await settle(150);
        expect([...board!.data].sort()).to.deep.equal(
          [deletedFrame(a.id), deletedFrame(b.id)].sort(),
        );
        expect(await Note.count()).to.equal(1);
      });
    }

    it('sends nothing for Model.update() with hooks: false', async () => {
      await seed('a');
      await watchBoard();
      await Note.update({ body: 'quiet' }, { where: { slug: 'a' }, hooks: false });
      await settle(200);
      expect(board!.events).to.have.length(0);
    });

    it('sends one saved message for upsert(), new row or not: Sequelize reports created as null', async () => {
      const [existing] = await seed('a');
      await watchBoard();
      const [inserted, insertedCreated] = await Note.upsert({ slug: 'b', body: 'upserted' });
      const [updated, updatedCreated] = await Note.upsert({
        id: existing.id,
        slug: 'a',
        body: 'changed',
      });
      expect(insertedCreated).to.equal(null);
      expect(updatedCreated).to.equal(null);
      await expectFrames([
        savedFrame(inserted.id, false, 'upserted'),
        savedFrame(updated.id, false, 'changed'),
      ]);
      expect(existing.id).to.equal(updated.id);
    });

    it('sends one created message when findOrCreate() creates, none when it finds', async () => {
      await watchBoard();
      const [note, created] = await Note.findOrCreate({
        where: { slug: 'a' },
        defaults: { body: 'made' },
      });
      const [found, createdAgain] = await Note.findOrCreate({
        where: { slug: 'a' },
        defaults: { body: 'x' },
      });
      expect([created, createdAgain]).to.deep.equal([true, false]);
      expect(found.id).to.equal(note.id);
      await expectFrames([savedFrame(note.id, true, 'made')]);
    });

    it('sends a remove for a soft destroy and a created message for restore() of the row', async () => {
      const [note] = await seed('a');
      await watchBoard();
      await note.destroy();
      await note.restore();
      await expectFrames([deletedFrame(note.id), savedFrame(note.id, true, 'a')]);
      expect(await Note.count()).to.equal(1);
    });

    it('sends one remove for a hard destroy with force: true', async () => {
      const [note] = await seed('a');
      await watchBoard();
      await note.destroy({ force: true });
      await expectFrames([deletedFrame(note.id)]);
      expect(await Note.count({ paranoid: false })).to.equal(0);
    });

    it('sends one created message per row for Model.restore() with where', async () => {
      const [a, b] = await seed('a', 'b', 'c');
      await Note.destroy({ where: { slug: ['a', 'b'] } });
      await watchBoard();
      await Note.restore({ where: { slug: ['a', 'b'] } });
      await board!.waitForEvents(2);
      await settle(150);
      expect([...board!.data].sort()).to.deep.equal(
        [savedFrame(a.id, true, 'a'), savedFrame(b.id, true, 'b')].sort(),
      );
    });

    it('sends nothing for increment() and decrement(), which run no hooks in Sequelize 6', async () => {
      const [note] = await seed('a');
      await watchBoard();
      await note.increment('count');
      await note.decrement('count', { by: 2 });
      await Note.increment({ count: 5 }, { where: { slug: 'a' } });
      await settle(200);
      expect(board!.events).to.have.length(0);
      expect(hookCalls).to.deep.equal([]);
      await note.reload();
      expect(note.count).to.equal(4);
    });

    it('sends one message for broadcastSaved() after increment()', async () => {
      const [note] = await seed('a');
      await watchBoard();
      await note.increment('count');
      broadcastSaved(note);
      await expectFrames([savedFrame(note.id, false, 'a')]);
    });

    it('defers broadcastSaved() and broadcastDeleted() to COMMIT and drops them on rollback', async () => {
      const [kept, dropped] = await seed('a', 'b');
      await watchBoard();

      const rolledBack = await db!.sequelize.transaction();
      await dropped.increment('count', { transaction: rolledBack });
      broadcastSaved(dropped, { transaction: rolledBack });
      broadcastDeleted(dropped, { transaction: rolledBack });
      await rolledBack.rollback();

      const committed = await db!.sequelize.transaction();
      await kept.increment('count', { transaction: committed });
      broadcastSaved(kept, { transaction: committed, created: true });
      await settle(150);
      expect(board!.events).to.have.length(0);

      await committed.commit();
      await expectFrames([savedFrame(kept.id, true, 'a')]);
    });
  });
}
