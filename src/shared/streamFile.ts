/**
 * Pack files of real size without two whole copies in memory: a download (or a picked file) is
 * read as a stream, hashed as it goes (SHA-256, @noble/hashes) and cut into fixed-size chunks that
 * are handed to a sink as soon as each is full — the IndexedDB cache in the worker — so the whole
 * file never sits in JavaScript memory while it arrives. The verified file is then assembled once,
 * chunk by chunk, into one buffer of its exact size for ONNX Runtime; above the ArrayBuffer limit
 * (about 2 GiB in Chromium) that buffer is a WebAssembly.Memory's, as ONNX Runtime Web does for
 * its own large files.
 */
import { sha256 } from '@noble/hashes/sha2.js';

/** Where full chunks go. `put` resolves true when the chunk is stored (then the caller drops it). */
export interface ChunkSink {
  put(index: number, chunk: Uint8Array<ArrayBuffer>): Promise<boolean>;
}

export interface StreamedFile {
  sizeBytes: number;
  sha256: string;
  chunkCount: number;
  /** Chunks the sink did not store (a full cache), kept in memory to assemble from. */
  kept: Map<number, Uint8Array<ArrayBuffer>>;
}

const hex = (bytes: Uint8Array) =>
  Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

/**
 * Reads `stream` to its end: hashes every byte, cuts the bytes into `chunkBytes` chunks and hands
 * each full chunk (and the last, shorter one) to `sink`. Stops with an error naming `file` when
 * more than `maxBytes` arrive. `onBytes` is called with the running total.
 */
export async function streamToChunks(
  stream: ReadableStream<Uint8Array>,
  opts: {
    file: string;
    chunkBytes: number;
    maxBytes: number;
    sink: ChunkSink;
    onBytes?: (loaded: number) => void;
  },
): Promise<StreamedFile> {
  const { chunkBytes, sink } = opts;
  const hasher = sha256.create();
  const kept = new Map<number, Uint8Array<ArrayBuffer>>();
  let chunk = new Uint8Array(chunkBytes);
  let fill = 0;
  let index = 0;
  let total = 0;
  const flush = async () => {
    if (fill === 0) return;
    const full = fill === chunkBytes ? chunk : chunk.slice(0, fill);
    if (!(await sink.put(index, full))) kept.set(index, full);
    index++;
    chunk = new Uint8Array(chunkBytes);
    fill = 0;
  };
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > opts.maxBytes) {
        await reader.cancel().catch(() => undefined);
        throw new Error(
          `${opts.file} is larger than the manifest says: more than ${opts.maxBytes} bytes arrived`,
        );
      }
      hasher.update(value);
      let at = 0;
      while (at < value.byteLength) {
        const n = Math.min(chunkBytes - fill, value.byteLength - at);
        chunk.set(value.subarray(at, at + n), fill);
        fill += n;
        at += n;
        if (fill === chunkBytes) await flush();
      }
      opts.onBytes?.(total);
    }
    await flush();
  } finally {
    reader.releaseLock();
  }
  return { sizeBytes: total, sha256: hex(hasher.digest()), chunkCount: index, kept };
}

/**
 * A zeroed buffer of exactly `size` bytes: an ArrayBuffer where the browser allows one that large,
 * else the memory of a WebAssembly.Memory (up to 4 GiB), which ONNX Runtime Web accepts as
 * external data.
 */
export function allocateBytes(size: number): Uint8Array<ArrayBuffer> {
  try {
    return new Uint8Array(size);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    const pages = Math.ceil(size / 65536);
    if (pages > 65536)
      throw new Error(
        `a single file of ${size} bytes is larger than a browser can hold in one piece (4 GiB); split the pack's external data into several files`,
        { cause: e },
      );
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    return new Uint8Array(memory.buffer as ArrayBuffer, 0, size);
  }
}

/** A stored file whose chunks are missing or of the wrong size (the browser evicted part of it). */
export class DamagedFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DamagedFileError';
  }
}

/**
 * The file of `sizeBytes` assembled from its chunks, read one at a time with `read` (kept chunks
 * first), into one buffer of its exact size. Throws `DamagedFileError` when a chunk is missing or
 * the sizes disagree.
 */
export async function assembleChunks(
  file: string,
  sizeBytes: number,
  chunkCount: number,
  read: (index: number) => Promise<Uint8Array | undefined>,
  kept?: Map<number, Uint8Array>,
): Promise<Uint8Array<ArrayBuffer>> {
  const out = allocateBytes(sizeBytes);
  let at = 0;
  for (let i = 0; i < chunkCount; i++) {
    const c = kept?.get(i) ?? (await read(i));
    if (!c)
      throw new DamagedFileError(
        `${file}: chunk ${i + 1} of ${chunkCount} is missing from the cache`,
      );
    if (at + c.byteLength > sizeBytes)
      throw new DamagedFileError(
        `${file}: its chunks hold more than the ${sizeBytes} bytes expected`,
      );
    out.set(c, at);
    at += c.byteLength;
  }
  if (at !== sizeBytes)
    throw new DamagedFileError(
      `${file}: its chunks hold ${at} bytes, not the ${sizeBytes} expected`,
    );
  return out;
}
