/**
 * Getting pack files into a worker: the IndexedDB cache first, else a streamed download with byte
 * progress or a file from a folder the person picked; always verified against the manifest before
 * use. Shared by the inference and metrics workers. A download stops when its job is cancelled
 * and gives up with a message when the server stops sending.
 */
import { formatBytes } from '../core/format';
import { describeFetchFailure } from '../core/fetchFailure';
import { RunCancelledError } from '../core/pipeline';
import { verifyPackFile } from '../core/sha256';
import { CacheFullError, readCachedFile, writeCachedFile } from '../shared/packCache';
import type { PackSource, JobProgress } from '../shared/protocol';

/** A download that sends nothing for this long is given up (covers a server that never answers, too). */
export const STALL_TIMEOUT_MS = 20_000;
/** After this long without data, progress says the download is waiting for the server. */
const WAITING_AFTER_MS = 2_000;

/**
 * Streams `url` with byte progress. Aborts when `signal` does (a cancel: `RunCancelledError`) or
 * when no data arrives for `STALL_TIMEOUT_MS` (a stalled server: a message saying so); while data
 * is late, `report` is called every second with how long it has waited.
 */
async function fetchWithProgress(
  url: string,
  file: string,
  totalBytes: number,
  report: (loaded: number, waitingMs?: number) => void,
  signal?: AbortSignal,
): Promise<Uint8Array> {
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
  const chunks: Uint8Array[] = [];
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
    if (!res.body) return new Uint8Array(await res.arrayBuffer());
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      lastDataAt = performance.now();
      chunks.push(value);
      loaded += value.byteLength;
      report(loaded);
      // A file far larger than promised is not the manifest's file: stop before filling memory.
      if (loaded > totalBytes * 2 + 1024) {
        await reader.cancel();
        throw new Error(`${file} is larger than the ${totalBytes} bytes the manifest says`);
      }
    }
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
  const out = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
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
  let bytes: Uint8Array;
  if (source.kind === 'cache') {
    throw new Error(
      `${ref.file} is no longer in the browser's cache (it was cleared or evicted). Load the pack again from its folder or URL.`,
    );
  } else if (source.kind === 'url') {
    const url = new URL(ref.file, source.baseUrl).href;
    progress({ kind: 'download', file: ref.file, loadedBytes: 0, totalBytes: ref.sizeBytes }, true);
    bytes = await fetchWithProgress(
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
    );
    progress(
      {
        kind: 'download',
        file: ref.file,
        loadedBytes: bytes.byteLength,
        totalBytes: ref.sizeBytes,
      },
      true,
    );
  } else {
    const blob = source.files[ref.file];
    if (!blob)
      throw new Error(`The pack folder has no file ${ref.file}, which the manifest names.`);
    bytes = new Uint8Array(await blob.arrayBuffer());
  }
  progress({ kind: 'verify', file: ref.file }, true);
  await verifyPackFile(ref.file, bytes, ref);
  try {
    await writeCachedFile(packId, ref.sha256, ref.file, bytes);
  } catch (e) {
    const msg =
      e instanceof CacheFullError
        ? e.message
        : `${ref.file} could not be cached: ${(e as Error).message}`;
    if (!warnings.includes(msg)) {
      warnings.push(msg);
      progress({ kind: 'warning', message: msg }, true);
    }
  }
  return { bytes, fromCache: false };
}
