import { expect } from 'chai';
import {
  ErrorCodes,
  recordBroadcasts,
  Stream,
  TurboExpressError,
  type BroadcastRecorder,
} from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { SseClient } from './support/sse-client';

class LobbyStream extends Stream {}

class DashboardStream extends Stream {
  static override streamName = 'dashboard';
}

describe('Stream', () => {
  let server: TestServer;
  let recorder: BroadcastRecorder;
  const errors: TurboExpressError[] = [];
  const clients: SseClient[] = [];

  beforeEach(async () => {
    errors.length = 0;
    server = await startServer({ onError: (error) => errors.push(error) });
    recorder = recordBroadcasts();
  });

  afterEach(async () => {
    recorder.stop();
    for (const client of clients.splice(0)) client.close();
    await server.close();
  });

  describe('name', () => {
    it('is the class name, or the class name and the key', () => {
      expect(new LobbyStream().name).to.equal('LobbyStream');
      expect(new LobbyStream(4).name).to.equal('LobbyStream:4');
    });

    it('uses static streamName when set', () => {
      expect(new DashboardStream('team-4').name).to.equal('dashboard:team-4');
    });
  });

  describe('actions', () => {
    it('sends each content action with a partial', async () => {
      const lobby = new LobbyStream();
      for (const action of ['append', 'prepend', 'replace', 'update', 'before', 'after'] as const) {
        await lobby[action]('widgets/label', { label: action }, { target: 'box' });
      }
      expect(recorder.broadcasts.map((b) => b.element)).to.deep.equal(
        ['append', 'prepend', 'replace', 'update', 'before', 'after'].map(
          (action) =>
            `<turbo-stream action="${action}" target="box"><template><span class="label">${action}</span></template></turbo-stream>`,
        ),
      );
    });

    it('takes ready HTML and a targets selector in one object', async () => {
      await new LobbyStream().update({ targets: '.score', html: '<b>3</b>' });
      expect(recorder.broadcasts[0]).to.deep.include({
        stream: 'LobbyStream',
        action: 'update',
        targets: '.score',
        html: '<b>3</b>',
        element:
          '<turbo-stream action="update" targets=".score"><template><b>3</b></template></turbo-stream>',
      });
    });

    it('morphs on replace when asked', async () => {
      await new LobbyStream().replace(
        'widgets/label',
        { label: 'x' },
        { target: 'card', method: 'morph' },
      );
      expect(recorder.broadcasts[0].element).to.equal(
        '<turbo-stream action="replace" target="card" method="morph"><template><span class="label">x</span></template></turbo-stream>',
      );
    });

    it('sends remove and refresh without content', async () => {
      await new LobbyStream().remove({ target: 'player-2' });
      await new LobbyStream().refresh({ requestId: 'abc', method: 'morph' });
      expect(recorder.broadcasts.map((b) => b.element)).to.deep.equal([
        '<turbo-stream action="remove" target="player-2"></turbo-stream>',
        '<turbo-stream action="refresh" method="morph" request-id="abc"></turbo-stream>',
      ]);
    });

    it('rejects a content action without a target', async () => {
      const error = await new LobbyStream()
        .append('widgets/label', { label: 'x' }, {})
        .catch((e: unknown) => e);
      expect(error)
        .to.be.instanceOf(TurboExpressError)
        .with.property('code', ErrorCodes.INVALID_TARGET);
    });

    it('rejects content given both as a partial and as html', async () => {
      const error = await new LobbyStream()
        .append({ target: 'x', template: 'widgets/label', html: '<p></p>' })
        .catch((e: unknown) => e);
      expect(error)
        .to.be.instanceOf(TurboExpressError)
        .with.property('code', ErrorCodes.INVALID_OPTION);
    });
  });

  describe('broadcasting to subscribers', () => {
    it('renders the partial once for any number of subscribers', async () => {
      const src = await server.sourceFor(new LobbyStream());
      for (let i = 0; i < 20; i++) clients.push(await SseClient.open(src));
      const counter = { renders: 0 };
      await new LobbyStream().append(
        'widgets/counted',
        { counter, label: 'once' },
        { target: 'log' },
      );
      await Promise.all(clients.map((client) => client.waitForEvents(1)));
      expect(counter.renders).to.equal(1);
      for (const client of clients) {
        expect(client.data).to.deep.equal([
          '<turbo-stream action="append" target="log"><template><span>once</span></template></turbo-stream>',
        ]);
      }
    });

    it('hands a throwing partial to onError, resolves false and keeps broadcasting', async () => {
      const lobby = new LobbyStream();
      const client = await SseClient.open(await server.sourceFor(lobby));
      clients.push(client);
      expect(await lobby.append('widgets/throws', {}, { target: 'log' })).to.equal(false);
      expect(await lobby.append('widgets/label', { label: 'after' }, { target: 'log' })).to.equal(
        true,
      );
      await client.waitForEvents(1);
      expect(client.data).to.deep.equal([
        '<turbo-stream action="append" target="log"><template><span class="label">after</span></template></turbo-stream>',
      ]);
      expect(errors).to.have.length(1);
      expect(errors[0]).to.include({
        code: ErrorCodes.RENDER_FAILED,
        stream: 'LobbyStream',
        template: 'widgets/throws',
      });
    });

    it('reports a missing partial to onError with the stream and template', async () => {
      expect(await new LobbyStream(1).append('nowhere/here', {}, { target: 'x' })).to.equal(false);
      expect(errors.map((e) => [e.code, e.stream, e.template])).to.deep.equal([
        [ErrorCodes.TEMPLATE_NOT_FOUND, 'LobbyStream:1', 'nowhere/here'],
      ]);
    });
  });
});
