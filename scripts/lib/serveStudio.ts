/**
 * Builds the studio with its test pages (`vite build --mode test-pages`) unless a usable build is
 * already in dist/, then serves it with `vite preview` on a free port: the shared set-up of
 * `npm run bench` and `npm run soak`. Pack folders outside models/ (`bench --pack DIR`) are served
 * beside it, read-only, under /local-packs/<n>/.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { build, preview, type Plugin } from 'vite';

/** The Vite mode whose build also holds bench.html and its test API (vite.config.ts). */
export const TEST_PAGES_MODE = 'test-pages';

export interface ServedStudio {
  /** e.g. http://127.0.0.1:4319, without a trailing slash. */
  origin: string;
  /** The URL (with a trailing slash) the studio reads the pack in `dir` from. */
  packUrl(dir: string): string;
  close(): Promise<void>;
}

/**
 * Serves each folder of `dirs` under /local-packs/<index>/: its files only (no listing, nothing
 * above the folder), with the headers the studio's cross-origin isolation needs.
 */
function localPacks(dirs: string[]): Plugin {
  return {
    name: 'inbetween-local-packs',
    configurePreviewServer(server) {
      server.middlewares.use((req, res, next) => {
        const m = /^\/local-packs\/(\d+)\/(.+)$/.exec(
          decodeURIComponent(req.url?.split('?')[0] ?? ''),
        );
        const dir = m ? dirs[Number(m[1])] : undefined;
        if (!m || dir === undefined) return next();
        const file = resolve(dir, m[2]!);
        if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) {
          res.statusCode = 404;
          res.end('not found');
          return;
        }
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        res.setHeader(
          'Content-Type',
          file.endsWith('.json') ? 'application/json' : 'application/octet-stream',
        );
        res.end(readFileSync(file));
      });
    },
  };
}

/**
 * @param reuseBuild keep dist/ when it already holds `needs` (e.g. 'bench.html'), as `--no-build` asks.
 * @param port where to try first; the next free port is taken when it is busy.
 */
export async function serveStudio(opts: {
  reuseBuild: boolean;
  needs: string;
  port: number;
  /** Pack folders to serve that are not bundled (not directly under models/). */
  packDirs?: string[];
}): Promise<ServedStudio> {
  const models = resolve('models');
  const outside = (opts.packDirs ?? [])
    .map((d) => resolve(d))
    .filter((d) => resolve(d, '..') !== models);
  if (!opts.reuseBuild || !existsSync(`dist/${opts.needs}`)) {
    console.log(`building the studio with its test pages (vite build --mode ${TEST_PAGES_MODE})…`);
    await build({ logLevel: 'warn', mode: TEST_PAGES_MODE });
  }
  const server = await preview({
    preview: { port: opts.port, strictPort: false, host: '127.0.0.1' },
    logLevel: 'warn',
    plugins: [localPacks(outside)],
  });
  const origin =
    server.resolvedUrls?.local[0]?.replace(/\/$/, '') ?? `http://127.0.0.1:${opts.port}`;
  return {
    origin,
    packUrl: (dir) => {
      const d = resolve(dir);
      const i = outside.indexOf(d);
      return i >= 0
        ? `${origin}/local-packs/${i}/`
        : `${origin}/models/${d.slice(models.length + 1)}/`;
    },
    close: () => new Promise<void>((res) => server.httpServer.close(() => res())),
  };
}
