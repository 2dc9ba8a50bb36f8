/**
 * ONNX Runtime Web, configured once per worker before any session exists (self-hosted runtime
 * files, threads when the page is cross-origin isolated), plus a one-time WebGPU probe. Every
 * worker imports `ort` from here, never from 'onnxruntime-web' directly.
 */
import * as ort from 'onnxruntime-web';

// ---- ORT environment: set once, before the first session exists. -------------------------------
// Runtime files are self-hosted under /ort/ (see scripts/packAssetsPlugin.ts), never a CDN. Setting
// wasmPaths also keeps ORT's pthread workers from re-running this module (they would otherwise start
// from this chunk's URL and hang the production build).
ort.env.wasm.wasmPaths = new URL(`${import.meta.env.BASE_URL}ort/`, self.location.origin).href;
ort.env.wasm.numThreads = self.crossOriginIsolated
  ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1))
  : 1;
ort.env.logLevel = 'error';

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

export { ort };
