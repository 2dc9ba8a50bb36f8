/**
 * Before a variant loads: how much memory each backend will need, and whether this browser can
 * give it — so a pack of real size is refused with a reason instead of crashing the tab halfway
 * through a multi-gigabyte download or session creation.
 *
 * - Weights: exact, the bytes of every file the variant loads (graphs, their external data,
 *   constants), as the manifest declares them.
 * - Working memory (activations): what the pack's `memory.activationBytes` declares for one
 *   in-between at `memory.atSize` (measured by `npm run pack:memory`), scaled by batch and by the
 *   pixel area r: (1 − q)·r + q·r², q its `quadraticShare` (attention maps grow with r²); a pack
 *   that declares nothing is estimated on its weights alone, and the estimate says so.
 * - Loading: ONNX Runtime Web copies a graph's external data from JavaScript into its own memory,
 *   so while the largest graph's session is created its weights are held twice.
 * - WASM: ONNX Runtime's WebAssembly memory is 32-bit, at most 4 GiB, and holds every weight and
 *   activation: beyond that the variant is refused on WASM. WebGPU keeps weights in GPU memory,
 *   which the browser does not report; there the estimate warns against the device's RAM.
 */
import { formatBytes } from './format';
import {
  filesForVariant,
  graphsForVariant,
  type PackManifest,
  type VariantGraph,
} from './manifest';

/** WebAssembly's 32-bit address space: the most memory ONNX Runtime's WASM backend can have. */
export const WASM32_LIMIT_BYTES = 4 * 2 ** 30;
/** The runtime's own code, arenas and the page's buffers beside the model (measured on the bundled packs, rounded up). */
export const RUNTIME_OVERHEAD_BYTES = 192 * 2 ** 20;

/** The bytes of one graph's weights: its file and its external-data files. */
export function graphBytes(g: Pick<VariantGraph, 'spec'>): number {
  return g.spec.sizeBytes + (g.spec.externalData ?? []).reduce((s, x) => s + x.sizeBytes, 0);
}

/**
 * Other variants' sessions stay loaded (switching back to one, or a sweep across them, loads
 * nothing) while they and the variant being loaded hold at most this many bytes of weights.
 */
export const KEEP_LOADED_BYTES = 2 ** 30;

/**
 * The loaded sessions (key → bytes of weights) to release before a variant whose sessions are
 * `needed`, with `neededBytes` of weights, loads: none while everything stays within
 * KEEP_LOADED_BYTES, else every session it does not use — a pack of gigabyte variants keeps one.
 */
export function sessionsToRelease(
  loaded: ReadonlyMap<string, number>,
  needed: ReadonlySet<string>,
  neededBytes: number,
): string[] {
  const others = [...loaded].filter(([key]) => !needed.has(key));
  const total = others.reduce((s, [, bytes]) => s + bytes, 0) + neededBytes;
  return total > KEEP_LOADED_BYTES ? others.map(([key]) => key) : [];
}

export interface MemoryEstimate {
  backend: 'wasm' | 'webgpu';
  weightsBytes: number;
  /** Working memory at the run's size, or null when the pack declares none. */
  activationBytes: number | null;
  /** What the backend's memory must hold while running: weights (on WASM), activations, runtime. */
  runBytes: number;
  /** The peak while the largest graph's session is created (its external data held twice). */
  loadPeakBytes: number;
  verdict: 'ok' | 'warn' | 'refuse';
  /** One or two sentences for people when the verdict is not ok. */
  message: string | null;
}

export interface EstimateOptions {
  backend: 'wasm' | 'webgpu';
  /** The model size the run uses, [width, height] (default: the pack's). */
  size?: readonly [number, number];
  /** Frames per denoiser call (position packs batch in-betweens; clip packs: 2 with batched guidance). */
  batch?: number;
  /** navigator.deviceMemory (GiB, rounded down by the browser), or null where unknown. */
  deviceMemoryGiB?: number | null;
}

/** The memory a variant needs on a backend, and whether to go ahead. */
export function estimateMemory(
  m: PackManifest,
  variantId: string,
  opts: EstimateOptions,
): MemoryEstimate {
  const weightsBytes = filesForVariant(m, variantId).reduce((s, f) => s + f.sizeBytes, 0);
  const largestGraph = Math.max(0, ...graphsForVariant(m, variantId).map(graphBytes));
  let activationBytes: number | null = null;
  if (m.memory) {
    const [w, h] = opts.size ?? m.image.defaultSize;
    const [w0, h0] = m.memory.atSize ?? m.image.defaultSize;
    const r = (w * h) / (w0 * h0);
    const q = m.memory.quadraticShare ?? 0;
    activationBytes = Math.ceil(
      m.memory.activationBytes * ((1 - q) * r + q * r * r) * Math.max(1, opts.batch ?? 1),
    );
  }
  const onWasm = opts.backend === 'wasm';
  const runBytes = (onWasm ? weightsBytes : 0) + (activationBytes ?? 0) + RUNTIME_OVERHEAD_BYTES;
  const loadPeakBytes = weightsBytes + largestGraph + (activationBytes ?? 0);
  const base = { backend: opts.backend, weightsBytes, activationBytes, runBytes, loadPeakBytes };
  const need = `${formatBytes(weightsBytes)} of weights${activationBytes !== null ? ` and about ${formatBytes(activationBytes)} of working memory` : ''}`;
  const unknownWork =
    activationBytes === null
      ? ' (the pack does not declare its working memory, so that is on top)'
      : '';
  if (onWasm && runBytes > WASM32_LIMIT_BYTES) {
    return {
      ...base,
      verdict: 'refuse',
      message: `This variant needs ${need} on the CPU backend — more than the 4 GiB WebAssembly can address${unknownWork}. Run it on WebGPU, or choose a smaller variant (fp16 halves the weights).`,
    };
  }
  const ram = opts.deviceMemoryGiB;
  if (ram && loadPeakBytes > ram * 2 ** 30 * 0.75) {
    return {
      ...base,
      verdict: 'warn',
      message: `Loading this variant takes about ${formatBytes(loadPeakBytes)} (${need}, the largest graph's weights held twice while its session is created)${unknownWork}; this device reports about ${ram} GB of memory, so the tab may run out. Close other tabs first, or choose a smaller variant.`,
    };
  }
  if (onWasm && runBytes > WASM32_LIMIT_BYTES * 0.85) {
    return {
      ...base,
      verdict: 'warn',
      message: `This variant needs ${need} on the CPU backend, close to the 4 GiB WebAssembly can address${unknownWork}; a larger size or batch may not fit. WebGPU has more room.`,
    };
  }
  return { ...base, verdict: 'ok', message: null };
}
