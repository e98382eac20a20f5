import { expect } from 'chai';
import type { Sequelize } from 'sequelize';
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
});
