/**
 * The kiosk's memory watch, as a pure rule: after a warm-up the kiosk remembers the page's JS heap
 * and the worker's WASM heap, then compares every later reading with them. ONNX Runtime's WASM
 * heap never shrinks, so growth there is only undone by a fresh worker (its model is loaded again
 * from the cache in about a second); JS heap growth in the page only by a reload, which the kiosk
 * does only while nobody is using it.
 */

export interface MemorySample {
  /** The page's used JS heap (Chromium's performance.memory), bytes; null where not exposed. */
  jsHeapBytes: number | null;
  /** ONNX Runtime's WASM heap in the inference worker, bytes; null without a worker. */
  wasmHeapBytes: number | null;
}

export type MemoryAction = 'ok' | 'restart-worker' | 'reload-page';

const MiB = 1024 * 1024;

/** WASM32 holds at most 4 GiB; a fresh worker long before that. */
export const WASM_HARD_LIMIT = 3 * 1024 * MiB;

/**
 * What to do about `now` given the readings after warm-up: restart the worker when its WASM heap
 * grew by half (and at least 256 MiB) or passed `wasmLimit` (3 GiB, or the booth's `heap=`); reload
 * the page when its JS heap doubled (and grew at least 256 MiB). A worker restart comes first: it
 * is cheaper.
 */
export function memoryAction(
  baseline: MemorySample,
  now: MemorySample,
  wasmLimit: number = WASM_HARD_LIMIT,
): MemoryAction {
  const grew = (base: number | null, cur: number | null, factor: number) =>
    base !== null && cur !== null && cur > Math.max(base * factor, base + 256 * MiB);
  if (
    grew(baseline.wasmHeapBytes, now.wasmHeapBytes, 1.5) ||
    (now.wasmHeapBytes ?? 0) > Math.min(wasmLimit, WASM_HARD_LIMIT)
  )
    return 'restart-worker';
  if (grew(baseline.jsHeapBytes, now.jsHeapBytes, 2)) return 'reload-page';
  return 'ok';
}

/** The page's JS heap where Chromium exposes it (performance.memory), else null. */
export function pageHeapBytes(): number | null {
  const m = (performance as Performance & { memory?: { usedJSHeapSize?: number } }).memory;
  return typeof m?.usedJSHeapSize === 'number' ? m.usedJSHeapSize : null;
}
