/**
 * IndexedDB cache of verified pack files, so a reload starts from the cache instead of the
 * network. Used from the inference worker (read/write) and from the page (list/clear).
 *
 * Layout (one idb-keyval store, versioned by its database name):
 *  - `file:<packId>:<sha256>`            → FileMeta, written LAST, so a half-written file is a miss;
 *  - `chunk:<packId>:<sha256>:<index>`   → ArrayBuffer of at most CHUNK_BYTES (IndexedDB refuses
 *                                          single values above ~127 MiB);
 *  - `pack:<packId>`                     → CachedPack: the manifest (a model pack's, or the LPIPS
 *                                          graphs'), so a cached pack can be
 *                                          reopened after a reload without its source.
 * A file whose meta exists but whose chunks are gone was evicted by the browser: it is dropped and
 * reported as such, and the caller downloads it again.
 */
import { createStore, delMany, get, getMany, keys, set, type UseStore } from 'idb-keyval';
import { assembleChunks, DamagedFileError } from './streamFile';

/** Bump when the layout changes; old databases are simply no longer read. */
export const CACHE_VERSION = 1;
export const CHUNK_BYTES = 16 * 1024 * 1024;

let store: UseStore | null = null;
function db(): UseStore {
  store ??= createStore(`inbetween-cache-v${CACHE_VERSION}`, 'files');
  return store;
}

export interface FileMeta {
  packId: string;
  sha256: string;
  file: string;
  sizeBytes: number;
  chunkCount: number;
  storedAt: number;
}

export interface CachedPack {
  packId: string;
  /** 'pack' for interpolation packs (listed as models), 'lpips' for the metric graphs. */
  kind: 'pack' | 'lpips';
  name: string;
  trained: boolean;
  /** The manifest as it was validated when stored; validate it again before use. */
  manifest: unknown;
  /** Where it came from, for people: a URL, "local folder", or "bundled". */
  sourceLabel: string;
  storedAt: number;
}

/** Raised when the browser refuses to store more (quota); the model still runs from memory. */
export class CacheFullError extends Error {
  constructor(cause: unknown) {
    super(
      'Browser storage is full, so this model was not cached and will download again next time. Free space in the cache panel or in the browser settings.',
    );
    this.name = 'CacheFullError';
    this.cause = cause;
  }
}

/** Whether the browser refused a write for want of storage (Chromium's name, and Firefox's). */
export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}

const fileKey = (packId: string, sha: string) => `file:${packId}:${sha}`;
const chunkKey = (packId: string, sha: string, i: number) => `chunk:${packId}:${sha}:${i}`;

export type CacheRead =
  { status: 'hit'; bytes: Uint8Array } | { status: 'miss' } | { status: 'evicted' };

/**
 * Reads a cached file, assembling its chunks one at a time into one buffer of the file's size (the
 * chunks are never all in memory beside it).
 */
export async function readCachedFile(packId: string, sha256: string): Promise<CacheRead> {
  const meta = await get<FileMeta>(fileKey(packId, sha256), db());
  if (!meta) return { status: 'miss' };
  const chunkKeys = Array.from({ length: meta.chunkCount }, (_, i) => chunkKey(packId, sha256, i));
  try {
    const bytes = await assembleChunks(meta.file, meta.sizeBytes, meta.chunkCount, (i) =>
      readCachedChunk(packId, sha256, i),
    );
    return { status: 'hit', bytes };
  } catch (e) {
    // Memory refused or a read that failed says nothing about the file: it stays.
    if (!(e instanceof DamagedFileError)) throw e;
    // A chunk gone or of the wrong size: the browser evicted part of the file.
    await delMany([fileKey(packId, sha256), ...chunkKeys], db()).catch(() => undefined);
    return { status: 'evicted' };
  }
}

/**
 * Stores chunk `index` of a file being streamed in (`streamToChunks`'s sink). The file counts as
 * cached only once `commitCachedFile` writes its meta, after it was verified. Throws
 * `CacheFullError` when storage is refused.
 */
export async function putCachedChunk(
  packId: string,
  sha256: string,
  index: number,
  chunk: Uint8Array<ArrayBuffer>,
): Promise<void> {
  const buffer =
    chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength
      ? chunk.buffer
      : chunk.slice().buffer;
  try {
    await set(chunkKey(packId, sha256, index), buffer, db());
  } catch (e) {
    if (isQuotaError(e)) throw new CacheFullError(e);
    throw e;
  }
}

/** Reads chunk `index` of a streamed file (undefined when absent). */
export async function readCachedChunk(
  packId: string,
  sha256: string,
  index: number,
): Promise<Uint8Array | undefined> {
  const c = await get<ArrayBuffer | undefined>(chunkKey(packId, sha256, index), db());
  return c instanceof ArrayBuffer ? new Uint8Array(c) : undefined;
}

/** Marks a streamed, verified file as cached: its meta, written after all its chunks. */
export async function commitCachedFile(
  packId: string,
  sha256: string,
  file: string,
  sizeBytes: number,
  chunkCount: number,
): Promise<void> {
  const meta: FileMeta = { packId, sha256, file, sizeBytes, chunkCount, storedAt: Date.now() };
  try {
    await set(fileKey(packId, sha256), meta, db());
  } catch (e) {
    if (isQuotaError(e)) throw new CacheFullError(e);
    throw e;
  }
}

/** Drops the chunks of a file that failed verification or could not be cached whole. */
export async function discardCachedChunks(
  packId: string,
  sha256: string,
  chunkCount: number,
): Promise<void> {
  // By key: a stream longer than declared may have stored more chunks than `chunkCount` (the
  // counted keys serve when the keys cannot be listed).
  const prefix = `chunk:${packId}:${sha256}:`;
  const chunkKeys = await keys(db()).then(
    (all) => (all as string[]).filter((k) => k.startsWith(prefix)),
    () => Array.from({ length: chunkCount }, (_, i) => chunkKey(packId, sha256, i)),
  );
  await delMany(chunkKeys, db()).catch(() => undefined);
}

/** The chunk keys of files that were never committed (a download interrupted or cancelled). */
function unfinishedChunkKeys(all: readonly string[]): string[] {
  const committed = new Set(
    all.filter((k) => k.startsWith('file:')).map((k) => k.slice('file:'.length)),
  );
  return all.filter(
    (k) => k.startsWith('chunk:') && !committed.has(k.slice('chunk:'.length, k.lastIndexOf(':'))),
  );
}

/** Remembers a pack's manifest so it can be reopened from the cache. */
export async function saveCachedPack(pack: Omit<CachedPack, 'storedAt'>): Promise<void> {
  try {
    await set(`pack:${pack.packId}`, { ...pack, storedAt: Date.now() }, db());
  } catch (e) {
    if (isQuotaError(e)) throw new CacheFullError(e);
    throw e;
  }
}

export async function getCachedPack(packId: string): Promise<CachedPack | undefined> {
  return get<CachedPack>(`pack:${packId}`, db());
}

export interface CacheSummary {
  packs: {
    packId: string;
    name: string;
    sourceLabel: string;
    fileCount: number;
    sizeBytes: number;
  }[];
  totalBytes: number;
  /**
   * Pieces of downloads that never finished (a tab closed or a worker stopped mid-download): files
   * and their stored chunks (each at most CHUNK_BYTES), counted nowhere else.
   */
  unfinished: { files: number; chunks: number };
  /** From navigator.storage.estimate(), when the browser offers it. */
  quotaBytes: number | null;
  usageBytes: number | null;
}

/** What is stored, per pack, with sizes. */
export async function summariseCache(): Promise<CacheSummary> {
  // Read only the small records: the chunks are megabytes, and deserialising them on the page's
  // thread would block it.
  const everything = (await keys(db())) as string[];
  const small = everything.filter((k) => k.startsWith('file:') || k.startsWith('pack:'));
  const orphans = unfinishedChunkKeys(everything);
  const unfinished = {
    files: new Set(orphans.map((k) => k.slice(0, k.lastIndexOf(':')))).size,
    chunks: orphans.length,
  };
  const values = await getMany<FileMeta | CachedPack>(small, db());
  const all = small.map((k, i) => [k, values[i]!] as const);
  const byPack = new Map<string, CacheSummary['packs'][number]>();
  const row = (packId: string) => {
    let r = byPack.get(packId);
    if (!r) {
      r = { packId, name: packId, sourceLabel: '', fileCount: 0, sizeBytes: 0 };
      byPack.set(packId, r);
    }
    return r;
  };
  for (const [key, value] of all) {
    if (key.startsWith('file:')) {
      const m = value as FileMeta;
      const r = row(m.packId);
      r.fileCount++;
      r.sizeBytes += m.sizeBytes;
    } else if (key.startsWith('pack:')) {
      const p = value as CachedPack;
      const r = row(p.packId);
      r.name = p.name;
      r.sourceLabel = p.sourceLabel;
    }
  }
  const packs = [...byPack.values()].sort((a, b) => a.packId.localeCompare(b.packId));
  let quotaBytes: number | null = null;
  let usageBytes: number | null = null;
  try {
    const est = await navigator.storage?.estimate?.();
    quotaBytes = est?.quota ?? null;
    usageBytes = est?.usage ?? null;
  } catch {
    // Some browsers (or contexts) have no storage estimate; sizes above still stand.
  }
  return {
    packs,
    totalBytes: packs.reduce((s, p) => s + p.sizeBytes, 0),
    unfinished,
    quotaBytes,
    usageBytes,
  };
}

/** Deletes the pieces of downloads that never finished. */
export async function clearUnfinished(): Promise<void> {
  await delMany(unfinishedChunkKeys((await keys(db())) as string[]), db());
}

/** Deletes one pack's files and manifest, or everything when `packId` is omitted. */
export async function clearCache(packId?: string): Promise<void> {
  const all = (await keys(db())) as string[];
  const doomed = packId
    ? all.filter(
        (k) =>
          k === `pack:${packId}` ||
          k.startsWith(`file:${packId}:`) ||
          k.startsWith(`chunk:${packId}:`),
      )
    : all;
  await delMany(doomed, db());
}
