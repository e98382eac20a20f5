import fs from 'node:fs';
import type { Browser } from 'playwright-core';

/** Where Debian's chromium package puts the browser; CHROMIUM_PATH overrides it. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Tells whether a Chromium binary is there to drive. */
export function hasChromium(): boolean {
  return fs.existsSync(chromiumPath);
}

/**
 * Launches headless Chromium. As root it needs --no-sandbox; without the background-networking
 * flags it keeps trying to reach hosts this machine cannot reach.
 */
export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
