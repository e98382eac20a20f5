/** Polls `predicate` every few milliseconds until it holds, failing after `timeout` ms. */
export function waitFor(
  predicate: () => boolean,
  timeout = 3000,
  what = 'condition',
): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = (): void => {
      if (predicate()) return resolve();
      if (Date.now() - started > timeout) {
        return reject(new Error(`Timed out after ${timeout} ms waiting for ${what}`));
      }
      setTimeout(poll, 5);
    };
    poll();
  });
}
