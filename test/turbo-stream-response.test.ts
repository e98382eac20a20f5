import express from 'express';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { expect } from 'chai';
import {
  acceptsTurboStream,
  currentContext,
  ErrorCodes,
  Stream,
  turboStreams,
  withoutBroadcasts,
  type TurboExpressError,
  type TurboStreamsMiddleware,
} from '../lib';
import { Renderer } from '../lib/render';
import { TurboStreamResponse } from '../lib/turbo-stream-response';

/**
 * Runs `fn` with a second turboStreams() whose views render `widgets/label` as
 * `<b class="other">`, closed and its folder removed afterwards.
 */
async function withOtherViews(fn: (other: TurboStreamsMiddleware) => Promise<void>) {
  const otherViews = mkdtempSync(path.join(os.tmpdir(), 'turbo-views-'));
  mkdirSync(path.join(otherViews, 'widgets'));
  writeFileSync(path.join(otherViews, 'widgets', 'label.pug'), 'b.other= label\n');
  const other = turboStreams({ secret: 'test-secret', views: otherViews, discover: null });
  try {
    await fn(other);
  } finally {
    await other.close();
    rmSync(otherViews, { recursive: true, force: true });
  }
}

/** `widgets/label` with label "a" appended to #t, from the test views and from the other views. */
const FROM_OWN_VIEWS =
  '<turbo-stream action="append" target="t"><template><span class="label">a</span></template></turbo-stream>';
const FROM_OTHER_VIEWS =
  '<turbo-stream action="append" target="t"><template><b class="other">b</b></template></turbo-stream>';

describe('res.turboStream', () => {
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
    app.use(turbo);
  });

  afterEach(() => turbo.close());

  it('sends several actions with the Turbo Stream content type', async () => {
    app.post('/messages', (_req, res) => {
      res.turboStream
        .append('widgets/label', { label: 'new' }, { target: 'messages' })
        .remove({ target: 'message-3' })
        .update({ target: 'count', html: '4' })
        .send();
    });
    const response = await request(app)
      .post('/messages')
      .set('Accept', 'text/vnd.turbo-stream.html, text/html');
    expect(response.status).to.equal(200);
    expect(response.headers['content-type']).to.equal('text/vnd.turbo-stream.html; charset=utf-8');
    expect(response.text).to.equal(
      [
        '<turbo-stream action="append" target="messages"><template><span class="label">new</span></template></turbo-stream>',
        '<turbo-stream action="remove" target="message-3"></turbo-stream>',
        '<turbo-stream action="update" target="count"><template>4</template></turbo-stream>',
      ].join('\n'),
    );
  });

  it('renders partials with res.locals under the given locals', async () => {
    app.post('/x', (_req, res) => {
      res.locals.label = 'from locals';
      res.turboStream.replace('widgets/label', {}, { target: 'x', method: 'morph' }).send();
    });
    const response = await request(app).post('/x');
    expect(response.text).to.equal(
      '<turbo-stream action="replace" target="x" method="morph"><template><span class="label">from locals</span></template></turbo-stream>',
    );
  });

  it('carries the request id into a refresh', async () => {
    app.post('/r', (_req, res) => res.turboStream.refresh().send());
    const response = await request(app).post('/r').set('X-Turbo-Request-Id', 'req-42');
    expect(response.text).to.equal(
      '<turbo-stream action="refresh" request-id="req-42"></turbo-stream>',
    );
  });

  it('carries a repeated request id header as Node joins it', async () => {
    app.post('/r', (_req, res) => res.turboStream.refresh().send());
    const response = await request(app)
      .post('/r')
      .set('X-Turbo-Request-Id', ['a', 'b'] as unknown as string);
    expect(response.text).to.equal(
      '<turbo-stream action="refresh" request-id="a, b"></turbo-stream>',
    );
  });

  it('can be replaced by the app, like any property of the response', async () => {
    app.post('/v', (_req, res) => {
      const builder = res.turboStream;
      res.turboStream = undefined as never;
      res.set('X-Cleared', String(res.turboStream));
      res.turboStream = builder;
      builder.remove({ target: 'x' });
      res.turboStream.send();
    });
    const response = await request(app).post('/v');
    expect(response.headers['x-cleared']).to.equal('undefined');
    expect(response.text).to.equal('<turbo-stream action="remove" target="x"></turbo-stream>');
  });

  it('works alongside a second copy of turbo-express loaded in the same process', async () => {
    const libDir = path.join(__dirname, '..', 'lib') + path.sep;
    const ours = (key: string) => key.startsWith(libDir);
    const kept = Object.entries(require.cache).filter(([key]) => ours(key));
    for (const [key] of kept) delete require.cache[key];
    let copy: typeof import('../lib');
    try {
      copy = require('../lib') as typeof import('../lib');
    } finally {
      for (const key of Object.keys(require.cache).filter(ours)) delete require.cache[key];
      for (const [key, module] of kept) require.cache[key] = module;
    }
    expect(copy.turboStreams).to.not.equal(turboStreams);

    const other = copy.turboStreams({ secret: 'test-secret', discover: null });
    try {
      const otherApp = express();
      otherApp.use(other);
      otherApp.post('/x', (_req, res) => res.turboStream.remove({ target: 'b' }).send());
      app.post('/x', (_req, res) => res.turboStream.remove({ target: 'a' }).send());
      const [fromCopy, fromOurs] = await Promise.all([
        request(otherApp).post('/x'),
        request(app).post('/x'),
      ]);
      expect([fromCopy.text, fromOurs.text]).to.deep.equal([
        '<turbo-stream action="remove" target="b"></turbo-stream>',
        '<turbo-stream action="remove" target="a"></turbo-stream>',
      ]);
    } finally {
      await other.close();
    }
  });

  it('is one builder per response, in sub-apps too', async () => {
    const rooms = express();
    rooms.post('/:id/messages', (_req, res) => {
      res.turboStream.append({ target: 'messages', html: '<p>1</p>' });
      res.turboStream.remove({ target: 'form' });
      res.turboStream.send();
    });
    app.use('/rooms', rooms);

    const response = await request(app).post('/rooms/4/messages');
    expect(response.text).to.equal(
      '<turbo-stream action="append" target="messages"><template><p>1</p></template></turbo-stream>\n' +
        '<turbo-stream action="remove" target="form"></turbo-stream>',
    );
  });

  it('follows the request back out of a sub-app that mounts turboStreams(), into its error handler too', async () => {
    const bundle = express();
    bundle.use(turbo);
    const parent = express();
    parent.use(bundle);
    parent.post('/p', (_req, res) => res.turboStream.refresh().send());
    parent.post('/fails', () => {
      throw new Error('body is empty');
    });
    parent.use(
      (error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(422);
        res.turboStream.update({ target: 'form-errors', html: error.message }).send();
      },
    );

    const refreshed = await request(parent).post('/p').set('X-Turbo-Request-Id', 'abc');
    expect(refreshed.text).to.equal(
      '<turbo-stream action="refresh" request-id="abc"></turbo-stream>',
    );
    const failed = await request(parent).post('/fails');
    expect(failed.status).to.equal(422);
    expect(failed.text).to.equal(
      '<turbo-stream action="update" target="form-errors"><template>body is empty</template></turbo-stream>',
    );
  });

  it('is undefined on a route reached before turboStreams(), however many requests went through it', async () => {
    const early = express();
    const seen: string[] = [];
    early.post('/early', (_req, res) => {
      seen.push(typeof res.turboStream);
      res.sendStatus(204);
    });
    early.use(turbo);
    early.post('/late', (_req, res) => res.turboStream.refresh().send());

    await request(early).post('/early').expect(204);
    await request(early).post('/late').expect(200);
    await request(early).post('/early').expect(204);
    expect(seen).to.deep.equal(['undefined', 'undefined']);
  });

  it('takes the builder of the last turboStreams() a request went through, even once read or set', async () => {
    await withOtherViews(async (other) => {
      const checked = express();
      checked.use((_req, res, next) => {
        res.turboStream = 'set by the app' as never;
        next();
      });
      checked.use(turbo);
      checked.use((_req, res, next) => {
        res.locals.hasTurboStream = res.turboStream !== undefined;
        next();
      });
      const admin = express();
      admin.use(other);
      admin.post('/x', (_req, res) => {
        res.turboStream.append('widgets/label', { label: 'b' }, { target: 't' }).send();
      });
      checked.use('/admin', admin);
      checked.post('/x', (_req, res) => {
        res.turboStream.append('widgets/label', { label: 'a' }, { target: 't' }).send();
      });

      const [fromAdmin, fromApp] = await Promise.all([
        request(checked).post('/admin/x'),
        request(checked).post('/x'),
      ]);
      expect([fromAdmin.text, fromApp.text]).to.deep.equal([FROM_OTHER_VIEWS, FROM_OWN_VIEWS]);
    });
  });

  it('is given to a stand-in response that is no Node response, as unit tests pass', () => {
    const res = { locals: {} } as unknown as express.Response;
    const req = {
      method: 'POST',
      path: '/x',
      get: (name: string) => (name.toLowerCase() === 'x-turbo-request-id' ? 'r2' : undefined),
    } as unknown as express.Request;
    let seen: unknown;
    turbo(req, res, () => {
      seen = [res.turboStream.remove({ target: 'x' }).toString(), currentContext().requestId];
    });
    expect(seen).to.deep.equal(['<turbo-stream action="remove" target="x"></turbo-stream>', 'r2']);
  });

  it('renders from the views of the turboStreams() the response went through, while others run', async () => {
    await withOtherViews(async (other) => {
      const admin = express.Router();
      admin.use(other);
      admin.post('/x', async (_req, res) => {
        await new Promise((resolve) => setTimeout(resolve, 50));
        res.turboStream.append('widgets/label', { label: 'b' }, { target: 't' }).send();
      });
      app.use('/admin', admin);
      app.post('/x', (_req, res) => {
        res.turboStream.append('widgets/label', { label: 'a' }, { target: 't' }).send();
      });

      const [fromAdmin, fromApp] = await Promise.all([
        request(app).post('/admin/x'),
        new Promise((resolve) => setTimeout(resolve, 10)).then(() => request(app).post('/x')),
      ]);
      expect([fromAdmin.text, fromApp.text]).to.deep.equal([FROM_OTHER_VIEWS, FROM_OWN_VIEWS]);
    });
  });

  it('is not on the responses of an app that does not use turboStreams()', async () => {
    const unrelated = express();
    unrelated.post('/x', (_req, res) => res.send(typeof res.turboStream));
    app.post('/x', (_req, res) => res.turboStream.refresh().send());
    expect((await request(app).post('/x')).text).to.equal(
      '<turbo-stream action="refresh"></turbo-stream>',
    );
    expect((await request(unrelated).post('/x')).text).to.equal('undefined');
  });

  it('leaves the string keys of res.locals to the app, and is lost with a replaced res.locals', async () => {
    app.post('/keys', (_req, res) => res.json(Object.keys(res.locals)));
    app.post('/replaced', (_req, res) => {
      res.locals = { title: 'new' } as unknown as typeof res.locals;
      res.send(typeof res.turboStream);
    });
    expect((await request(app).post('/keys')).body).to.deep.equal(['turboStreamFrom']);
    expect((await request(app).post('/replaced')).text).to.equal('undefined');
  });

  for (const [what, fallback] of [
    ['a string', ''],
    ['a function', () => 'not a builder'],
  ] as const) {
    it(`reads undefined, not a throw, where res.locals answers every key with ${what}`, async () => {
      const unrelated = express();
      unrelated.use((_req, res, next) => {
        res.locals = new Proxy(Object.create(null) as Record<PropertyKey, unknown>, {
          get: (target, key) => (key in target ? target[key] : fallback),
        }) as typeof res.locals;
        next();
      });
      unrelated.get('/z', (_req, res) => res.send(typeof res.turboStream));
      expect((await request(unrelated).get('/z')).text).to.equal('undefined');
    });
  }

  it('throws where the action is added when its partial fails, giving a 500', async () => {
    app.post('/bad', (_req, res) => {
      res.turboStream.append('widgets/throws', {}, { target: 'x' }).send();
    });
    app.use(
      (error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
        res.status(500).send(error.message);
      },
    );
    const response = await request(app).post('/bad');
    expect(response.status).to.equal(500);
    expect(response.text).to.match(
      /^The partial "widgets\/throws" threw while rendering: [\s\S]*partial exploded$/,
    );
  });
});

describe('acceptsTurboStream', () => {
  it('is true for the Accept header Turbo sends with form submissions', async () => {
    const app = express();
    app.get('/', (req, res) => res.json(acceptsTurboStream(req)));
    const turboForm = await request(app)
      .get('/')
      .set('Accept', 'text/vnd.turbo-stream.html, text/html, application/xhtml+xml');
    const plain = await request(app).get('/').set('Accept', 'text/html');
    expect([turboForm.body, plain.body]).to.deep.equal([true, false]);
  });
});

describe('where partials are read from', () => {
  const fixtures = path.join(__dirname, 'fixtures', 'views');
  const opened: TurboStreamsMiddleware[] = [];

  afterEach(async () => {
    for (const turbo of opened.splice(0)) await turbo.close();
  });

  function appWithViews(setting: string | string[], options: { views?: string } = {}) {
    const app = express();
    app.set('env', 'test'); // Express's error handler logs nothing in tests.
    app.set('views', setting);
    const turbo = turboStreams({ secret: 'test-secret', discover: null, ...options });
    opened.push(turbo);
    app.use(turbo);
    app.post('/x', (_req, res) => {
      res.turboStream.append('widgets/label', { label: 'a' }, { target: 't' }).send();
    });
    return app;
  }

  it("uses the app's views setting when given no views of its own", async () => {
    const response = await request(appWithViews(fixtures)).post('/x');
    expect(response.status).to.equal(200);
    expect(response.text).to.equal(FROM_OWN_VIEWS);
  });

  it('uses the first folder of a list, as Express looks there first', async () => {
    const response = await request(appWithViews([fixtures, '/nowhere'])).post('/x');
    expect(response.text).to.equal(FROM_OWN_VIEWS);
  });

  it("prefers its own views option to the app's setting", async () => {
    const app = appWithViews('/nowhere', { views: fixtures });
    expect((await request(app).post('/x')).text).to.equal(FROM_OWN_VIEWS);
    const elsewhere = appWithViews(fixtures, { views: '/nowhere' });
    const failed = await request(elsewhere).post('/x');
    expect(failed.status).to.equal(500);
  });
});

describe('action options', () => {
  let turbo: TurboStreamsMiddleware;

  beforeEach(() => {
    turbo = turboStreams({
      secret: 'test-secret',
      views: path.join(__dirname, 'fixtures', 'views'),
      discover: null,
    });
  });

  afterEach(() => turbo.close());

  class Lobby extends Stream {}

  it('refuses a key an action does not take, naming the keys it takes', async () => {
    const lobby = new Lobby();
    const refusals = [
      lobby.append('widgets/label', {}, { tagret: 'x' } as never),
      lobby.append({ target: 'x', partial: 'widgets/label' } as never),
      lobby.remove({ target: 'x', scroll: 'reset' } as never),
      lobby.refresh({ morph: true } as never),
      lobby.broadcast('update', { target: 'x', html: '1', requestId: 'r' }),
    ].map((sent) =>
      sent.then(
        () => null,
        (error: TurboExpressError) => error,
      ),
    );
    const errors = await Promise.all(refusals);
    expect(errors.map((error) => error?.code)).to.deep.equal(
      Array(5).fill(ErrorCodes.INVALID_OPTION),
    );
    expect(errors.map((error) => error?.message)).to.deep.equal([
      'append() takes no option "tagret"; it takes target, targets, method',
      'append() takes no option "partial"; it takes target, targets, method, template, locals, html',
      'remove() takes no option "scroll"; it takes target, targets',
      'refresh() takes no option "morph"; it takes method, scroll, requestId',
      'update() takes no option "requestId"; it takes target, targets, method, template, locals, html',
    ]);
    expect(() => lobby.refreshLater({ wait: 10 } as never)).to.throw(
      'refreshLater() takes no option "wait"; it takes method, scroll, requestId, delay',
    );
  });

  it('refuses options that are no object, and a request id that is no string', async () => {
    const lobby = new Lobby();
    const refusals = [
      lobby.refresh(5 as never),
      lobby.refresh([] as never),
      lobby.remove('x' as never),
      lobby.append('widgets/label', {}, 'x' as never),
      lobby.refresh({ requestId: ['a"'.repeat(20)] } as never),
      lobby.broadcast('refresh', { requestId: 7 } as never),
      lobby.refresh(new Map([['requestId', 'abc']]) as never),
      lobby.remove(Object.create({ target: 'inherited' }) as never),
      lobby.refresh({ requestId: null } as never),
      lobby.refresh(new (class Options {})() as never),
      lobby.replace({ target: 'x', html: '', method: { morph: true } } as never),
    ].map((sent) =>
      sent.then(
        () => null,
        (error: TurboExpressError) => error,
      ),
    );
    const errors = await Promise.all(refusals);
    expect(errors.map((error) => error?.message)).to.deep.equal([
      'refresh() takes an options object, not a number',
      'refresh() takes an options object, not an array',
      'remove() takes an options object, not "x"',
      'append() takes an options object, not "x"',
      'requestId must be a string, on refresh only; got an array on refresh',
      'requestId must be a string, on refresh only; got a number on refresh',
      'refresh() takes an options object, not a Map',
      'remove() takes an options object, not an object with a prototype of its own',
      'requestId must be a string, on refresh only; got null on refresh',
      'refresh() takes an options object, not an Options',
      'The replace action\'s method must be "morph", not an object',
    ]);
    expect(() => withoutBroadcasts(() => lobby.refreshLater({ requestId: 5 } as never))).to.throw(
      'requestId must be a string',
    );
    // What was escaped after the refusals is still escaped.
    const response = new TurboStreamResponse({ locals: {} } as never, new Renderer('views'));
    expect(response.remove({ targets: '[data-tag="x"]' }).toString()).to.equal(
      '<turbo-stream action="remove" targets="[data-tag=&quot;x&quot;]"></turbo-stream>',
    );
  });

  it('refuses an unknown key in res.turboStream too', () => {
    const response = new TurboStreamResponse({ locals: {} } as never, new Renderer('views'));
    expect(() => response.remove({ id: 'x' } as never)).to.throw('remove() takes no option "id"');
  });
});
