/**
 * ONNX Runtime Web, configured once per worker before any session exists (self-hosted runtime
 * files, threads when the page is cross-origin isolated), plus a one-time WebGPU probe and the
 * browser's one session factory (`createSession`). Every worker gets its runtime and sessions
 * from here, never from 'onnxruntime-web' directly.
 */
import type * as OrtModule from 'onnxruntime-web';
import { SESSION_TUNING, wrapSession, type GraphRunner } from '../core/graph';
import { residentRunner } from './gpuResident';

type Ort = typeof OrtModule;

/** WASM threads: up to 4 where the page is cross-origin isolated (SharedArrayBuffer), else 1. */
export const WASM_THREADS = self.crossOriginIsolated
  ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1))
  : 1;

// ---- ORT environment: set once per runtime build, before its first session exists. -------------
// Runtime files are self-hosted under /ort/ (see scripts/packAssetsPlugin.ts), never a CDN. Setting
// wasmPaths also keeps ORT's pthread workers from re-running this module (they would otherwise start
// from this chunk's URL and hang the production build).
function configure(o: Ort): Ort {
  o.env.wasm.wasmPaths = new URL(`${import.meta.env.BASE_URL}ort/`, self.location.origin).href;
  o.env.wasm.numThreads = WASM_THREADS;
  o.env.logLevel = 'error';
  return o;
}

let wasmOnly: Promise<Ort> | null = null;
let webgpu: Promise<Ort> | null = null;

/**
 * The runtime build for a backend, each fetched only when a session of its backend is first made:
 * - WebGPU: `onnxruntime-web/webgpu`, ONNX Runtime's native WebGPU execution provider (its C++
 *   WebGPU EP compiled to WebAssembly with asyncify, `ort-wasm-simd-threaded.asyncify.wasm`), which
 *   replaces the JSEP backend (upstream `docs/JSEP_Deprecation.md`; fp16 Conv3D returned zeros on
 *   JSEP in one report).
 * - WASM: the WASM-only build, which the browser optimises much sooner after it starts than a
 *   build that carries a GPU backend — measured here, the same denoiser step was slow (120–190 ms
 *   instead of ~41 ms) for the first ~9 s of work with the JSEP build and ~2.5 s with the WASM-only
 *   one (docs/architecture.md).
 */
export function ortFor(backend: 'webgpu' | 'wasm'): Promise<Ort> {
  if (backend === 'webgpu') {
    webgpu ??= import('onnxruntime-web/webgpu').then((m) => configure(m as unknown as Ort));
    return webgpu;
  }
  wasmOnly ??= import('onnxruntime-web/wasm').then((m) => configure(m as unknown as Ort));
  return wasmOnly;
}

export interface GpuProbe {
  adapter: boolean;
  fallback: boolean;
  shaderF16: boolean;
}
let gpuProbe: Promise<GpuProbe> | null = null;

/** What WebGPU offers here, probed once per worker. */
export function probeGpu(): Promise<GpuProbe> {
  gpuProbe ??= (async () => {
    const gpu = (navigator as Navigator & { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (!gpu) return { adapter: false, fallback: false, shaderF16: false };
    try {
      const adapter = (await gpu.requestAdapter()) as {
        features: Set<string>;
        info?: { isFallbackAdapter?: boolean };
        isFallbackAdapter?: boolean;
      } | null;
      if (!adapter) return { adapter: false, fallback: false, shaderF16: false };
      return {
        adapter: true,
        fallback: Boolean(adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter),
        shaderF16: adapter.features.has('shader-f16'),
      };
    } catch {
      return { adapter: false, fallback: false, shaderF16: false };
    }
  })();
  return gpuProbe;
}

/** ONNX Runtime's words for bytes it cannot read as a model (protobuf, graph or model errors). */
const UNREADABLE_MODEL = /protobuf|invalid model|model_proto|ERROR_CODE: (7|10)\b|no graph/i;

/**
 * The browser's one session factory: a graph's bytes (and its external-data files, when a pack
 * splits weights out) on the chosen backend with SESSION_TUNING, wrapped as a GraphRunner named
 * `what` in messages.
 */
export async function createSession(
  what: string,
  backend: 'webgpu' | 'wasm',
  bytes: Uint8Array,
  externalData: { path: string; data: Uint8Array }[] = [],
): Promise<GraphRunner> {
  try {
    const rt = await ortFor(backend);
    const session = await rt.InferenceSession.create(bytes, {
      executionProviders: [backend],
      ...SESSION_TUNING,
      ...(externalData.length ? { externalData } : {}),
    });
    const runner = wrapSession(session, rt, what);
    // On WebGPU a denoising loop can keep its sample on the device (src/workers/gpuResident.ts).
    return backend === 'webgpu'
      ? { ...runner, resident: residentRunner(session, rt, what) }
      : runner;
  } catch (e) {
    const detail = e instanceof Error ? e.message : String(e);
    // The model is to blame only when the runtime could not read it; out of memory, a runtime that
    // did not start or an operator the backend lacks are said as what they are.
    const why = UNREADABLE_MODEL.test(detail)
      ? 'it is not a valid ONNX model for this runtime'
      : `the ${backend === 'webgpu' ? 'WebGPU' : 'WASM'} runtime could not create its session`;
    throw new Error(`Could not load ${what}: ${why} (${detail.slice(0, 300)})`, { cause: e });
  }
}
