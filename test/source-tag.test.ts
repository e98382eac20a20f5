import express from 'express';
import path from 'node:path';
import pug from 'pug';
import request from 'supertest';
import { expect } from 'chai';
import { DataTypes, Model, Sequelize } from 'sequelize';
import {
  ErrorCodes,
  ModelStream,
  registerStream,
  Stream,
  turboStreams,
  viewsPath,
  type TurboStreamsMiddleware,
} from '../lib';
import { streamOf } from '../lib/source-tag';
import { StreamNameSigner } from '../lib/stream-name';

class ScoreboardStream extends Stream {}

describe('turboStreamFrom', () => {
  let turbo: TurboStreamsMiddleware;
  let app: express.Express;

  beforeEach(() => {
    app = express();
    turbo = turboStreams({
      secret: 'test-secret',
      views: path.join(__dirname, 'fixtures', 'views'),
      discover: null,
      heartbeat: null,
      recheckInterval: null,
    });
  });

  afterEach(() => turbo.close());

  it('writes a turbo-stream-source tag whose signed name carries the render position', async () => {
    app.use(turbo);
    app.get('/', (_req, res) => res.send(res.locals.turboStreamFrom(new ScoreboardStream('7'))));
    const { text } = await request(app).get('/');
    const match =
      /^<turbo-stream-source src="\/turbo-streams\/([^"?]+)"><\/turbo-stream-source>$/.exec(text);
    expect(match, text).to.not.equal(null);
    expect(new StreamNameSigner('test-secret').verify(match![1])).to.deep.equal({
      name: 'ScoreboardStream:7',
      expiresAt: null,
      after: turbo.broker.position(),
    });
  });

  it('follows the mount path of the middleware', async () => {
    app.use('/live', turbo);
    app.get('/live/page', (_req, res) => res.send(res.locals.turboStreamFrom(ScoreboardStream)));
    const { text } = await request(app).get('/live/page');
    expect(text).to.match(
      /^<turbo-stream-source src="\/live\/turbo-streams\/[^"]+"><\/turbo-stream-source>$/,
    );
  });

  it('escapes extra attributes and refuses bad attribute names', async () => {
    app.use(turbo);
    app.get('/', (_req, res) =>
      res.send(res.locals.turboStreamFrom(ScoreboardStream, { id: 'a"b' })),
    );
    app.get('/bad', (_req, res) =>
      res.send(res.locals.turboStreamFrom(ScoreboardStream, { 'x"y': '1' })),
    );
    app.use(
      (error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).send(error.message);
      },
    );
    expect((await request(app).get('/')).text).to.match(/ id="a&quot;b"><\/turbo-stream-source>$/);
    const bad = await request(app).get('/bad');
    expect([bad.status, bad.text]).to.deep.equal([500, '"x"y" is not a valid attribute name']);
  });

  it('tells how to register the ModelStream of a row whose model has none', async () => {
    class Unstreamed extends Model {}
    const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    Unstreamed.init({ name: DataTypes.STRING }, { sequelize, modelName: 'Unstreamed' });
    await sequelize.sync();
    const row = await Unstreamed.create({ name: 'x' });
    app.use(turbo);
    let thrown: unknown;
    app.get('/', (_req, res) => {
      try {
        res.send(res.locals.turboStreamFrom(row));
      } catch (error) {
        thrown = error;
        res.sendStatus(500);
      }
    });
    await request(app).get('/').expect(500);
    await sequelize.close();
    expect(thrown).to.have.property('code', ErrorCodes.INVALID_STREAM_CLASS);
    expect((thrown as Error).message).to.equal(
      'turboStreamFrom() needs a stream, a stream class or a row whose model has a registered ' +
        'ModelStream; got a Unstreamed row: register its ModelStream with registerStream() at ' +
        'startup, or export it from a streams.js (streams.ts under tsx) in a folder the discover ' +
        'option searches',
    );
  });

  it("says a row read through Model.schema() has no stream, its model's being registered", () => {
    class Tenanted extends Model {}
    const sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    Tenanted.init({ name: DataTypes.STRING }, { sequelize, modelName: 'Tenanted' });
    class TenantedStream extends ModelStream<Tenanted> {
      static override model = Tenanted;
    }
    registerStream(TenantedStream);
    const row = Tenanted.schema('tenant').build({ id: 1, name: 'x' });
    expect(() => streamOf(row))
      .to.throw(
        "turboStreamFrom() got a Tenanted row read through Model.schema(), which has no stream: stream names carry no schema, and another schema's row with the same key would share it. Subscribe to a Stream named by schema and key",
      )
      .with.property('code', ErrorCodes.INVALID_STREAM_CLASS);
    expect(streamOf(Tenanted.build({ id: 1, name: 'x' })).name).to.equal('Tenanted:1');
    return sequelize.close();
  });

  it('is available as a Pug mixin from the shipped views', async () => {
    app.use(turbo);
    const template = pug.compile(`include turbo\n+turboStreamFrom(stream)`, {
      filename: path.join(viewsPath, 'page.pug'),
      basedir: viewsPath,
    });
    app.get('/', (_req, res) =>
      res.send(template({ ...res.locals, stream: new ScoreboardStream() })),
    );
    const { text } = await request(app).get('/');
    expect(text).to.match(
      /^<turbo-stream-source src="\/turbo-streams\/[^"?]+"><\/turbo-stream-source>$/,
    );
  });
});
