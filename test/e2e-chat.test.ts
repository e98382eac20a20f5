import { expect } from 'chai';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { hasChromium, launchChromium } from './support/browser';
import { startExample, type ExampleProcess } from './support/example-process';

/** Waits until the page's <turbo-stream-source> has an open EventSource. */
async function waitForSubscription(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const source = document.querySelector('turbo-stream-source') as
      (Element & { streamSource?: EventSource | null }) | null;
    return source?.streamSource?.readyState === 1;
  });
}

function messageTexts(page: Page): Promise<string[]> {
  return page.$$eval('#messages li .body', (nodes) => nodes.map((node) => node.textContent ?? ''));
}

describe('the example chat in Chromium', function () {
  this.timeout(90_000);
  let example: ExampleProcess;
  let browser: Browser;
  let context: BrowserContext;

  before(async function () {
    if (!hasChromium()) {
      if (process.env.CI === 'true')
        throw new Error('Chromium is required under CI: apt-get install chromium');
      this.skip();
    }
    example = await startExample();
    browser = await launchChromium();
    context = await browser.newContext({ baseURL: example.url });
    const login = await context.newPage();
    await login.goto('/login');
    await login.fill('input[name=name]', 'alice');
    await Promise.all([
      login.waitForURL(`${example.url}/`),
      login.click('button:has-text("Enter")'),
    ]);
    await login.close();
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await example?.stop();
  });

  it('shows a posted, edited and deleted message live in every window on the room, and nowhere else', async () => {
    const [first, second, elsewhere] = await Promise.all([
      context.newPage(),
      context.newPage(),
      context.newPage(),
    ]);
    await Promise.all([
      first.goto('/rooms/1'),
      second.goto('/rooms/1'),
      elsewhere.goto('/rooms/2'),
    ]);
    await Promise.all([first, second, elsewhere].map(waitForSubscription));
    const untouched = await elsewhere.innerHTML('#messages');

    await first.fill('#new_message input[name=body]', 'Hello from the first window');
    await first.click('#new_message button');
    const posted = second.locator('#messages li', { hasText: 'Hello from the first window' });
    await posted.waitFor({ timeout: 2000 });
    expect(await messageTexts(second)).to.deep.equal(['Hello from the first window']);
    await first
      .locator('#messages li', { hasText: 'Hello from the first window' })
      .waitFor({ timeout: 2000 });
    expect(await first.inputValue('#new_message input[name=body]')).to.equal('');

    const id = await posted.getAttribute('id');
    expect(id).to.match(/^message-\d+$/);
    await first.click(`#${id} summary`);
    await first.fill(`#${id} input[name=body]`, 'Edited in the first window');
    await first.click(`#${id} button:has-text("Save")`);
    await second
      .locator(`#${id}`, { hasText: 'Edited in the first window' })
      .waitFor({ timeout: 2000 });
    expect(await messageTexts(second)).to.deep.equal(['Edited in the first window']);

    await second.click(`#${id} button:has-text("Delete")`);
    await first.locator(`#${id}`).waitFor({ state: 'detached', timeout: 2000 });
    await second.locator(`#${id}`).waitFor({ state: 'detached', timeout: 2000 });
    expect(await messageTexts(first)).to.deep.equal([]);

    expect(await elsewhere.innerHTML('#messages')).to.equal(untouched);
    expect(await messageTexts(elsewhere)).to.deep.equal([]);
  });

  it("refuses to let another user edit or delete someone's message, and shows no change", async () => {
    const page = await context.newPage();
    await page.goto('/rooms/1');
    await waitForSubscription(page);
    await page.fill('#new_message input[name=body]', 'Only mine to change');
    await page.click('#new_message button');
    const mine = page.locator('#messages li', { hasText: 'Only mine to change' });
    await mine.waitFor({ timeout: 2000 });
    const id = (await mine.getAttribute('id'))!.replace('message-', '');

    const signIn = await fetch(`${example.url}/login`, {
      method: 'POST',
      body: new URLSearchParams({ name: 'mallory' }),
      redirect: 'manual',
    });
    const cookie = signIn.headers.get('set-cookie')!.split(';')[0];
    const asMallory = (path: string, body: Record<string, string> = {}) =>
      fetch(`${example.url}${path}`, {
        method: 'POST',
        headers: { cookie },
        body: new URLSearchParams(body),
        redirect: 'manual',
      });
    const edit = await asMallory(`/messages/${id}`, { body: 'Changed by someone else' });
    const remove = await asMallory(`/messages/${id}/delete`);
    expect([edit.status, remove.status]).to.deep.equal([403, 403]);
    expect(await remove.text()).to.equal('Only the author of a message can edit or delete it');

    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await messageTexts(page)).to.include('Only mine to change');
    expect(await messageTexts(page)).not.to.include('Changed by someone else');

    // One rendering of each message reaches every page: each page shows its own user's buttons.
    await asMallory('/rooms/1/messages', { body: 'From mallory' });
    const theirs = page.locator('#messages li', { hasText: 'From mallory' });
    await theirs.waitFor({ timeout: 2000 });
    expect(await mine.locator('button:has-text("Delete")').isVisible()).to.equal(true);
    expect(await theirs.locator('button:has-text("Delete")').isVisible()).to.equal(false);
    expect(await theirs.locator('summary').isVisible()).to.equal(false);
  });
});
