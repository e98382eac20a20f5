import { expect } from 'chai';
import v8 from 'node:v8';
import vm from 'node:vm';
import { DataTypes, Model, Sequelize } from 'sequelize';
import { ModelStream, registerStream, Stream, type TurboStreamsOptions } from '../lib';
import { startServer, type TestServer } from './support/chat-app';
import { settle, SseClient } from './support/sse-client';
import { waitFor } from './support/wait';

class RecheckDoc extends Model {
  declare id: number;
  declare ownerId: string;
}

/** How often the stream of a document was resolved, and whether resolving throws. */
const resolving = { calls: 0, isBroken: false };

class RecheckDocStream extends ModelStream<RecheckDoc> {
  static override model = RecheckDoc;

  static override async resolve(key: string | undefined): Promise<Stream | null> {
    resolving.calls += 1;
    if (resolving.isBroken) throw new Error('connection to the database lost');
    return super.resolve(key);
  }

  override userPassesTest(user: unknown): boolean {
    return this.instance.ownerId === user;
  }
}

/** Users whose check hangs, as a session lookup that stalls; and users who are signed in. */
const hanging = new Set<string>();
const signedIn = new Set<string>();
/** The requests checks were given, held weakly, to see whether anything else keeps them. */
const checkedRequests: WeakRef<object>[] = [];

class RecheckLobbyStream extends Stream {
  override userPassesTest(user: unknown, req: object): boolean | Promise<boolean> {
    checkedRequests.push(new WeakRef(req));
    if (hanging.has(user as string)) return new Promise<boolean>(() => undefined);
    return signedIn.has(user as string);
  }
}

describe('re-checks of open streams', () => {
  let sequelize: Sequelize;
  let server: TestServer;
  const clients: SseClient[] = [];

  beforeEach(async () => {
    resolving.calls = 0;
    resolving.isBroken = false;
    hanging.clear();
    signedIn.clear();
    checkedRequests.length = 0;
    sequelize = new Sequelize({ dialect: 'sqlite', storage: ':memory:', logging: false });
    RecheckDoc.init({ ownerId: DataTypes.STRING }, { sequelize, modelName: 'RecheckDoc' });
    await sequelize.sync();
    registerStream(RecheckDocStream);
    registerStream(RecheckLobbyStream);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await server?.close();
    await sequelize.close();
  });

  async function start(options: TurboStreamsOptions = {}): Promise<void> {
    server = await startServer({ recheckInterval: 40, ...options });
  }

  async function open(src: string, user: string): Promise<SseClient> {
    const client = await SseClient.open(src, { 'x-user': user });
    clients.push(client);
    return client;
  }

  it('ends the stream of a user once the row moved to another owner, and refuses the reconnect', async () => {
    await start();
    const doc = await RecheckDoc.create({ ownerId: 'alice' });
    const src = await server.sourceFor(doc);
    const alice = await open(src, 'alice');
    expect(alice.status).to.equal(200);

    await RecheckDoc.update({ ownerId: 'bob' }, { where: { id: doc.id } });
    await alice.waitForEnd(1000);
    expect(server.turbo.connectionCount).to.equal(0);
    expect((await open(src, 'alice')).status).to.equal(403);
    expect((await open(src, 'bob')).status).to.equal(200);
  });

  it('ends every stream of a deleted row at the next re-check, and answers 404 after', async () => {
    await start();
    const doc = await RecheckDoc.create({ ownerId: 'alice' });
    const src = await server.sourceFor(doc);
    const first = await open(src, 'alice');
    const second = await open(src, 'alice');

    await RecheckDoc.destroy({ where: { id: doc.id } });
    await first.waitForEnd(1000);
    await second.waitForEnd(1000);
    expect(server.turbo.connectionCount).to.equal(0);
    const again = await open(src, 'alice');
    expect([again.status, again.body]).to.deep.equal([404, 'Not Found']);
  });

  it('resolves each stream once per round, whatever the number of its connections', async () => {
    await start({ recheckInterval: 60 });
    const doc = await RecheckDoc.create({ ownerId: 'alice' });
    const other = await RecheckDoc.create({ ownerId: 'alice' });
    const src = await server.sourceFor(doc);
    const otherSrc = await server.sourceFor(other);
    for (let i = 0; i < 4; i++) await open(src, 'alice');
    await open(otherSrc, 'alice');
    await waitFor(() => server.turbo.connectionCount === 5, 1000, 'five connections');

    const before = resolving.calls;
    await settle(60 * 3 + 30);
    const rounds = resolving.calls - before;
    // Two streams: an even count, about two per round, never one per connection.
    expect(rounds % 2).to.equal(0);
    expect(rounds / 2).to.be.within(2, 4);
    expect(server.turbo.connectionCount).to.equal(5);
  });

  it('ends the streams whose row cannot be resolved on re-check', async () => {
    await start();
    const doc = await RecheckDoc.create({ ownerId: 'alice' });
    const alice = await open(await server.sourceFor(doc), 'alice');
    resolving.isBroken = true;
    await alice.waitForEnd(1000);
    expect(server.turbo.connectionCount).to.equal(0);
  });

  describe('checkTimeout', () => {
    it('ends a stream whose check hangs, and keeps re-checking the others', async () => {
      await start({ checkTimeout: 150 });
      signedIn.add('alice').add('mallory').add('grace');
      const src = await server.sourceFor(new RecheckLobbyStream());
      const alice = await open(src, 'alice');
      const mallory = await open(src, 'mallory');
      const grace = await open(src, 'grace');

      hanging.add('alice');
      await alice.waitForEnd(1000);
      hanging.clear();
      const signedOutAt = Date.now();
      signedIn.delete('mallory');
      await mallory.waitForEnd(1000);
      expect(Date.now() - signedOutAt).to.be.below(150 + 40 * 3);
      await settle(100);
      expect(grace.ended).to.equal(false);
      expect(server.turbo.connectionCount).to.equal(1);
    });

    it('keeps re-checking the other streams while one check hangs', async () => {
      await start({ checkTimeout: 5000 });
      signedIn.add('alice').add('mallory');
      const src = await server.sourceFor(new RecheckLobbyStream());
      const alice = await open(src, 'alice');
      const mallory = await open(src, 'mallory');

      hanging.add('alice');
      await settle(100);
      const signedOutAt = Date.now();
      signedIn.delete('mallory');
      await mallory.waitForEnd(1000);
      expect(Date.now() - signedOutAt).to.be.below(40 * 4);
      expect(alice.ended).to.equal(false);
      expect(server.turbo.connectionCount).to.equal(1);
    });
  });

  describe('the request of an open stream', () => {
    v8.setFlagsFromString('--expose-gc');
    const collectGarbage = vm.runInNewContext('gc') as () => void;

    /** Collects garbage until no check's request is alive, or returns how many still are. */
    async function aliveAfterGc(): Promise<number> {
      let alive = checkedRequests.length;
      for (let round = 0; round < 20 && alive > 0; round++) {
        await settle(20);
        collectGarbage();
        alive = checkedRequests.filter((ref) => ref.deref() !== undefined).length;
      }
      return alive;
    }

    it('is let go once the stream is open when access is never re-checked', async () => {
      await start({ recheckInterval: null });
      signedIn.add('alice');
      const alice = await open(await server.sourceFor(new RecheckLobbyStream()), 'alice');
      expect(alice.status).to.equal(200);
      expect(checkedRequests).to.have.length(1);
      expect(await aliveAfterGc()).to.equal(0);
      expect(server.turbo.connectionCount).to.equal(1);
    });

    it('is kept for the re-checks when they run', async () => {
      await start({ recheckInterval: 60_000 });
      signedIn.add('alice');
      const alice = await open(await server.sourceFor(new RecheckLobbyStream()), 'alice');
      expect(alice.status).to.equal(200);
      expect(await aliveAfterGc()).to.equal(1);
      expect(server.turbo.connectionCount).to.equal(1);
    });
  });
});
