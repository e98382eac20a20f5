import { expect } from 'chai';
import http from 'node:http';
import type { Request } from 'express';
import { DataTypes, Model, Sequelize } from 'sequelize';
import { ModelStream, registerStream, Stream } from '../lib';
import { StreamNameSigner } from '../lib/stream-name';
import { startServer, type TestServer } from './support/chat-app';
import { settle, SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

/** Signed in users by session id; signing out deletes the entry. */
const sessions = new Map<string, string>();

class MembersStream extends Stream {
  override userPassesTest(user: unknown): boolean {
    return typeof user === 'string';
  }
}

class ThrowingTestStream extends Stream {
  override userPassesTest(): boolean {
    throw new Error('policy store unavailable');
  }
}

/** A stream class whose keys stand for nothing, as a deleted row's. */
class VanishingStream extends Stream {
  static override async resolve(): Promise<Stream | null> {
    return null;
  }
}

class BrokenResolveStream extends Stream {
  static override async resolve(): Promise<Stream | null> {
    throw new Error('invalid input syntax for type integer');
  }
}

describe('access', () => {
  let server: TestServer;
  const clients: SseClient[] = [];

  async function start(options = {}): Promise<void> {
    for (const streamClass of [
      MembersStream,
      ThrowingTestStream,
      BrokenResolveStream,
      VanishingStream,
    ]) {
      registerStream(streamClass);
    }
    server = await startServer({
      currentUser: (req: Request) => sessions.get(req.get('x-session') ?? ''),
      ...options,
    });
  }

  async function open(src: string, session = 's1'): Promise<SseClient> {
    const client = await SseClient.open(src, { 'x-session': session });
    clients.push(client);
    return client;
  }

  beforeEach(() => {
    sessions.clear();
    sessions.set('s1', 'ada');
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server?.close();
  });

  describe('tokenTtl', () => {
    it('accepts a signed name before it expires and answers 403 after', async () => {
      await start({ tokenTtl: 150 });
      const src = await server.sourceFor(new MembersStream());
      expect((await open(src)).status).to.equal(200);
      await settle(200);
      const late = await open(src);
      expect(late.status).to.equal(403);
      expect(late.body).to.equal('Forbidden');
      expect(server.turbo.connectionCount).to.equal(1);
    });
  });

  describe('recheckInterval', () => {
    it('closes the stream of a user who signed out within the interval and refuses the reconnect', async () => {
      await start({ recheckInterval: 50 });
      const src = await server.sourceFor(new MembersStream());
      const kept = await open(src, 's2');
      expect(kept.status).to.equal(403); // s2 is not signed in yet
      sessions.set('s2', 'grace');
      const staying = await open(src, 's2');
      const leaving = await open(src, 's1');
      expect([staying.status, leaving.status]).to.deep.equal([200, 200]);

      const signedOutAt = Date.now();
      sessions.delete('s1');
      await leaving.waitForEnd(1000);
      expect(Date.now() - signedOutAt).to.be.below(50 * 3);
      expect(staying.ended).to.equal(false);
      expect(server.turbo.connectionCount).to.equal(1);

      const again = await open(src, 's1');
      expect(again.status).to.equal(403);
    });

    it('closes a stream whose currentUser starts throwing', async () => {
      let isStoreUp = true;
      registerStream(MembersStream);
      server = await startServer({
        recheckInterval: 30,
        currentUser: () => {
          if (!isStoreUp) throw new Error('session store down');
          return 'ada';
        },
      });
      const client = await open(await server.sourceFor(new MembersStream()));
      expect(client.status).to.equal(200);
      isStoreUp = false;
      await client.waitForEnd(1000);
    });
  });

  it('answers 403 when userPassesTest throws, and opens no stream', async () => {
    await start();
    const client = await open(await server.sourceFor(new ThrowingTestStream()));
    expect([client.status, client.body]).to.deep.equal([403, 'Forbidden']);
    expect(server.turbo.connectionCount).to.equal(0);
  });

  it('answers 404 when resolving the name throws', async () => {
    await start();
    const client = await open(await server.sourceFor(new BrokenResolveStream('x')));
    expect([client.status, client.body]).to.deep.equal([404, 'Not Found']);
  });

  describe('a validly signed name no stream class in this process claims', () => {
    it('answers 200 with one refresh and ends, so the page reloads and registers the class', async () => {
      await start();
      const token = new StreamNameSigner('test-secret').sign('NeverRenderedHereStream:1');
      const client = await open(`${server.url}/turbo-streams/${token}?after=abc-1`);
      await client.waitForEnd(1000);
      expect(client.status).to.equal(200);
      expect(client.headers['content-type']).to.equal('text/event-stream; charset=utf-8');
      expect(client.raw).to.equal(
        'retry: 2000\n\ndata: <turbo-stream action="refresh"></turbo-stream>\n\n',
      );
      expect(server.turbo.stats()).to.include({ connections: 0, pendingSubscriptions: 0 });
    });

    it('answers 404 when the class is known but the key stands for nothing', async () => {
      await start();
      const src = await server.sourceFor(new VanishingStream('gone'));
      const client = await open(src);
      expect([client.status, client.body]).to.deep.equal([404, 'Not Found']);
    });
  });

  describe('checkTimeout at connect', () => {
    /** Calls made to a check that never settles, as a session store that stalls. */
    let stalled = 0;

    class StalledTestStream extends Stream {
      override userPassesTest(): Promise<boolean> {
        stalled += 1;
        return new Promise<boolean>(() => undefined);
      }
    }

    beforeEach(() => {
      stalled = 0;
      registerStream(StalledTestStream);
    });

    it('answers 403 when userPassesTest takes longer, and forgets the subscription', async () => {
      await start({ checkTimeout: 100 });
      const src = await server.sourceFor(new StalledTestStream());
      const started = Date.now();
      const client = await open(src);
      expect([client.status, client.body]).to.deep.equal([403, 'Forbidden']);
      expect(Date.now() - started).to.be.within(90, 1000);
      expect(stalled).to.equal(1);
      expect(server.turbo.stats()).to.include({ connections: 0, pendingSubscriptions: 0 });
    });

    it('answers 403 when currentUser never settles', async () => {
      await start({ checkTimeout: 100, currentUser: () => new Promise(() => undefined) });
      const client = await open(await server.sourceFor(new MembersStream()));
      expect([client.status, client.body]).to.deep.equal([403, 'Forbidden']);
      expect(server.turbo.stats().pendingSubscriptions).to.equal(0);
    });

    it('counts subscriptions whose check is still running', async () => {
      await start({ checkTimeout: 300 });
      const src = await server.sourceFor(new StalledTestStream());
      const answers = Array.from({ length: 3 }, () => open(src));
      await waitFor(() => stalled === 3, 1000, 'three checks to start');
      expect(server.turbo.stats()).to.include({ connections: 0, pendingSubscriptions: 3 });
      const statuses = (await Promise.all(answers)).map((client) => client.status);
      expect(statuses).to.deep.equal([403, 403, 403]);
      expect(server.turbo.stats().pendingSubscriptions).to.equal(0);
    });
  });

  it('forgets a client that leaves while userPassesTest is awaited', async () => {
    let release: () => void = () => undefined;
    class SlowTestStream extends Stream {
      override async userPassesTest(): Promise<boolean> {
        await new Promise<void>((resolve) => (release = resolve));
        return true;
      }
    }
    registerStream(SlowTestStream);
    await start();
    const src = await server.sourceFor(new SlowTestStream());
    const request = http.get(src, { headers: { 'x-session': 's1' } });
    let isAnswered = false;
    request.on('response', () => (isAnswered = true));
    request.on('error', () => undefined);
    await settle(50);
    request.destroy();
    await settle(20);
    release();
    await settle(50);
    expect(isAnswered).to.equal(false);
    expect(server.turbo.stats()).to.deep.equal({
      connections: 0,
      pendingSubscriptions: 0,
      streams: 0,
      backlogBytes: 0,
      hasTimers: false,
    });
  });

  describe('with an integer primary key in PostgreSQL', () => {
    let sequelize: Sequelize | undefined;

    afterEach(async () => {
      await sequelize?.close();
      sequelize = undefined;
    });

    it('answers 404, not 500, for a key that is not a number', async function () {
      sequelize = new Sequelize('postgres://postgres@127.0.0.1:5432/test', { logging: false });
      try {
        await sequelize.authenticate();
      } catch (error) {
        if (process.env.CI === 'true') throw error;
        this.skip(); // PostgreSQL is not running at 127.0.0.1:5432
      }
      class AccessBoard extends Model {}
      AccessBoard.init(
        { id: { type: DataTypes.INTEGER, primaryKey: true, autoIncrement: true } },
        { sequelize, modelName: 'AccessBoard', tableName: 'access_boards_test' },
      );
      await AccessBoard.sync({ force: true });
      class AccessBoardStream extends ModelStream<AccessBoard> {
        static override model = AccessBoard;
      }
      registerStream(AccessBoardStream);
      await start();
      const signer = new StreamNameSigner('test-secret');
      const bad = await open(`${server.url}/turbo-streams/${signer.sign('AccessBoard:abc')}`);
      const missing = await open(`${server.url}/turbo-streams/${signer.sign('AccessBoard:12345')}`);
      expect([bad.status, missing.status]).to.deep.equal([404, 404]);
      await AccessBoard.drop();
    });
  });
});
