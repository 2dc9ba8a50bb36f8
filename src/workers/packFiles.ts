/**
 * Getting pack files into a worker: the IndexedDB cache first, else a streamed download with byte
 * progress or a file from a folder the person picked; always verified against the manifest before
 * use. Shared by the inference and metrics workers. A download stops when its job is cancelled
 * and gives up with a message when the server stops sending.
 */
import { formatBytes } from '../core/format';
import { describeFetchFailure } from '../core/fetchFailure';
import { RunCancelledError } from '../core/pipeline';
import { checkStreamedFile } from '../core/sha256';
import {
  CHUNK_BYTES,
  CacheFullError,
  commitCachedFile,
  discardCachedChunks,
  putCachedChunk,
  readCachedChunk,
  readCachedFile,
} from '../shared/packCache';
import { assembleChunks, streamToChunks, type StreamedFile } from '../shared/streamFile';
import type { PackSource, JobProgress } from '../shared/protocol';

/** A download that sends nothing for this long is given up (covers a server that never answers, too). */
export const STALL_TIMEOUT_MS = 20_000;
/** After this long without data, progress says the download is waiting for the server. */
const WAITING_AFTER_MS = 2_000;

/**
 * Opens `url` and streams its body through `consume` with byte progress. Aborts when `signal` does
 * (a cancel: `RunCancelledError`) or when no data arrives for `STALL_TIMEOUT_MS` (a stalled server:
 * a message saying so); while data is late, `report` is called every second with how long it has
 * waited.
 */
async function download<T>(
  url: string,
  file: string,
  totalBytes: number,
  report: (loaded: number, waitingMs?: number) => void,
  signal: AbortSignal | undefined,
  consume: (body: ReadableStream<Uint8Array>, onBytes: (loaded: number) => void) => Promise<T>,
): Promise<T> {
  const abort = new AbortController();
  const onCancel = () => abort.abort();
  signal?.addEventListener('abort', onCancel);
  let loaded = 0;
  let lastDataAt = performance.now();
  let stalled = false;
  const watchdog = setInterval(() => {
    const waitingMs = performance.now() - lastDataAt;
    if (waitingMs >= STALL_TIMEOUT_MS) {
      stalled = true;
      abort.abort();
    } else if (waitingMs >= WAITING_AFTER_MS) report(loaded, waitingMs);
  }, 1000);
  try {
    if (signal?.aborted) throw new RunCancelledError();
    let res: Response;
    try {
      res = await fetch(url, { signal: abort.signal });
    } catch (e) {
      if (signal?.aborted || stalled) throw e;
      throw new Error(`Could not download ${file}: ${describeFetchFailure(url, e)}`, { cause: e });
    }
    if (!res.ok)
      throw new Error(
        `Could not download ${file}: the server answered ${res.status} ${res.statusText}`.trim(),
      );
    const body = res.body ?? new Blob([await res.arrayBuffer()]).stream();
    return await consume(body, (n) => {
      lastDataAt = performance.now();
      loaded = n;
      report(n);
    });
  } catch (e) {
    if (signal?.aborted) throw new RunCancelledError();
    if (stalled) {
      throw new Error(
        `The download of ${file} stalled: the server sent nothing for ${STALL_TIMEOUT_MS / 1000} s (${formatBytes(loaded)} of ${formatBytes(totalBytes)} arrived). Check the connection and that the pack's server is up, then run again.`,
        { cause: e },
      );
    }
    throw e;
  } finally {
    clearInterval(watchdog);
    signal?.removeEventListener('abort', onCancel);
  }
}

/**
 * `body` ended with an error as soon as more bytes arrive than the manifest gives the file, so a
 * stale manifest fails at once instead of after the whole download and its hash. Stopping at
 * exactly `sizeBytes` is safe: `fetch` hands over the decoded body (a gzip or brotli transfer arrives
 * as the file's own bytes; Content-Length, the encoded size, is not read), and any other size is
 * refused after the download anyway. The error cancels `body`, which stops the download.
 */
function stopPastManifestSize(
  body: ReadableStream<Uint8Array>,
  ref: { file: string; sizeBytes: number },
): ReadableStream<Uint8Array> {
  let total = 0;
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, ctl) {
        total += chunk.byteLength;
        if (total <= ref.sizeBytes) {
          ctl.enqueue(chunk);
          return;
        }
        ctl.error(
          new Error(
            `${ref.file} is larger than the manifest says (${formatBytes(ref.sizeBytes)}, ${ref.sizeBytes} bytes), so it was not read further: the file is not the one the manifest describes. Put back that file, or give the manifest this file's size and sha256 (python3 -m models.training.export hashes <pack folder>).`,
          ),
        );
      },
    }),
  );
}

/**
 * The verified bytes of one pack file: from the IndexedDB cache when present (an evicted entry is
 * reported and fetched again), else downloaded with byte progress or read from a picked folder;
 * checked against its size and sha256, then cached (a full disk becomes a warning, not an error).
 */
export async function obtainFile(
  packId: string,
  source: PackSource,
  ref: { file: string; sizeBytes: number; sha256: string },
  progress: (p: JobProgress, force?: boolean) => void,
  warnings: string[],
  signal?: AbortSignal,
): Promise<{ bytes: Uint8Array; fromCache: boolean }> {
  let cached: Awaited<ReturnType<typeof readCachedFile>> = { status: 'miss' };
  try {
    cached = await readCachedFile(packId, ref.sha256);
  } catch (e) {
    warnings.push(
      `The model cache could not be read (${(e as Error).message}); downloading instead.`,
    );
  }
  if (cached.status === 'hit') {
    progress({ kind: 'cache-hit', file: ref.file, sizeBytes: ref.sizeBytes }, true);
    return { bytes: cached.bytes, fromCache: true };
  }
  if (cached.status === 'evicted') {
    const msg = `${ref.file} had been removed from the browser's cache (storage was evicted); it is fetched again.`;
    warnings.push(msg);
    progress({ kind: 'warning', message: msg }, true);
  }
  // Where a file not in the cache comes from: the pack's web folder (also for a pack reopened from the
  // cache that was first loaded from one), else the picked folder's files.
  const baseUrl = source.kind === 'files' ? undefined : source.baseUrl;
  const folder = source.kind === 'files' ? source.files : {};
  if (source.kind === 'cache' && baseUrl === undefined) {
    throw new Error(
      `${ref.file} is not in the browser's cache: it was never downloaded here, or the cache was cleared or evicted. Load the pack again from its folder or URL.`,
    );
  }
  // Streamed into the cache chunk by chunk as it arrives, hashed on the way, then assembled once.
  let cacheFull = false;
  const sink = {
    put: async (index: number, chunk: Uint8Array<ArrayBuffer>) => {
      if (cacheFull) return false;
      try {
        await putCachedChunk(packId, ref.sha256, index, chunk);
        return true;
      } catch (e) {
        cacheFull = true;
        const msg =
          e instanceof CacheFullError
            ? e.message
            : `${ref.file} could not be cached: ${(e as Error).message}`;
        if (!warnings.includes(msg)) {
          warnings.push(msg);
          progress({ kind: 'warning', message: msg }, true);
        }
        return false;
      }
    },
  };
  const consume = (body: ReadableStream<Uint8Array>, onBytes?: (n: number) => void) =>
    streamToChunks(stopPastManifestSize(body, ref), {
      file: ref.file,
      chunkBytes: CHUNK_BYTES,
      maxBytes: ref.sizeBytes,
      sink,
      ...(onBytes ? { onBytes } : {}),
    });
  let got: StreamedFile;
  try {
    if (baseUrl !== undefined) {
      const url = new URL(ref.file, baseUrl).href;
      progress(
        { kind: 'download', file: ref.file, loadedBytes: 0, totalBytes: ref.sizeBytes },
        true,
      );
      got = await download(
        url,
        ref.file,
        ref.sizeBytes,
        (loaded, waitingMs) =>
          progress(
            {
              kind: 'download',
              file: ref.file,
              loadedBytes: loaded,
              totalBytes: ref.sizeBytes,
              ...(waitingMs !== undefined ? { waitingMs } : {}),
            },
            waitingMs !== undefined,
          ),
        signal,
        consume,
      );
      progress(
        {
          kind: 'download',
          file: ref.file,
          loadedBytes: got.sizeBytes,
          totalBytes: ref.sizeBytes,
        },
        true,
      );
    } else {
      const blob = folder[ref.file];
      if (!blob)
        throw new Error(`The pack folder has no file ${ref.file}, which the manifest names.`);
      got = await consume(blob.stream());
    }
    progress({ kind: 'verify', file: ref.file }, true);
    checkStreamedFile(ref.file, got, ref);
  } catch (e) {
    await discardCachedChunks(packId, ref.sha256, Math.ceil(ref.sizeBytes / CHUNK_BYTES) + 1);
    throw e;
  }
  const bytes = await assembleChunks(
    ref.file,
    got.sizeBytes,
    got.chunkCount,
    (i) => readCachedChunk(packId, ref.sha256, i),
    got.kept,
  );
  if (got.kept.size === 0) {
    await commitCachedFile(packId, ref.sha256, ref.file, got.sizeBytes, got.chunkCount).catch(() =>
      discardCachedChunks(packId, ref.sha256, got.chunkCount),
    );
  } else {
    // Part of the file could not be cached: the stored part is of no use alone.
    await discardCachedChunks(packId, ref.sha256, got.chunkCount);
  }
  return { bytes, fromCache: false };
}
