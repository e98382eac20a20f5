import { expect } from 'chai';
import { DataTypes, Model, Sequelize } from 'sequelize';
import { broadcastsSettled, ModelStream, registerStream } from '../lib';

/** What the stream's hooks saw, in order. */
const calls: string[] = [];

class Doc extends Model {
  declare id: number;
  declare body: string;
}

class DocStream extends ModelStream<Doc> {
  static override model = Doc;

  override async onSave(doc: Doc, created: boolean) {
    calls.push(`save:${doc.id}:${created}`);
  }

  override async onDelete(doc: Doc) {
    calls.push(`delete:${doc.id}`);
  }
}

describe('restores of soft-deleted rows', () => {
  let sequelize: Sequelize;

  beforeEach(async () => {
    sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    Doc.init(
      { body: DataTypes.STRING },
      {
        sequelize,
        modelName: 'Doc',
        paranoid: true,
        // A common way to keep timestamps out of what the app reads.
        defaultScope: { attributes: { exclude: ['createdAt', 'updatedAt', 'deletedAt'] } },
      },
    );
    registerStream(DocStream);
    await sequelize.sync();
    calls.length = 0;
  });

  afterEach(() => sequelize.close());

  /** What the hooks saw for `write`, once every broadcast it queued has run. */
  async function callsOf(write: () => Promise<unknown>): Promise<string[]> {
    calls.length = 0;
    await write();
    await broadcastsSettled();
    return [...calls];
  }

  it('sends created for a row that comes back even when its deletedAt was not loaded', async () => {
    const doc = await Doc.create({ body: 'a' });
    expect(await callsOf(() => doc.destroy())).to.deep.equal([`delete:${doc.id}`]);
    expect(await callsOf(() => Doc.restore({ where: { id: doc.id } }))).to.deep.equal([
      `save:${doc.id}:true`,
    ]);
  });

  it('sends created only for the rows a restore with where brings back', async () => {
    const [gone] = await Doc.unscoped().bulkCreate([{ body: 'a' }, { body: 'b' }]);
    await gone.destroy();
    expect(await callsOf(() => Doc.unscoped().restore({ where: {} }))).to.deep.equal([
      `save:${gone.id}:true`,
    ]);
  });

  it('sends created only for the rows that come back with hooks: false and individualHooks', async () => {
    const [gone] = await Doc.unscoped().bulkCreate([{ body: 'a' }, { body: 'b' }]);
    await gone.destroy();
    const restore = () =>
      Doc.unscoped().restore({ where: {}, hooks: false, individualHooks: true });
    expect(await callsOf(restore)).to.deep.equal([`save:${gone.id}:true`]);
  });

  it('never fails a restore it cannot read, and then broadcasts every row it restores', async () => {
    const [gone, kept] = await Doc.unscoped().bulkCreate([{ body: 'a' }, { body: 'b' }]);
    await gone.destroy();
    const original = Doc.getAttributes;
    Doc.getAttributes = () => {
      throw new Error('unreadable');
    };
    try {
      expect(await callsOf(() => Doc.unscoped().restore({ where: {} }))).to.deep.equal([
        `save:${gone.id}:true`,
        `save:${kept.id}:true`,
      ]);
    } finally {
      Doc.getAttributes = original;
    }
  });

  it('sends created for a restore after one that failed on the same row', async () => {
    const doc = (await Doc.unscoped().create({ body: 'a' })) as Doc;
    Doc.addHook('beforeRestore', 'refuse-once', () => {
      Doc.removeHook('beforeRestore', 'refuse-once');
      throw new Error('refused');
    });
    const refused = await Doc.unscoped()
      .restore({ where: { id: doc.id } })
      .then(
        () => null,
        (error: Error) => error.message,
      );
    expect(refused).to.equal('refused');
    await doc.destroy();
    expect(await callsOf(() => Doc.unscoped().restore({ where: { id: doc.id } }))).to.deep.equal([
      `save:${doc.id}:true`,
    ]);
  });

  it('tells live rows by the default value of deletedAt where it has one', async () => {
    const forever = new Date('9999-12-31T00:00:00.000Z');
    class Post extends Model {
      declare id: number;
    }
    Post.init(
      { body: DataTypes.STRING, deletedAt: { type: DataTypes.DATE, defaultValue: forever } },
      { sequelize, modelName: 'Post', paranoid: true },
    );
    class PostStream extends ModelStream<Post> {
      static override model = Post;

      override async onSave(post: Post, created: boolean) {
        calls.push(`post:${post.id}:${created}`);
      }
    }
    registerStream(PostStream);
    await Post.sync();
    const [gone, hidden] = await Post.bulkCreate([{ body: 'a' }, { body: 'b' }, { body: 'c' }]);
    await gone.destroy();
    // With a default, Sequelize counts a null deletedAt as deleted too, and restore brings it back.
    await sequelize.query(`UPDATE Posts SET deletedAt = NULL WHERE id = ${hidden.id}`);
    expect(await callsOf(() => Post.restore({ where: {} }))).to.deep.equal([
      `post:${gone.id}:true`,
      `post:${hidden.id}:true`,
    ]);
  });
});
