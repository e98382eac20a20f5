import { expect } from 'chai';
import { createNamespace, destroyNamespace } from 'cls-hooked';
import { Sequelize, type Transaction } from 'sequelize';
import { broadcastSaved } from '../lib';
import { BoardStream, Note, hookCalls, probe, savedFrame, setupNotes } from './support/notes-app';
import { startServer, type TestServer } from './support/chat-app';
import { dialects, type Database } from './support/dialects';
import { createPostgresSchema } from './support/postgres';
import { settle, SseClient } from './support/sse-client';

type ClsSequelize = typeof Sequelize & { _cls?: unknown };

/** Waits for exactly these messages: they arrive, then nothing more within a settle. */
async function expectExactly(client: SseClient, frames: string[]): Promise<void> {
  await client.waitForEvents(frames.length);
  await settle(150);
  expect(client.data).to.deep.equal(frames);
}

for (const dialect of dialects) {
  describe(`broadcasts and transactions (${dialect.name})`, () => {
    let db: Database | undefined;
    let server: TestServer | undefined;
    let board: SseClient;
    const clients: SseClient[] = [];

    async function watchBoard(): Promise<SseClient> {
      const client = await SseClient.open(await server!.sourceFor(new BoardStream()));
      clients.push(client);
      await client.waitUntil(() => client.retry !== undefined, 3000, 'the retry hint');
      return client;
    }

    beforeEach(async function () {
      db = await dialect.connect(this);
      await setupNotes(db.sequelize, db.schema);
      server = await startServer();
      board = await watchBoard();
    });

    afterEach(async () => {
      for (const client of clients.splice(0)) client.close();
      await server?.close();
      server = undefined;
      await db?.drop();
      db = undefined;
    });

    it('sends the message right after a write made without a transaction', async () => {
      const note = await Note.create({ slug: 'a', body: 'plain' });
      await expectExactly(board, [savedFrame(note.id, true, 'plain')]);
    });

    it('sends nothing before COMMIT and exactly one message after it', async () => {
      const transaction = await db!.sequelize.transaction();
      const note = await Note.create({ slug: 'a', body: 'later' }, { transaction });
      await note.update({ body: 'later still' }, { transaction });
      await settle(150);
      expect(board.events).to.have.length(0);
      expect(hookCalls).to.deep.equal([]);

      await transaction.commit();
      // Each hook sees the row as its own write left it, so the page ends as the database does.
      await expectExactly(board, [
        savedFrame(note.id, true, 'later'),
        savedFrame(note.id, false, 'later still'),
      ]);
    });

    it('runs onSave against committed data, outside the finished transaction', async () => {
      const seen: (string | null)[] = [];
      probe.onSave = async (note) => {
        const row = await Note.findByPk(note.id);
        seen.push(row === null ? null : row.body);
      };
      await db!.sequelize.transaction(async (transaction) => {
        await Note.create({ slug: 'a', body: 'committed' }, { transaction });
      });
      await board.waitForEvents(1);
      expect(seen).to.deep.equal(['committed']);
    });

    it('sends nothing when the transaction rolls back', async () => {
      const transaction = await db!.sequelize.transaction();
      await Note.create({ slug: 'a', body: 'gone' }, { transaction });
      await transaction.rollback();

      const failing = db!.sequelize.transaction(async (managed) => {
        await Note.create({ slug: 'b', body: 'gone too' }, { transaction: managed });
        throw new Error('abort');
      });
      const error = await failing.then(
        () => null,
        (reason: Error) => reason,
      );
      expect(error?.message).to.equal('abort');
      await settle(150);
      expect(board.events).to.have.length(0);
      expect(hookCalls).to.deep.equal([]);

      const after = await Note.create({ slug: 'c', body: 'after' });
      await expectExactly(board, [savedFrame(after.id, true, 'after')]);
    });

    it('waits for the outermost transaction when a savepoint is released', async () => {
      const outer = await db!.sequelize.transaction();
      const savepoint = await db!.sequelize.transaction({ transaction: outer });
      const inner = await Note.create({ slug: 'a', body: 'inner' }, { transaction: savepoint });
      await savepoint.commit();
      await settle(150);
      expect(board.events).to.have.length(0);

      const other = await Note.create({ slug: 'b', body: 'outer' }, { transaction: outer });
      await outer.commit();
      await expectExactly(board, [
        savedFrame(inner.id, true, 'inner'),
        savedFrame(other.id, true, 'outer'),
      ]);
    });

    it('drops the writes of a rolled back savepoint and sends the rest on commit', async () => {
      let kept = 0;
      await db!.sequelize.transaction(async (outer) => {
        kept = (await Note.create({ slug: 'a', body: 'kept' }, { transaction: outer })).id;
        await db!.sequelize
          .transaction({ transaction: outer }, async (savepoint) => {
            await Note.create({ slug: 'b', body: 'dropped' }, { transaction: savepoint });
            throw new Error('undo the savepoint');
          })
          .catch(() => {});
      });
      await expectExactly(board, [savedFrame(kept, true, 'kept')]);
      expect(await Note.count()).to.equal(1);
    });

    it('sends what a savepoint left open wrote with the outer COMMIT, in write order', async () => {
      const outer = await db!.sequelize.transaction();
      const first = await Note.create({ slug: 'a', body: 'first' }, { transaction: outer });
      const savepoint = await db!.sequelize.transaction({ transaction: outer });
      const open = await Note.create({ slug: 'b', body: 'open' }, { transaction: savepoint });
      const last = await Note.create({ slug: 'c', body: 'last' }, { transaction: outer });
      await outer.commit();
      await expectExactly(board, [
        savedFrame(first.id, true, 'first'),
        savedFrame(open.id, true, 'open'),
        savedFrame(last.id, true, 'last'),
      ]);
    });

    it('drops every write made since a savepoint rolled back to, in it or not', async () => {
      const outer = await db!.sequelize.transaction();
      const before = await Note.create({ slug: 'a', body: 'before' }, { transaction: outer });
      const savepoint = await db!.sequelize.transaction({ transaction: outer });
      await Note.create({ slug: 'b', body: 'undone outside' }, { transaction: outer });
      const later = await db!.sequelize.transaction({ transaction: outer });
      await Note.create({ slug: 'c', body: 'undone in a later one' }, { transaction: later });
      await later.commit();
      await savepoint.rollback();
      const after = await Note.create({ slug: 'd', body: 'after' }, { transaction: outer });
      await outer.commit();
      await expectExactly(board, [
        savedFrame(before.id, true, 'before'),
        savedFrame(after.id, true, 'after'),
      ]);
      expect((await Note.findAll({ order: [['slug', 'ASC']] })).map((n) => n.slug)).to.deep.equal([
        'a',
        'd',
      ]);
    });

    it('sends a row findOrCreate() created inside a transaction once it commits', async () => {
      const outer = await db!.sequelize.transaction();
      const [made, created] = await Note.findOrCreate({
        where: { slug: 'a' },
        defaults: { body: 'made' },
        transaction: outer,
      });
      expect(created).to.equal(true);
      await settle(150);
      expect(board.events).to.have.length(0);
      await outer.commit();
      await expectExactly(board, [savedFrame(made.id, true, 'made')]);
    });

    it('sends nothing for a row findOrCreate() created in a transaction that rolls back', async () => {
      await db!.sequelize
        .transaction(async (transaction) => {
          await Note.findOrCreate({ where: { slug: 'a' }, defaults: { body: 'x' }, transaction });
          throw new Error('undo');
        })
        .catch(() => {});
      await settle(150);
      expect(board.events).to.have.length(0);
      expect(await Note.count()).to.equal(0);
    });

    it('sends the committed values, not those of a rolled back savepoint on the same instance', async () => {
      let id = 0;
      await db!.sequelize.transaction(async (outer) => {
        const note = await Note.create({ slug: 'a', body: 'first' }, { transaction: outer });
        id = note.id;
        await note.update({ body: 'committed' }, { transaction: outer });
        await db!.sequelize
          .transaction({ transaction: outer }, async (savepoint) => {
            await note.update({ body: 'rolled back' }, { transaction: savepoint });
            throw new Error('undo the savepoint');
          })
          .catch(() => {});
      });
      await expectExactly(board, [
        savedFrame(id, true, 'first'),
        savedFrame(id, false, 'committed'),
      ]);
    });

    it('sends what each write wrote when the instance changes again before the hooks run', async () => {
      const note = await Note.create({ slug: 'a', body: 'created' });
      await note.update({ body: 'updated' });
      await expectExactly(board, [
        savedFrame(note.id, true, 'created'),
        savedFrame(note.id, false, 'updated'),
      ]);
    });

    it('sends nothing when the outer transaction rolls back after a savepoint was released', async () => {
      const outer = await db!.sequelize.transaction();
      const savepoint = await db!.sequelize.transaction({ transaction: outer });
      await Note.create({ slug: 'a', body: 'inner' }, { transaction: savepoint });
      await savepoint.commit();
      await outer.rollback();
      await settle(150);
      expect(board.events).to.have.length(0);
    });

    describe('with Sequelize.useCLS', () => {
      const namespaceName = `turbo-express-test-${dialect.name}`;

      beforeEach(() => {
        Sequelize.useCLS(createNamespace(namespaceName));
      });

      afterEach(() => {
        delete (Sequelize as ClsSequelize)._cls;
        destroyNamespace(namespaceName);
      });

      it('defers a write that picked its transaction up from CLS until COMMIT', async () => {
        let note: Note | undefined;
        const seen: (string | null)[] = [];
        probe.onSave = async (saved) => {
          const row = await Note.findByPk(saved.id);
          seen.push(row === null ? null : row.body);
        };
        await db!.sequelize.transaction(async () => {
          note = await Note.create({ slug: 'a', body: 'via cls' });
          await settle(150);
          expect(board.events).to.have.length(0);
        });
        await expectExactly(board, [savedFrame(note!.id, true, 'via cls')]);
        expect(seen).to.deep.equal(['via cls']);
      });

      it('sends nothing for a CLS transaction that rolls back', async () => {
        const failing = db!.sequelize.transaction(async () => {
          await Note.create({ slug: 'a', body: 'no' });
          throw new Error('abort');
        });
        await failing.catch(() => {});
        await settle(150);
        expect(board.events).to.have.length(0);
      });

      it('sends at once for a write that opts out with transaction: null inside a CLS transaction', async () => {
        let note: Note | undefined;
        const seen: number[] = [];
        probe.onSave = async () => {
          seen.push(await Note.count());
        };
        await db!.sequelize.transaction(async () => {
          await Note.create({ slug: 'a', body: 'inside' });
          note = await Note.create({ slug: 'b', body: 'outside' }, { transaction: null });
          await board.waitForEvents(1);
        });
        await board.waitForEvents(2);
        expect(board.data[0]).to.equal(savedFrame(note!.id, true, 'outside'));
        // Its onSave queries outside the open transaction: PostgreSQL shows it only committed rows.
        // (SQLite in memory has one connection, shared by every transaction.)
        if (dialect.name === 'PostgreSQL') expect(seen[0]).to.equal(1);
      });
    });
  });
}

describe('broadcasts and transactions (PostgreSQL only)', () => {
  let db: Database | undefined;
  let server: TestServer | undefined;
  const clients: SseClient[] = [];
  const originalWarn = console.warn;

  async function watchBoard(): Promise<SseClient> {
    const client = await SseClient.open(await server!.sourceFor(new BoardStream()));
    clients.push(client);
    await client.waitUntil(() => client.retry !== undefined, 3000, 'the retry hint');
    return client;
  }

  /** Nothing was sent nor any hook run; a write made now (slug `slug`) is sent, alone. */
  async function expectNothingSentThenLive(board: SseClient, slug: string): Promise<void> {
    await settle(150);
    expect(board.events).to.have.length(0);
    expect(hookCalls).to.deep.equal([]);
    const after = await Note.create({ slug, body: 'after' });
    await board.waitForEvents(1);
    await settle(150);
    expect(board.data).to.deep.equal([savedFrame(after.id, true, 'after')]);
  }

  beforeEach(async function () {
    db = await createPostgresSchema(this);
    await setupNotes(db.sequelize, db.schema);
    // A unique constraint checked only at COMMIT: the COMMIT statement itself fails.
    await db.sequelize.query(
      `ALTER TABLE "${db.schema}"."Notes" ADD CONSTRAINT notes_body_at_commit UNIQUE (body) DEFERRABLE INITIALLY DEFERRED`,
    );
    server = await startServer();
  });

  afterEach(async () => {
    console.warn = originalWarn;
    for (const client of clients.splice(0)) client.close();
    await server?.close();
    server = undefined;
    await db?.drop();
    db = undefined;
  });

  it('sends nothing when COMMIT itself fails, though Sequelize runs afterCommit', async () => {
    const board = await watchBoard();
    console.warn = () => {}; // Sequelize warns that it kills the connection of a failed COMMIT.
    const transaction: Transaction = await db!.sequelize.transaction();
    let afterCommitRan = false;
    transaction.afterCommit(() => {
      afterCommitRan = true;
    });
    await Note.create({ slug: 'a', body: 'same' }, { transaction });
    await Note.create({ slug: 'b', body: 'same' }, { transaction });

    const error = await transaction.commit().then(
      () => null,
      (reason: Error) => reason,
    );
    expect(error?.name).to.equal('SequelizeUniqueConstraintError');
    expect(afterCommitRan).to.equal(true);
    await expectNothingSentThenLive(board, 'c');
  });

  it('sends nothing when the COMMIT of a managed transaction fails', async () => {
    const board = await watchBoard();
    console.warn = () => {};
    const failing = db!.sequelize.transaction(async (transaction) => {
      await Note.create({ slug: 'a', body: 'same' }, { transaction });
      await Note.create({ slug: 'b', body: 'same' }, { transaction });
    });
    const error = await failing.then(
      () => null,
      (reason: Error) => reason,
    );
    expect(error?.name).to.equal('SequelizeUniqueConstraintError');
    await settle(150);
    expect(board.events).to.have.length(0);
  });

  /** Sequelize's own mark of how a transaction ended, which its typings leave out. */
  function finishedMark(transaction: Transaction): string | undefined {
    return (transaction as Transaction & { finished?: string }).finished;
  }

  /** Calls `commit()` and waits until Sequelize marks the transaction finished, COMMIT unanswered. */
  async function commitStarted(transaction: Transaction): Promise<{ answered: Promise<unknown> }> {
    const committing = transaction.commit().then(
      () => null,
      (reason: Error) => reason,
    );
    while (!finishedMark(transaction)) await new Promise((resolve) => setImmediate(resolve));
    return { answered: committing }; // Wrapped: an async function would wait for a returned promise.
  }

  it('holds an explicit broadcast made while COMMIT runs until it is answered', async () => {
    const board = await watchBoard();
    const transaction = await db!.sequelize.transaction();
    const note = await Note.create({ slug: 'a', body: 'kept' }, { transaction });
    const commit = await commitStarted(transaction);
    expect(finishedMark(transaction)).to.equal('commit');
    broadcastSaved(note, { transaction });
    expect(await commit.answered).to.equal(null);
    await expectExactly(board, [
      savedFrame(note.id, true, 'kept'),
      savedFrame(note.id, false, 'kept'),
    ]);
  });

  it('drops an explicit broadcast made while a COMMIT that fails runs', async () => {
    const board = await watchBoard();
    console.warn = () => {};
    const transaction = await db!.sequelize.transaction();
    const note = await Note.create({ slug: 'a', body: 'same' }, { transaction });
    await Note.create({ slug: 'b', body: 'same' }, { transaction });
    const commit = await commitStarted(transaction);
    broadcastSaved(note, { transaction });
    const error = (await commit.answered) as Error | null;
    expect(error?.name).to.equal('SequelizeUniqueConstraintError');
    await settle(150);
    expect(board.events).to.have.length(0);
  });

  /** Runs a statement PostgreSQL refuses, in `transaction`, and swallows the error as an app might. */
  async function failStatement(transaction: Transaction): Promise<void> {
    const failed = await db!.sequelize.query('SELECT 1 / 0', { transaction }).then(
      () => false,
      () => true,
    );
    expect(failed).to.equal(true);
  }

  it('sends nothing when a failed statement makes COMMIT roll the transaction back', async () => {
    const board = await watchBoard();
    const transaction = await db!.sequelize.transaction();
    const note = await Note.create({ slug: 'a', body: 'never stored' }, { transaction });
    await failStatement(transaction);

    await transaction.commit(); // PostgreSQL answers ROLLBACK, and Sequelize reports no error.
    expect(await Note.count()).to.equal(0);
    broadcastSaved(note, { transaction });
    await expectNothingSentThenLive(board, 'b');
  });

  it('sends nothing for a managed transaction whose callback swallowed a failed statement', async () => {
    const board = await watchBoard();
    await db!.sequelize.transaction(async (transaction) => {
      await Note.create({ slug: 'a', body: 'never stored' }, { transaction });
      await failStatement(transaction);
    });
    expect(await Note.count()).to.equal(0);
    await settle(150);
    expect(board.events).to.have.length(0);
  });

  it('sends the writes kept when a rollback to a savepoint recovered from a failed statement', async () => {
    const board = await watchBoard();
    const transaction = await db!.sequelize.transaction();
    const kept = await Note.create({ slug: 'a', body: 'kept' }, { transaction });
    const savepoint = await db!.sequelize.transaction({ transaction });
    await Note.create({ slug: 'b', body: 'undone' }, { transaction: savepoint });
    await failStatement(savepoint);
    await savepoint.rollback();
    const later = await Note.create({ slug: 'c', body: 'later' }, { transaction });

    await transaction.commit();
    expect(await Note.count()).to.equal(2);
    await expectExactly(board, [
      savedFrame(kept.id, true, 'kept'),
      savedFrame(later.id, true, 'later'),
    ]);
  });

  it('delivers in commit order, even when the first onSave awaits longer', async () => {
    const board = await watchBoard();
    const second = await db!.sequelize.transaction();
    const first = await db!.sequelize.transaction();
    const late = await Note.create({ slug: 'b', body: 'second' }, { transaction: second });
    const early = await Note.create({ slug: 'a', body: 'first' }, { transaction: first });
    probe.onSave = async (note) => {
      if (note.id === early.id) await settle(120);
    };

    await first.commit();
    await second.commit();
    await expectExactly(board, [
      savedFrame(early.id, true, 'first'),
      savedFrame(late.id, true, 'second'),
    ]);
  });
});
