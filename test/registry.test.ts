import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'chai';
import { appFolderOf } from '../lib/options';
import { DataTypes, Model, Sequelize } from 'sequelize';
import {
  discoverStreams,
  ErrorCodes,
  ModelStream,
  registerStream,
  resolveStream,
  Stream,
  streamFor,
  TurboExpressError,
  turboStreams,
} from '../lib';

class Note extends Model {
  declare id: number;
  declare stream: ModelStream<Note>;
}

describe('registerStream', () => {
  let sequelize: Sequelize;

  beforeEach(async () => {
    sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    Note.init(
      {
        id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true },
        text: DataTypes.STRING,
      },
      { sequelize, modelName: 'Note' },
    );
    await sequelize.sync();
  });

  afterEach(() => sequelize.close());

  it('gives every row of the model a .stream named after the model and key', async () => {
    class NoteStream extends ModelStream<Note> {
      static override model = Note;
    }
    registerStream(NoteStream);
    const note = await Note.create({ text: 'a' });
    expect(note.stream).to.be.instanceOf(NoteStream);
    expect(note.stream.name).to.equal(`Note:${note.id}`);
    expect(note.stream.instance).to.equal(note);
  });

  it('refuses a second, different ModelStream for the same model', () => {
    class NoteStream extends ModelStream<Note> {
      static override model = Note;
    }
    class OtherNoteStream extends ModelStream<Note> {
      static override model = Note;
    }
    registerStream(NoteStream);
    expect(() => registerStream(OtherNoteStream))
      .to.throw(
        TurboExpressError,
        /Note already has the ModelStream NoteStream; OtherNoteStream cannot be a second one/,
      )
      .with.property('code', ErrorCodes.DUPLICATE_MODEL_STREAM);
  });

  it('accepts the same class twice, and a same-named class from a module loaded again', () => {
    const define = () =>
      class NoteStream extends ModelStream<Note> {
        static override model = Note;
      };
    const first = define();
    registerStream(first);
    registerStream(first);
    const reloaded = define();
    registerStream(reloaded);
    expect(
      (Note as unknown as { options: { hooks: Record<string, unknown[]> } }).options.hooks
        .afterCreate,
    ).to.have.length(1);
  });

  it('refuses a ModelStream without a model', () => {
    class Orphan extends ModelStream {}
    expect(() => registerStream(Orphan))
      .to.throw(/has no Sequelize model/)
      .with.property('code', ErrorCodes.INVALID_STREAM_CLASS);
  });

  it('refuses a model that has no primary key, whose rows would all share one stream', () => {
    class Log extends Model {}
    Log.init({ text: DataTypes.STRING }, { sequelize, modelName: 'Log' });
    Log.removeAttribute('id');
    class LogStream extends ModelStream<Log> {
      static override model = Log;
    }
    expect(() => registerStream(LogStream))
      .to.throw(
        "LogStream: Log has no primary key, and a ModelStream names each row's stream by it: " +
          'give the model one, or broadcast on a Stream instead',
      )
      .with.property('code', ErrorCodes.INVALID_STREAM_CLASS);
    expect(streamFor(Log.build({ text: 'x' }))).to.equal(null);
  });

  it('refuses a composite primary key, whose rows sharing a column would share a stream', () => {
    class Line extends Model {}
    Line.init(
      {
        orderId: { type: DataTypes.INTEGER, primaryKey: true },
        productId: { type: DataTypes.INTEGER, primaryKey: true },
      },
      { sequelize, modelName: 'Line' },
    );
    class LineStream extends ModelStream<Line> {
      static override model = Line;
    }
    expect(() => registerStream(LineStream))
      .to.throw(/^LineStream: Line has a composite primary key \(orderId, productId\)/)
      .with.property('code', ErrorCodes.INVALID_STREAM_CLASS);
  });

  it('refuses a model not yet initialised, whose init() would drop the hooks', () => {
    class Draft extends Model {}
    class DraftStream extends ModelStream<Draft> {
      static override model = Draft;
    }
    expect(() => registerStream(DraftStream))
      .to.throw('DraftStream: Draft is not initialised: call Draft.init() before registerStream()')
      .with.property('code', ErrorCodes.INVALID_STREAM_CLASS);
  });

  it('refuses a subclass of an initialised model that is not initialised itself', () => {
    class Base extends Model {}
    Base.init({ text: DataTypes.STRING }, { sequelize, modelName: 'Base' });
    class Child extends Base {}
    class ChildStream extends ModelStream<Child> {
      static override model = Child;
    }
    expect(() => registerStream(ChildStream))
      .to.throw(
        'ChildStream: Child is a subclass of an initialised model, not a model of its own: ' +
          'give ChildStream the model itself, or call Child.init() first',
      )
      .with.property('code', ErrorCodes.INVALID_STREAM_CLASS);
  });

  it('refuses a scope of a model, and gives the rows of its scopes and plain subclasses, not of its schemas, its streams', () => {
    class NoteStream extends ModelStream<Note> {
      static override model = Note;
    }
    class ScopeStream extends ModelStream<Note> {
      static override model = Note.scope({ where: { text: 'x' } });
    }
    expect(() => registerStream(ScopeStream)).to.throw(
      "ScopeStream: this Note is a scope of the model: give ScopeStream the model itself (its scopes' rows reach it too)",
    );
    registerStream(NoteStream);
    const scoped = Note.scope({ where: { text: 'x' } }).build({ id: 4 });
    expect(streamFor(scoped)?.name).to.equal('Note:4');
    expect(streamFor(Note.unscoped().build({ id: 5 }))?.name).to.equal('Note:5');
    class Special extends Note {}
    expect(streamFor(Special.build({ id: 6 }))?.name).to.equal('Note:6');
    // Row 4 of another schema's table is not row 4 of the model's.
    expect(streamFor(Note.schema('tenant').build({ id: 4 }))).to.equal(null);
    expect(
      streamFor(
        Note.schema('tenant')
          .scope({ where: { text: 'x' } })
          .build({ id: 4 }),
      ),
    ).to.equal(null);
  });

  it('names no stream after a whole row when the primary key went away after registering', () => {
    class Entry extends Model {}
    Entry.init({ text: DataTypes.STRING }, { sequelize, modelName: 'Entry' });
    class EntryStream extends ModelStream<Entry> {
      static override model = Entry;
    }
    registerStream(EntryStream);
    Entry.removeAttribute('id');
    const stream = streamFor(Entry.build({ text: 'x' }))!;
    expect(() => stream.name)
      .to.throw(TurboExpressError, 'Cannot use the stream of a Entry: the model has no primary key')
      .with.property('code', ErrorCodes.NO_PRIMARY_KEY);
  });

  it('refuses something that is not a stream class', () => {
    expect(() => registerStream((() => {}) as never)).to.throw(/takes a class extending Stream/);
  });

  it('refuses two classes claiming the same stream name', () => {
    class Alpha extends Stream {
      static override streamName = 'shared-name';
    }
    class Beta extends Stream {
      static override streamName = 'shared-name';
    }
    registerStream(Alpha);
    expect(() => registerStream(Beta)).to.throw(/both name their streams "shared-name"/);
  });

  it('leaves nothing behind when it refuses a ModelStream whose name is taken', async () => {
    class Ticker extends Stream {
      static override streamName = 'Ticker';
    }
    class Invoice extends Model {}
    Invoice.init({ total: DataTypes.INTEGER }, { sequelize, modelName: 'Invoice' });
    class InvoiceStream extends ModelStream<Invoice> {
      static override model = Invoice;
      static override streamName = 'Ticker';
    }
    registerStream(Ticker);
    expect(() => registerStream(InvoiceStream))
      .to.throw()
      .with.property('code', ErrorCodes.DUPLICATE_STREAM_NAME);
    expect(streamFor(Invoice.build({ id: 1, total: 4200 }))).to.equal(null);
    expect(
      (Invoice as unknown as { options: { hooks: Record<string, unknown[]> } }).options.hooks
        .afterCreate ?? [],
    ).to.have.length(0);
  });

  it('resolves a stream name to the row it stands for, or null', async () => {
    class NoteStream extends ModelStream<Note> {
      static override model = Note;
    }
    registerStream(NoteStream);
    const note = await Note.create({ text: 'a' });
    const resolved = await resolveStream(`Note:${note.id}`);
    expect(resolved).to.be.instanceOf(NoteStream);
    expect((resolved as NoteStream).instance.id).to.equal(note.id);
    expect(await resolveStream('Note:999')).to.equal(null);
    expect(await resolveStream('Nobody:1')).to.equal(null);
  });

  it('finds no stream for an object whose constructor is not a class', () => {
    for (const value of [Object.create(null), { constructor: null }, { constructor: undefined }]) {
      expect(streamFor(value as Model)).to.equal(null);
    }
  });

  it('finds no stream for a row of a model without one', () => {
    class Loose extends Model {}
    Loose.init({}, { sequelize, modelName: 'Loose' });
    expect(streamFor(Loose.build())).to.equal(null);
  });
});

describe('discoverStreams', () => {
  const fixtures = path.join(__dirname, 'fixtures', 'discovery');

  it('registers the stream classes exported by streams files, skipping node_modules', async () => {
    const found = await discoverStreams(path.join(fixtures, 'app'));
    expect(found.map((streamClass) => streamClass.name).sort()).to.deep.equal([
      'DiscoveredLobbyStream',
      'DiscoveredScoresStream',
    ]);
    expect((await resolveStream('discovered-scores:7'))?.name).to.equal('discovered-scores:7');
    expect((await resolveStream('DiscoveredLobbyStream'))?.name).to.equal('DiscoveredLobbyStream');
  });

  it('registers nothing twice when run twice', async () => {
    const first = await discoverStreams(path.join(fixtures, 'app'));
    const second = await discoverStreams(path.join(fixtures, 'app'));
    expect(second).to.deep.equal(first);
  });

  it('imports the streams files of an ES module package as ES modules', async () => {
    const found = await discoverStreams(path.join(fixtures, 'esm-app'));
    expect(found.map((streamClass) => streamClass.name)).to.deep.equal(['DiscoveredEsmStream']);
    const url = pathToFileURL(path.join(fixtures, 'esm-app', 'streams.js')).href;
    const module = (await import(url)) as { DiscoveredEsmStream: unknown; loadedAs: string };
    expect(module.loadedAs).to.equal('esm');
    expect(found[0]).to.equal(module.DiscoveredEsmStream);
  });

  it('throws at once, naming the file, for a class registerStream() refuses in a CommonJS file', () => {
    expect(() => discoverStreams(path.join(fixtures, 'refused')))
      .to.throw(
        /^Could not register the stream classes of .*refused.streams\.ts: RefusedLineStream: RefusedLine has a composite primary key \(orderId, productId\)/,
      )
      .with.property('code', ErrorCodes.DISCOVERY_FAILED);
  });

  it('rejects, naming the file, for a class registerStream() refuses in an ES module file', async () => {
    const error = await discoverStreams(path.join(fixtures, 'refused-esm')).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(TurboExpressError);
    expect((error as TurboExpressError).code).to.equal(ErrorCodes.DISCOVERY_FAILED);
    expect((error as Error).message).to.match(
      /^Could not register the stream classes of .*refused-esm.streams\.js: MisnamedStream's stream name "has:colon"/,
    );
  });

  it('names the file that failed to load', () => {
    expect(() => discoverStreams(path.join(fixtures, 'broken')))
      .to.throw(/Could not load the streams file .*broken.streams\.ts: this streams file is broken/)
      .with.property('code', ErrorCodes.DISCOVERY_FAILED);
  });
});

describe('turboStreams() with a streams file it cannot register', () => {
  const fixtures = path.join(__dirname, 'fixtures', 'discovery');

  it('throws at once for a CommonJS file', () => {
    expect(() => turboStreams({ secret: 's', discover: path.join(fixtures, 'refused') }))
      .to.throw(/^Could not register the stream classes of .*refused.streams\.ts/)
      .with.property('code', ErrorCodes.DISCOVERY_FAILED);
  });

  it('throws for a CommonJS file before an ES module file of another folder is imported', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const discover = [path.join(fixtures, 'refused-esm'), path.join(fixtures, 'refused')];
      expect(() => turboStreams({ secret: 's', discover })).to.throw(/refused.streams\.ts/);
      await new Promise((resolve) => setTimeout(resolve, 200));
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).to.deep.equal([]);
  });

  it('rejects ready for an ES module file, and the default onError logs it by its code', async () => {
    const logged: string[] = [];
    const original = console.error;
    console.error = (line: string) => logged.push(line);
    try {
      const turbo = turboStreams({ secret: 's', discover: path.join(fixtures, 'refused-esm') });
      const error = await turbo.ready.then(
        () => null,
        (e: unknown) => e,
      );
      await turbo.close();
      expect((error as TurboExpressError).code).to.equal(ErrorCodes.DISCOVERY_FAILED);
    } finally {
      console.error = original;
    }
    expect(logged).to.have.length(1);
    expect(logged[0]).to.match(
      /^turbo-express: TURBO_DISCOVERY_FAILED: Could not register the stream classes of .*refused-esm.streams\.js: MisnamedStream's stream name/,
    );
  });
});

describe('the folder discovery searches by default', () => {
  it("is the entry script's, or the app's above its bin/www, and none inside node_modules", () => {
    const app = fs.mkdtempSync(path.join(os.tmpdir(), 'turbo-app-'));
    fs.mkdirSync(path.join(app, 'bin'));
    fs.writeFileSync(path.join(app, 'package.json'), '{}');
    try {
      expect(appFolderOf(path.join(app, 'bin', 'www'))).to.equal(app);
    } finally {
      fs.rmSync(app, { recursive: true, force: true });
    }
    // A bin/ with no package.json beside it (~/bin) is no app's: it is searched alone.
    expect(appFolderOf('/nowhere/home/bin/serve.js')).to.equal('/nowhere/home/bin');
    expect(appFolderOf('/srv/chat/server.js')).to.equal('/srv/chat');
    expect(appFolderOf('/srv/chat/node_modules/mocha/bin/mocha.js')).to.equal(null);
    expect(appFolderOf(undefined)).to.equal(null);
  });
});
