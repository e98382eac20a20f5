import { AsyncLocalStorage } from 'node:async_hooks';
import { expect } from 'chai';
import { broadcastsSettled, configureHookQueue, runAfterCommit } from '../lib/commit-queue';
import { ErrorCodes, messageOf, wrapError } from '../lib/errors';

describe('the queue of after-commit jobs', () => {
  const never = () => new Promise<void>(() => {});
  const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

  /**
   * Queues a job that never ends and one after it, runs `meanwhile`, and resolves once the queue
   * has gone on: to whether the job after it ran.
   */
  async function hangThenRun(meanwhile: () => Promise<void> = async () => {}): Promise<boolean> {
    let ran = false;
    runAfterCommit(null, never);
    runAfterCommit(null, async () => {
      ran = true;
    });
    await meanwhile();
    await broadcastsSettled();
    return ran;
  }

  afterEach(async () => {
    await broadcastsSettled();
    configureHookQueue(5_000, () => {});
  });

  it('runs jobs in order, and gives each job that never ends its own full timeout', async () => {
    const slow: number[] = [];
    const events: string[] = [];
    configureHookQueue(60, (waited) => slow.push(waited));
    const started: number[] = [];
    runAfterCommit(null, async () => {
      events.push('a');
      await pause(40);
    });
    runAfterCommit(null, () => {
      started.push(Date.now());
      events.push('b');
      return never();
    });
    runAfterCommit(null, () => {
      started.push(Date.now());
      events.push('c');
      return never();
    });
    let releasedAt = 0;
    runAfterCommit(null, async () => {
      releasedAt = Date.now();
      events.push('d');
    });
    await broadcastsSettled();
    expect(events).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(slow).to.deep.equal([60, 60]);
    expect(started[1] - started[0]).to.be.at.least(59);
    expect(releasedAt - started[1]).to.be.at.least(59);
  });

  it('holds a job for a shorter timeout set while a longer one was being watched', async () => {
    const slow: number[] = [];
    configureHookQueue(10_000, (waited) => slow.push(waited));
    runAfterCommit(null, async () => {});
    await broadcastsSettled();
    configureHookQueue(30, (waited) => slow.push(waited));
    expect(await hangThenRun()).to.equal(true);
    expect(slow).to.deep.equal([30]);
  });

  it('tells of a slow job in the context of the code that queued it', async () => {
    const requests = new AsyncLocalStorage<string>();
    const told: (string | undefined)[] = [];
    configureHookQueue(30, () => told.push(requests.getStore()));
    requests.run('quick', () => runAfterCommit(null, async () => {}));
    await pause(10);
    requests.run('slow', () => runAfterCommit(null, never));
    await broadcastsSettled();
    expect(told).to.deep.equal(['slow']);
  });

  it('times jobs by a clock that a step of the wall clock does not move', async () => {
    const slow: number[] = [];
    configureHookQueue(40, (waited) => slow.push(waited));
    const realNow = Date.now;
    try {
      const ran = await hangThenRun(async () => {
        await pause(10);
        Date.now = () => realNow() - 3_600_000;
      });
      expect(ran).to.equal(true);
    } finally {
      Date.now = realNow;
    }
    expect(slow).to.deep.equal([40]);
  });

  it('goes on when onSlow throws', async () => {
    configureHookQueue(20, () => {
      throw new Error('from onSlow');
    });
    expect(await hangThenRun()).to.equal(true);
  });

  /** A value whose every use throws, as a revoked Proxy's does. */
  function hostile(): object {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  }

  it('goes on when onSlow throws a value whose message cannot be read', async () => {
    configureHookQueue(20, () => {
      throw hostile();
    });
    expect(await hangThenRun()).to.equal(true);
    expect(await hangThenRun()).to.equal(true);
  });

  it('goes on after a job that rejects with a value whose message cannot be read', async () => {
    configureHookQueue(null, () => {});
    const ran: string[] = [];
    runAfterCommit(null, () => Promise.reject(hostile()));
    runAfterCommit(null, async () => {
      ran.push('after');
    });
    await broadcastsSettled();
    expect(ran).to.deep.equal(['after']);
  });

  it('names what was thrown for a log line, whatever it is', () => {
    const getter = {
      get message(): string {
        throw new Error('no');
      },
    };
    expect(messageOf(new Error('boom'))).to.equal('boom');
    expect(messageOf('boom')).to.equal('boom');
    expect(messageOf(404)).to.equal('404');
    expect(messageOf({ message: 42 })).to.equal('42');
    expect(messageOf({ toString: () => 'custom reason' })).to.equal('custom reason');
    expect(messageOf(Symbol('s'))).to.equal('Symbol(s)');
    expect(messageOf(undefined)).to.equal('undefined');
    expect(messageOf(hostile())).to.equal('an object');
    expect(messageOf(getter)).to.equal('an object');
  });

  it('wraps what was thrown into a TurboExpressError, whatever it is', () => {
    const wrapped = wrapError(hostile(), ErrorCodes.HOOK_FAILED);
    expect([wrapped.code, wrapped.message]).to.deep.equal([ErrorCodes.HOOK_FAILED, 'an object']);
  });

  it('waits for ever with no timeout', async () => {
    configureHookQueue(null, () => {});
    let finish!: () => void;
    const ran: string[] = [];
    runAfterCommit(null, () => new Promise<void>((resolve) => (finish = resolve)));
    runAfterCommit(null, async () => {
      ran.push('after');
    });
    await pause(50);
    expect(ran).to.deep.equal([]);
    finish();
    await broadcastsSettled();
    expect(ran).to.deep.equal(['after']);
  });
});
