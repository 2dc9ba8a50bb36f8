/**
 * Misbehaving pack servers on the loopback address, started by the tests themselves: one that
 * serves a pack folder but stalls every .onnx download after a few bytes, one that never answers
 * at all, and one without the CORS headers another site needs. Each listens on a free port and is
 * closed (sockets included) by `close()`.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { resolve } from 'node:path';

export interface TestServer {
  /** http://127.0.0.1:<port>/ */
  url: string;
  /** Requests seen, by path. */
  requests: string[];
  /** Downloads whose client went away before the end (a cancel or a timeout aborted them). */
  aborted: string[];
  close(): Promise<void>;
}

export interface PackServerOptions {
  /** Serve this pack folder. */
  dir: string;
  /** Replace manifest.json with this object. */
  manifest?: object;
  /** Send this many bytes of every .onnx file, then nothing more (the connection stays open). */
  stallAfterBytes?: number;
  /** Send CORS and CORP headers (default true): without them another origin may not read. */
  cors?: boolean;
}

async function listen(
  handler: (req: IncomingMessage, res: ServerResponse, server: TestServer) => void,
): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const state: TestServer = {
    url: '',
    requests: [],
    aborted: [],
    close: () =>
      new Promise((done) => {
        for (const s of sockets) s.destroy();
        server.close(() => done());
      }),
  };
  const server = createServer((req, res) => {
    state.requests.push(req.url ?? '');
    handler(req, res, state);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return state;
}

/** A pack folder served over HTTP, optionally stalling its graph downloads. */
export function startPackServer(opts: PackServerOptions): Promise<TestServer> {
  const cors = opts.cors ?? true;
  return listen((req, res, state) => {
    const name = decodeURIComponent((req.url ?? '/').split('?')[0]!.replace(/^\/+/, ''));
    if (cors) {
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Cross-Origin-Resource-Policy', 'cross-origin');
    }
    let body: Buffer;
    try {
      body =
        name === 'manifest.json' && opts.manifest
          ? Buffer.from(JSON.stringify(opts.manifest))
          : readFileSync(resolve(opts.dir, name));
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    res.setHeader('Content-Length', body.length);
    res.setHeader(
      'Content-Type',
      name.endsWith('.json') ? 'application/json' : 'application/octet-stream',
    );
    if (opts.stallAfterBytes !== undefined && name.endsWith('.onnx')) {
      res.on('close', () => {
        if (!res.writableFinished) state.aborted.push(name);
      });
      res.writeHead(200);
      res.write(body.subarray(0, opts.stallAfterBytes));
      return; // and never another byte
    }
    res.writeHead(200).end(body);
  });
}

/** A server that accepts every connection and never answers. */
export function startSilentServer(): Promise<TestServer> {
  return listen(() => undefined);
}

const STATIC_TYPES: Record<string, string> = {
  html: 'text/html',
  js: 'text/javascript',
  mjs: 'text/javascript',
  css: 'text/css',
  json: 'application/json',
  webmanifest: 'application/manifest+json',
  wasm: 'application/wasm',
  png: 'image/png',
  svg: 'image/svg+xml',
};

export interface StaticServer extends TestServer {
  /** Serves `body` instead of the file at `path` (e.g. a new version of sw.js) from now on. */
  override(path: string, body: string | Buffer): void;
}

/**
 * The built studio (a folder such as dist/) served as `vite preview` serves it — cross-origin
 * isolated, index.html for the site's root — by a server the test can change (a new version of a
 * file) and close (the network gone for good: no emulation to trust).
 */
export async function startStaticServer(dir: string): Promise<StaticServer> {
  const overrides = new Map<string, Buffer>();
  const server = await listen((req, res) => {
    let name = decodeURIComponent((req.url ?? '/').split('?')[0]!.replace(/^\/+/, ''));
    if (name === '' || name.endsWith('/')) name += 'index.html';
    let body: Buffer;
    try {
      body = overrides.get(name) ?? readFileSync(resolve(dir, name));
    } catch {
      res.writeHead(404).end('not found');
      return;
    }
    res.setHeader(
      'Content-Type',
      STATIC_TYPES[name.split('.').pop() ?? ''] ?? 'application/octet-stream',
    );
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Length', body.length);
    res.writeHead(200).end(body);
  });
  return {
    ...server,
    override: (path, body) => overrides.set(path, Buffer.from(body)),
  };
}
