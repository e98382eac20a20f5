import { expect } from 'chai';
import { AsyncLocalStorage } from 'node:async_hooks';
import { currentRequestId, runInContext, runWithContext } from '../lib/context';

describe('the broadcast context', () => {
  let runs: number;
  const run = AsyncLocalStorage.prototype.run;

  beforeEach(() => {
    runs = 0;
    AsyncLocalStorage.prototype.run = function countedRun(
      this: AsyncLocalStorage<unknown>,
      ...args: unknown[]
    ) {
      runs += 1;
      return run.apply(this, args as Parameters<typeof run>);
    } as typeof run;
  });

  afterEach(() => {
    AsyncLocalStorage.prototype.run = run;
  });

  it('uses no AsyncLocalStorage when there is nothing to carry and no context around', async () => {
    const value = await runWithContext({}, async () => {
      await Promise.resolve();
      return currentRequestId();
    });
    expect(value).to.equal(undefined);
    expect(runs).to.equal(0);
  });

  it('carries a request id through everything the code awaits', async () => {
    const seen = await runInContext({ requestId: 'req-1' }, async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return currentRequestId();
    });
    expect(seen).to.equal('req-1');
    expect(runs).to.equal(1);
  });

  it('runs code in exactly its own context, without the request id of the code calling it', async () => {
    const seen = await runInContext({ requestId: 'other-request' }, () =>
      runWithContext({}, async () => {
        await Promise.resolve();
        return currentRequestId();
      }),
    );
    expect(seen).to.equal(undefined);
  });
});
