import { expect } from 'chai';
import { DataTypes, Model, type Sequelize } from 'sequelize';
import { snapshotRow } from '../lib/row-snapshot';
import { Note, NoteStream, setupNotes, sqliteMemory } from './support/notes-app';

describe('row snapshots', () => {
  let sequelize: Sequelize;

  beforeEach(async () => {
    sequelize = sqliteMemory();
    await setupNotes(sequelize);
  });

  afterEach(async () => {
    await sequelize.close();
  });

  it('is a row of the same model with the same values, changes and previous values', async () => {
    const note = await Note.create({ slug: 'a', body: 'first' });
    note.set('body', 'second');
    const copy = snapshotRow(note);
    expect(copy).to.be.instanceOf(Note);
    expect(copy).to.not.equal(note);
    expect(copy.toJSON()).to.deep.equal(note.toJSON());
    expect(copy.changed()).to.deep.equal(['body']);
    expect(copy.previous('body')).to.equal('first');
    expect(copy.isNewRecord).to.equal(false);
    expect(copy.stream).to.be.instanceOf(NoteStream);
    expect(copy.stream.name).to.equal(note.stream.name);
  });

  it('keeps its values when the instance changes afterwards', async () => {
    const note = await Note.create({ slug: 'a', body: 'first' });
    const copy = snapshotRow(note);
    note.set('body', 'second');
    await note.update({ slug: 'b' });
    expect(copy.body).to.equal('first');
    expect(copy.slug).to.equal('a');
    expect(copy.changed()).to.equal(false);
    expect(copy.previous('body')).to.equal('first');
    expect(note.body).to.equal('second');
  });

  it('leaves the instance alone when the copy changes', async () => {
    const note = await Note.create({ slug: 'a', body: 'first' });
    const copy = snapshotRow(note);
    copy.set('body', 'changed in the hook');
    expect(note.body).to.equal('first');
    expect(note.changed()).to.equal(false);
    expect(copy.changed()).to.deep.equal(['body']);
  });

  describe('of a model with JSON, dates, a setter and a class field', () => {
    class Profile extends Model {
      declare id: number;
      declare handle: string;
      declare meta: { tags: string[] };
      declare seenAt: Date;
    }

    beforeEach(async () => {
      Profile.init(
        {
          id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
          handle: {
            type: DataTypes.STRING,
            set(this: Profile, value: string) {
              this.setDataValue('handle', value.toLowerCase());
            },
          },
          meta: DataTypes.JSON,
          seenAt: DataTypes.DATE,
        },
        { sequelize, modelName: 'Profile' },
      );
      await Profile.sync();
    });

    it('copies values one level deep, dates included, and shares what is inside them', async () => {
      const profile = await Profile.create({
        handle: 'Ada',
        meta: { tags: ['a'] },
        seenAt: new Date('2020-01-01T00:00:00Z'),
      });
      const copy = snapshotRow(profile);
      profile.seenAt.setUTCFullYear(1999);
      profile.set('handle', 'Grace');
      expect(copy.seenAt.toISOString()).to.equal('2020-01-01T00:00:00.000Z');
      expect(copy.handle).to.equal('ada');
      // A deep copy would cost large JSON columns dearly and turn sequelize.fn() into plain data.
      expect(copy.meta).to.equal(profile.meta);
      const fn = sequelize.fn('json_set', sequelize.col('meta'), '$.x', 1);
      profile.set('meta', fn, { raw: true });
      expect(snapshotRow(profile).get('meta')).to.equal(fn);
    });

    it('keeps own symbol-keyed properties', async () => {
      const profile = await Profile.create({ handle: 'Ada', meta: {}, seenAt: new Date(0) });
      const mark = Symbol('mark');
      (profile as unknown as Record<symbol, string>)[mark] = 'kept';
      expect((snapshotRow(profile) as unknown as Record<symbol, string>)[mark]).to.equal('kept');
    });

    it('runs no setter for an own property that shadows an attribute, as class fields make', async () => {
      const profile = await Profile.create({ handle: 'Ada', meta: {}, seenAt: new Date(0) });
      // What `handle;` as a public class field does: an own property over the prototype's accessor.
      Object.defineProperty(profile, 'handle', {
        value: undefined,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      const copy = snapshotRow(profile);
      expect(profile.get('handle')).to.equal('ada');
      expect(profile.changed()).to.equal(false);
      expect(copy.get('handle')).to.equal('ada');
      expect(copy.toJSON()).to.deep.equal(profile.toJSON());
    });
  });

  it('is built by the model constructor with the row values, as Sequelize builds rows', async () => {
    class Counted extends Model {
      declare id: number;
      declare body: string;
      #renders = 0;
      declare readonly cache: Map<string, string>;
      readonly shout: string;
      describe = () => `about ${this.body}`;
      constructor(...args: ConstructorParameters<typeof Model>) {
        super(...args);
        Object.defineProperty(this, 'cache', { value: new Map(), enumerable: false });
        this.shout = String(this.getDataValue('body')).toUpperCase();
      }
      label(): string {
        this.#renders += 1;
        return `${this.body} (${this.#renders})`;
      }
    }
    Counted.init({ body: DataTypes.STRING }, { sequelize, modelName: 'Counted' });
    await Counted.sync();
    const row = await Counted.create({ body: 'first' });
    row.label();
    const copy = snapshotRow(row);
    row.set('body', 'unsaved');
    expect(copy.label()).to.equal('first (1)');
    expect(copy.cache).to.be.instanceOf(Map).and.not.equal(row.cache);
    expect(copy.shout).to.equal('FIRST');
    expect(copy.describe()).to.equal('about first');
    expect(row.label()).to.equal('unsaved (2)');
  });
});
