/**
 * Where Debian's Chromium is and the flags that keep it offline and quiet on these machines
 * (see docs/testing.md). Shared by the Playwright config and the benchmark.
 */
import { existsSync } from 'node:fs';

/** Path of the Chromium binary: $CHROMIUM_PATH, else Debian's /usr/bin/chromium. */
export function chromiumPath(): string {
  const p = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(p)) {
    throw new Error(
      `Chromium not found at ${p}: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH`,
    );
  }
  return p;
}

/** Flags: no sandbox (root in CI), no background network, every host but localhost unresolvable. */
export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];
