import { DataTypes, Model, Sequelize, type CreationOptional } from 'sequelize';
import { ModelStream, Stream, registerStream } from '../../lib';

/** A paranoid model with a unique slug and a counter: every Sequelize write path applies to it. */
export class Note extends Model {
  declare id: CreationOptional<number>;
  declare slug: string;
  declare body: string;
  declare count: CreationOptional<number>;
  declare stream: NoteStream;
}

/** The one stream the notes board's page subscribes to. */
export class BoardStream extends Stream {
  static override streamName = 'Board';
}

/** What reached the ModelStream, in order: `save:<id>:<created>` or `delete:<id>`. */
export const hookCalls: string[] = [];

/** Runs at the start of every onSave when set: lets a test look at the database from there. */
export const probe: { onSave: ((note: Note) => Promise<void>) | null } = { onSave: null };

/**
 * Sends `<p id="note-ID">created|saved BODY</p>` appended to #notes for a save, a remove of
 * #note-ID for a delete, all on the Board stream.
 */
export class NoteStream extends ModelStream<Note> {
  static override model = Note;

  override async onSave(note: Note, created: boolean) {
    hookCalls.push(`save:${note.id}:${created}`);
    await probe.onSave?.(note);
    const html = `<p id="note-${note.id}">${created ? 'created' : 'saved'} ${note.body}</p>`;
    await new BoardStream().append({ target: 'notes', html });
  }

  override async onDelete(note: Note) {
    hookCalls.push(`delete:${note.id}`);
    await new BoardStream().remove({ target: `note-${note.id}` });
  }
}

/** The exact wire text NoteStream sends for a save. */
export function savedFrame(id: number, created: boolean, body: string): string {
  const html = `<p id="note-${id}">${created ? 'created' : 'saved'} ${body}</p>`;
  return `<turbo-stream action="append" target="notes"><template>${html}</template></turbo-stream>`;
}

/** The exact wire text NoteStream sends for a delete. */
export function deletedFrame(id: number): string {
  return `<turbo-stream action="remove" target="note-${id}"></turbo-stream>`;
}

/** A new SQLite database in memory. */
export function sqliteMemory(): Sequelize {
  return new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
}

/**
 * Defines Note on `sequelize` (in `schema` when given), creates its table and registers the
 * streams, after `init()` as an app must.
 */
export async function setupNotes(sequelize: Sequelize, schema?: string): Promise<void> {
  hookCalls.length = 0;
  probe.onSave = null;
  Note.init(
    {
      id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
      slug: { type: DataTypes.STRING, allowNull: false, unique: true },
      body: { type: DataTypes.STRING, allowNull: false, defaultValue: '' },
      count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    },
    { sequelize, modelName: 'Note', paranoid: true, ...(schema ? { schema } : {}) },
  );
  await Note.sync();
  registerStream(BoardStream);
  registerStream(NoteStream);
}
