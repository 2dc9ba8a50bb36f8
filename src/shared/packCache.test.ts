/**
 * A cached file is thrown away only when it is damaged (a chunk evicted), not when reading it fails
 * for another reason (memory refused, a read error): that copy may be the only one, of a pack picked
 * from a folder. IndexedDB is an in-memory stand-in here (idb-keyval's calls over a Map).
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';

const store = new Map<string, unknown>();
let failReads = false;
vi.mock('idb-keyval', () => ({
  createStore: () => ({}),
  get: async (key: string) => {
    if (failReads && key.startsWith('chunk:'))
      throw new DOMException('read failed', 'UnknownError');
    return store.get(key);
  },
  getMany: async (keys: string[]) => keys.map((k) => store.get(k)),
  set: async (key: string, value: unknown) => void store.set(key, value),
  delMany: async (keys: string[]) => keys.forEach((k) => store.delete(k)),
  keys: async () => [...store.keys()],
}));

const { commitCachedFile, putCachedChunk, readCachedFile } = await import('./packCache');

async function cacheFile(): Promise<void> {
  await putCachedChunk('p', 'abc', 0, new Uint8Array([1, 2]));
  await putCachedChunk('p', 'abc', 1, new Uint8Array([3]));
  await commitCachedFile('p', 'abc', 'w.bin', 3, 2);
}

describe('readCachedFile', () => {
  beforeEach(() => {
    store.clear();
    failReads = false;
  });

  it('reads a whole file back', async () => {
    await cacheFile();
    const r = await readCachedFile('p', 'abc');
    expect(r.status).toBe('hit');
    expect(r.status === 'hit' && [...r.bytes]).toEqual([1, 2, 3]);
  });

  it('drops a file with a chunk evicted and says so', async () => {
    await cacheFile();
    store.delete('chunk:p:abc:1');
    expect((await readCachedFile('p', 'abc')).status).toBe('evicted');
    expect([...store.keys()]).toEqual([]);
  });

  it('keeps the file when reading fails for another reason', async () => {
    await cacheFile();
    failReads = true;
    await expect(readCachedFile('p', 'abc')).rejects.toThrow('read failed');
    expect(store.size).toBe(3);
  });
});
