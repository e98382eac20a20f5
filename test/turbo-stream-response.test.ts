import express from 'express';
import path from 'node:path';
import request from 'supertest';
import { expect } from 'chai';
import { acceptsTurboStream, turboStreams, type TurboStreamsMiddleware } from '../lib';

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
