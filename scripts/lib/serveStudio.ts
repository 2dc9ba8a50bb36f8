/**
 * Builds the studio with its test pages (`vite build --mode test-pages`) unless a usable build is
 * already in dist/, then serves it with `vite preview` on a free port: the shared set-up of
 * `npm run bench` and `npm run soak`.
 */
import { existsSync } from 'node:fs';
import { build, preview } from 'vite';

/** The Vite mode whose build also holds bench.html and its test API (vite.config.ts). */
export const TEST_PAGES_MODE = 'test-pages';

export interface ServedStudio {
  /** e.g. http://127.0.0.1:4319, without a trailing slash. */
  origin: string;
  close(): Promise<void>;
}

/**
 * @param reuseBuild keep dist/ when it already holds `needs` (e.g. 'bench.html'), as `--no-build` asks.
 * @param port where to try first; the next free port is taken when it is busy.
 */
export async function serveStudio(opts: {
  reuseBuild: boolean;
  needs: string;
  port: number;
}): Promise<ServedStudio> {
  if (!opts.reuseBuild || !existsSync(`dist/${opts.needs}`)) {
    console.log(`building the studio with its test pages (vite build --mode ${TEST_PAGES_MODE})…`);
    await build({ logLevel: 'warn', mode: TEST_PAGES_MODE });
  }
  const server = await preview({
    preview: { port: opts.port, strictPort: false, host: '127.0.0.1' },
    logLevel: 'warn',
  });
  const origin =
    server.resolvedUrls?.local[0]?.replace(/\/$/, '') ?? `http://127.0.0.1:${opts.port}`;
  return {
    origin,
    close: () => new Promise<void>((res) => server.httpServer.close(() => res())),
  };
}
