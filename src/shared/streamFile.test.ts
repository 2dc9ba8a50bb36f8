/**
 * Streaming pack files of real size: hashed and cut into chunks as they arrive, handed to the sink
 * (the IndexedDB cache in the browser; a folder on disk here) so the whole file is never held while
 * it streams in, then assembled once. The memory test streams 384 MiB and measures this process's
 * ArrayBuffer memory the whole time.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { allocateBytes, assembleChunks, streamToChunks } from './streamFile';

/** A stream of `total` bytes of a fixed pattern in pieces of `piece` bytes, made as it is read. */
function patternStream(total: number, piece: number): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(ctl) {
      if (sent >= total) return ctl.close();
      const n = Math.min(piece, total - sent);
      const b = new Uint8Array(n);
      for (let i = 0; i < n; i += 4096) b[i] = ((sent + i) >> 12) & 255;
      sent += n;
      ctl.enqueue(b);
    },
  });
}

function bytesStream(bytes: Uint8Array, piece: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(ctl) {
      if (at >= bytes.length) return ctl.close();
      ctl.enqueue(bytes.slice(at, at + piece));
      at += piece;
    },
  });
}

/** V8's collector, so a sample counts what is held rather than garbage not yet collected. */
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const dir = mkdtempSync(join(tmpdir(), 'stream-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('streamToChunks and assembleChunks', () => {
  const data = Uint8Array.from({ length: 5_000_123 }, (_, i) => (i * 7919) & 255);

  it('hashes, chunks and reassembles a file that arrives in odd pieces', async () => {
    const store = new Map<number, Uint8Array>();
    const got = await streamToChunks(bytesStream(data, 777_777), {
      file: 'w.bin',
      chunkBytes: 1 << 20,
      maxBytes: data.length,
      sink: { put: async (i, c) => (store.set(i, c), true) },
    });
    expect(got).toMatchObject({ sizeBytes: data.length, sha256: sha(data), chunkCount: 5 });
    expect(got.kept.size).toBe(0);
    expect([...store.values()].map((c) => c.length)).toEqual([
      1 << 20,
      1 << 20,
      1 << 20,
      1 << 20,
      data.length - 4 * (1 << 20),
    ]);
    const back = await assembleChunks('w.bin', got.sizeBytes, got.chunkCount, async (i) =>
      store.get(i),
    );
    expect(sha(back)).toBe(sha(data));
  });

  it('keeps in memory the chunks a full cache refuses, and still assembles the file', async () => {
    const store = new Map<number, Uint8Array>();
    const got = await streamToChunks(bytesStream(data, 1 << 19), {
      file: 'w.bin',
      chunkBytes: 1 << 20,
      maxBytes: data.length,
      sink: { put: async (i, c) => (i < 2 ? (store.set(i, c), true) : false) },
    });
    expect([...got.kept.keys()]).toEqual([2, 3, 4]);
    const back = await assembleChunks(
      'w.bin',
      got.sizeBytes,
      got.chunkCount,
      async (i) => store.get(i),
      got.kept,
    );
    expect(sha(back)).toBe(sha(data));
  });

  it('stops a file that runs past its size, and names a missing chunk', async () => {
    await expect(
      streamToChunks(bytesStream(data, 1 << 20), {
        file: 'big.bin',
        chunkBytes: 1 << 20,
        maxBytes: 3_000_000,
        sink: { put: async () => true },
      }),
    ).rejects.toThrow('big.bin is larger than the manifest says: more than 3000000 bytes arrived');
    await expect(
      assembleChunks('w.bin', 10, 2, async (i) => (i === 0 ? new Uint8Array(5) : undefined)),
    ).rejects.toThrow('w.bin: chunk 2 of 2 is missing from the cache');
  });

  it('allocates a buffer of the exact size', () => {
    expect(allocateBytes(12345).byteLength).toBe(12345);
  });

  it('streams 384 MiB to disk holding a few chunks at a time, then assembles one copy', async () => {
    const total = 384 << 20;
    const chunkBytes = 16 << 20;
    gc();
    const base = process.memoryUsage().arrayBuffers;
    let peak = 0;
    const sample = () => {
      gc();
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - base);
    };
    const got = await streamToChunks(patternStream(total, 1 << 20), {
      file: 'weights.bin',
      chunkBytes,
      maxBytes: total,
      sink: {
        put: async (i, c) => {
          writeFileSync(join(dir, `chunk${i}`), c);
          sample();
          return true;
        },
      },
    });
    expect(got.chunkCount).toBe(24);
    const streamingPeak = peak;
    console.log(
      `streamed ${total >> 20} MiB: ArrayBuffer memory peaked ${(streamingPeak / 2 ** 20).toFixed(0)} MiB above the start`,
    );
    // Holding the file would take 384 MiB; the chunk being filled and the one being stored are 32
    // (measured 33–50 MiB: buffers the collector has not freed yet vary by machine).
    expect(streamingPeak).toBeLessThan(total / 4);

    peak = 0;
    const bytes = await assembleChunks('weights.bin', total, got.chunkCount, async (i) => {
      sample();
      return readFileSync(join(dir, `chunk${i}`));
    });
    sample();
    console.log(
      `assembled: ArrayBuffer memory peaked ${(peak / 2 ** 20).toFixed(0)} MiB above the start (the file is ${total >> 20} MiB)`,
    );
    expect(bytes.byteLength).toBe(total);
    // One whole copy and the chunk being read, far from two copies (768 MiB).
    expect(peak).toBeLessThan(total * 1.25);
    expect(sha(bytes)).toBe(got.sha256);
  }, 120_000);
});
