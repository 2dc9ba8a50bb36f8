/**
 * Getting pack files into a worker: the IndexedDB cache first, else a streamed download with byte
 * progress or a file from a folder the person picked; always verified against the manifest before
 * use. Shared by the inference and metrics workers.
 */
import { verifyPackFile } from '../src/core/sha256';
import { CacheFullError, readCachedFile, writeCachedFile } from '../src/packs/packCache';
import type { PackSource, ProgressEvent } from './protocol';

async function fetchWithProgress(
  url: string,
  file: string,
  totalBytes: number,
  report: (loaded: number) => void,
): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`Could not download ${file}: ${(e as Error).message}`, { cause: e });
  }
  if (!res.ok)
    throw new Error(
      `Could not download ${file}: the server answered ${res.status} ${res.statusText}`,
    );
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.byteLength;
    report(loaded);
    // A file far larger than promised is not the manifest's file: stop before filling memory.
    if (loaded > totalBytes * 2 + 1024) {
      await reader.cancel();
      throw new Error(`${file} is larger than the ${totalBytes} bytes the manifest says`);
    }
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
  progress: (p: ProgressEvent, force?: boolean) => void,
  warnings: string[],
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
    bytes = await fetchWithProgress(url, ref.file, ref.sizeBytes, (loaded) =>
      progress({
        kind: 'download',
        file: ref.file,
        loadedBytes: loaded,
        totalBytes: ref.sizeBytes,
      }),
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
