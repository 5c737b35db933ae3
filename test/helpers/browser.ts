/**
 * A headless Chromium for the browser tests: Debian's `/usr/bin/chromium` when installed, else the one inside the
 * `@sparticuz/chromium` npm package (unpacked to the temp directory on first use), so `npm test` needs no apt.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

const DEBIAN_CHROMIUM = '/usr/bin/chromium';

/** Flags for a test browser in a container: no sandbox (we may run as root), no background traffic. */
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // A real locale: in a container with LANG=C Chromium reports `en-US@posix`, which Intl (and so uPlot) refuses.
  '--lang=en-US',
];

/**
 * Which browser {@link launchBrowser} uses: `debian` or `npm` (@sparticuz/chromium). `IMAGE_BATCH_TEST_BROWSER=packaged`
 * forces the npm one (CI sets it, so the fallback a fresh machine gets is what CI proves).
 */
export function browserSource(): 'debian' | 'npm' {
  if (process.env.IMAGE_BATCH_TEST_BROWSER === 'packaged') return 'npm';
  return existsSync(DEBIAN_CHROMIUM) ? 'debian' : 'npm';
}

/** Launch the test browser. @throws Error naming both ways to get one when neither starts. */
export async function launchBrowser(): Promise<Browser> {
  let executablePath = DEBIAN_CHROMIUM;
  if (browserSource() === 'npm') {
    const packaged = (await import('@sparticuz/chromium')).default;
    executablePath = await packaged.executablePath();
  }
  try {
    return await chromium.launch({
      executablePath,
      headless: true,
      args: ARGS,
      env: { ...process.env, LANG: 'en_US.UTF-8', LANGUAGE: 'en_US', LC_ALL: 'en_US.UTF-8' },
    });
  } catch (error) {
    throw new Error(
      `could not start the test browser at ${executablePath} (${(error as Error).message.split('\n')[0]}); ` +
        `install Debian's chromium (apt-get install chromium) or reinstall @sparticuz/chromium (npm ci)`,
    );
  }
}
