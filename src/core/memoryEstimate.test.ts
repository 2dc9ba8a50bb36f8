import { describe, expect, it } from 'vitest';
import { format2Manifest } from '../testing/format2Manifest';
import { validateManifest, type PackManifest } from './manifest';
import {
  estimateMemory,
  RUNTIME_OVERHEAD_BYTES,
  sessionsToRelease,
  WASM32_LIMIT_BYTES,
} from './memoryEstimate';

const GiB = 2 ** 30;
const ext = (n: number, bytes: number) =>
  Array.from({ length: n }, (_, i) => ({
    file: `w${i}.bin`,
    sizeBytes: bytes,
    sha256: 'c'.repeat(64),
  }));

/** The tiny ToonCrafter-shaped manifest with its denoiser's weights in external data. */
function withWeights(files: number, bytesEach: number, extra: Partial<PackManifest> = {}) {
  const m = format2Manifest();
  const den = m.graphs.denoisers['base']!;
  m.graphs.denoisers['base'] = { ...den, externalData: ext(files, bytesEach) };
  const r = validateManifest({ ...m, ...extra });
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.manifest;
}

describe('estimateMemory', () => {
  it('counts every file the variant loads, and the largest graph twice while it loads', () => {
    const m = withWeights(2, 300 * 2 ** 20);
    const e = estimateMemory(m, 'base', { backend: 'wasm' });
    const files = 600 * 2 ** 20;
    expect(e.weightsBytes).toBeGreaterThan(files);
    expect(e.weightsBytes).toBeLessThan(files + 2 ** 20);
    expect(e.activationBytes).toBeNull();
    expect(e.runBytes).toBe(e.weightsBytes + RUNTIME_OVERHEAD_BYTES);
    expect(e.loadPeakBytes).toBeGreaterThan(e.weightsBytes + files);
    expect(e.verdict).toBe('ok');
  });

  it('refuses WASM beyond 4 GiB with the reason and the way out, and lets WebGPU try', () => {
    const m = withWeights(2, 2.5 * GiB);
    const wasm = estimateMemory(m, 'base', { backend: 'wasm' });
    expect(wasm.verdict).toBe('refuse');
    expect(wasm.runBytes).toBeGreaterThan(WASM32_LIMIT_BYTES);
    expect(wasm.message).toMatch(
      /needs 5\.0 GB of weights on the CPU backend — more than the 4 GiB WebAssembly can address \(the pack does not declare its working memory, so that is on top\)\. Run it on WebGPU/,
    );
    expect(estimateMemory(m, 'base', { backend: 'webgpu' }).verdict).toBe('ok');
    const small = estimateMemory(m, 'base', { backend: 'webgpu', deviceMemoryGiB: 8 });
    expect(small.verdict).toBe('warn');
    expect(small.message).toMatch(/this device reports about 8 GB of memory/);
  });

  it('scales the declared working memory by pixel area and batch', () => {
    const m = withWeights(1, 100 * 2 ** 20, {
      memory: { activationBytes: 400 * 2 ** 20, atSize: [128, 64] },
    } as Partial<PackManifest>);
    const e = estimateMemory(m, 'base', { backend: 'wasm', size: [256, 128], batch: 2 });
    expect(e.activationBytes).toBe(400 * 2 ** 20 * 4 * 2);
    const big = estimateMemory(m, 'base', { backend: 'wasm', size: [1024, 512], batch: 2 });
    expect(big.verdict).toBe('refuse');
    expect(big.message).toMatch(/about 50\.0 GB of working memory/);
  });

  it('grows the quadratic share of the working memory with the square of the area', () => {
    const m = withWeights(1, 100 * 2 ** 20, {
      memory: { activationBytes: 100 * 2 ** 20, atSize: [128, 64], quadraticShare: 0.25 },
    } as Partial<PackManifest>);
    // Twice the width and height: area ×4, so 0.75·4 + 0.25·16 = 7 times the declared bytes.
    const e = estimateMemory(m, 'base', { backend: 'wasm', size: [256, 128], batch: 1 });
    expect(e.activationBytes).toBe(700 * 2 ** 20);
    // At the declared size nothing changes; at half the width and height, 0.75/4 + 0.25/16.
    const at = estimateMemory(m, 'base', { backend: 'wasm', size: [128, 64] });
    expect(at.activationBytes).toBe(100 * 2 ** 20);
    const half = estimateMemory(m, 'base', { backend: 'wasm', size: [64, 32] });
    expect(half.activationBytes).toBe(Math.ceil(100 * 2 ** 20 * (0.75 / 4 + 0.25 / 16)));
  });

  it('warns close to the WASM limit', () => {
    const e = estimateMemory(withWeights(1, Math.round(3.4 * GiB)), 'base', { backend: 'wasm' });
    expect(e.verdict).toBe('warn');
    expect(e.message).toMatch(/close to the 4 GiB WebAssembly can address/);
  });
});

describe('external data in the manifest', () => {
  it('takes files up to 4 GiB each and says to split a bigger one', () => {
    expect(() => withWeights(1, 3 * GiB)).not.toThrow();
    expect(() => withWeights(1, 5 * GiB)).toThrow(
      'graphs.denoisers.base.externalData[0].sizeBytes: is larger than 4 GiB: split the external data into several files',
    );
  });
});

describe('sessionsToRelease', () => {
  const MB = 2 ** 20;
  const loaded = new Map([
    ['encoder@wasm', 50 * MB],
    ['denoiser:fp32@wasm', 300 * MB],
    ['denoiser:lora@wasm', 310 * MB],
  ]);

  it("keeps other variants' sessions while everything stays small", () => {
    const needed = new Set(['encoder@wasm', 'denoiser:fp16@wasm']);
    expect(sessionsToRelease(loaded, needed, 200 * MB)).toEqual([]);
  });

  it('releases every session the variant does not use when they would crowd it', () => {
    const needed = new Set(['encoder@wasm', 'denoiser:big@wasm']);
    expect(sessionsToRelease(loaded, needed, 500 * MB)).toEqual([
      'denoiser:fp32@wasm',
      'denoiser:lora@wasm',
    ]);
    // The same variant's graphs on the other backend are others too.
    const webgpu = new Set(['encoder@webgpu', 'denoiser:fp32@webgpu']);
    expect(sessionsToRelease(loaded, webgpu, 700 * MB)).toEqual([...loaded.keys()]);
  });
});
