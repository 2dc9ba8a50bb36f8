/**
 * Pack files that are not the manifest's: a download larger than the manifest says stops once
 * the manifest's size is passed (a stale manifest once let a 2.3 GB file download and hash whole
 * before failing), and one of the right size is read whole and verified. The IndexedDB cache is
 * replaced by a map (Node has no IndexedDB); `fetch` by a server that counts what it sends.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { obtainFile } from './packFiles';

vi.mock('../shared/packCache', async (importOriginal) => {
  const real = await importOriginal<typeof import('../shared/packCache')>();
  const chunks = new Map<string, Uint8Array>();
  return {
    ...real,
    readCachedFile: () => Promise.resolve({ status: 'miss' }),
    putCachedChunk: (_pack: string, sha: string, i: number, chunk: Uint8Array) => {
      chunks.set(`${sha}:${i}`, chunk);
      return Promise.resolve();
    },
    readCachedChunk: (_pack: string, sha: string, i: number) =>
      Promise.resolve(chunks.get(`${sha}:${i}`)),
    commitCachedFile: () => Promise.resolve(),
    discardCachedChunks: () => Promise.resolve(),
  };
});

const PIECE = 1000;

/** A server that sends `bytes` in pieces of PIECE as they are read, counting what it sent. */
function serve(bytes: Uint8Array): { sentBytes: () => number } {
  let sent = 0;
  vi.stubGlobal('fetch', () => {
    const body = new ReadableStream<Uint8Array>({
      pull(ctl) {
        if (sent >= bytes.length) return ctl.close();
        ctl.enqueue(bytes.slice(sent, sent + PIECE));
        sent += PIECE;
      },
    });
    return Promise.resolve(new Response(body));
  });
  return { sentBytes: () => sent };
}

const fileOf = (size: number) => Uint8Array.from({ length: size }, (_, i) => (i * 7) & 255);
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const source = { kind: 'url' as const, baseUrl: 'https://packs.example/p/', label: 'test' };

afterEach(() => vi.unstubAllGlobals());

describe('obtainFile', () => {
  it('stops a download once it passes the size the manifest gives, and says so', async () => {
    const onServer = fileOf(23 * PIECE);
    const ref = { file: 'denoiser.onnx', sizeBytes: 12 * PIECE, sha256: sha256(onServer) };
    const server = serve(onServer);
    const got = obtainFile('p', source, ref, () => undefined, []);
    await expect(got).rejects.toThrow(
      /^denoiser\.onnx is larger than the manifest says \(.*12000 bytes\).*Put back that file, or give the manifest this file's size and sha256/,
    );
    // The pipe reads a piece ahead of the one that passed the size; never the whole file.
    expect(server.sentBytes()).toBeLessThanOrEqual(ref.sizeBytes + 2 * PIECE);
  });

  it('reads a file of exactly the manifest size whole and verifies it', async () => {
    const onServer = fileOf(12 * PIECE);
    const ref = { file: 'denoiser.onnx', sizeBytes: onServer.length, sha256: sha256(onServer) };
    serve(onServer);
    const got = await obtainFile('p', source, ref, () => undefined, []);
    expect(got.fromCache).toBe(false);
    expect(got.bytes).toEqual(onServer);
  });

  it('still refuses a file shorter than the manifest says, after reading it', async () => {
    const onServer = fileOf(5 * PIECE);
    const ref = { file: 'denoiser.onnx', sizeBytes: 12 * PIECE, sha256: sha256(onServer) };
    serve(onServer);
    await expect(obtainFile('p', source, ref, () => undefined, [])).rejects.toThrow(
      /denoiser\.onnx is 5000 bytes but the manifest says 12000/,
    );
  });
});
