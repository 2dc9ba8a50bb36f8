import { describe, expect, it } from 'vitest';
import { memoryAction, WASM_HARD_LIMIT } from './kioskHealth';

const MiB = 1024 * 1024;

describe('memoryAction', () => {
  it("restarts the worker past the booth's own heap limit, never above 3 GiB", () => {
    const base = { jsHeapBytes: 50 * MiB, wasmHeapBytes: 70 * MiB };
    expect(memoryAction(base, { ...base, wasmHeapBytes: 90 * MiB }, 100 * MiB)).toBe('ok');
    expect(memoryAction(base, { ...base, wasmHeapBytes: 110 * MiB }, 100 * MiB)).toBe(
      'restart-worker',
    );
    // Within the growth rule (3000 → 3100 MiB) but past WASM's 3 GiB: a limit above it does not count.
    const big = { jsHeapBytes: 50 * MiB, wasmHeapBytes: 3000 * MiB };
    expect(memoryAction(big, { ...big, wasmHeapBytes: 3100 * MiB }, 4096 * MiB)).toBe(
      'restart-worker',
    );
  });

  const base = { jsHeapBytes: 40 * MiB, wasmHeapBytes: 400 * MiB };

  it('is ok while the heaps stay near their warm readings', () => {
    expect(memoryAction(base, { jsHeapBytes: 60 * MiB, wasmHeapBytes: 500 * MiB })).toBe('ok');
    expect(memoryAction(base, { jsHeapBytes: null, wasmHeapBytes: null })).toBe('ok');
  });

  it('restarts the worker when its WASM heap grew by half and by 256 MiB', () => {
    expect(memoryAction(base, { ...base, wasmHeapBytes: 601 * MiB })).toBe('ok'); // +201 MiB only
    expect(memoryAction(base, { ...base, wasmHeapBytes: 700 * MiB })).toBe('restart-worker');
    expect(
      memoryAction(
        { ...base, wasmHeapBytes: null },
        { ...base, wasmHeapBytes: WASM_HARD_LIMIT + 1 },
      ),
    ).toBe('restart-worker');
  });

  it('reloads the page when its JS heap doubled and grew by 256 MiB, the worker first', () => {
    expect(memoryAction(base, { ...base, jsHeapBytes: 200 * MiB })).toBe('ok');
    expect(memoryAction(base, { ...base, jsHeapBytes: 300 * MiB })).toBe('reload-page');
    expect(memoryAction(base, { jsHeapBytes: 300 * MiB, wasmHeapBytes: 900 * MiB })).toBe(
      'restart-worker',
    );
  });
});
