/**
 * Memory figures for the efficiency table, read where the browser exposes them to a worker:
 * - the WASM heap: the linear memory of every WebAssembly instance this worker creates (ONNX
 *   Runtime's), i.e. `memory.buffer.byteLength`. It only grows, so after a variant is loaded and
 *   run in a fresh worker it is that variant's high-water mark.
 * - WebGPU buffers: the most bytes of GPU buffers live at once on any GPUDevice in this worker
 *   (ONNX Runtime's WebGPU backend), since the worker started.
 * Both are observed by wrapping the constructors before ONNX Runtime first uses them, so this module
 * must be imported before anything that starts a session. Nothing is estimated: a figure the
 * browser does not expose is `null`.
 */
import type { MemoryReading } from '../shared/protocol';

const memories = new Set<WebAssembly.Memory>();
let gpuLive = 0;
let gpuPeak = 0;
let gpuSeen = false;

function remember(exports: WebAssembly.Exports | undefined): void {
  if (!exports) return;
  for (const v of Object.values(exports)) if (v instanceof WebAssembly.Memory) memories.add(v);
}

function watchWasm(): void {
  const W = WebAssembly as typeof WebAssembly & { __inbetweenProbe?: boolean };
  if (W.__inbetweenProbe) return;
  W.__inbetweenProbe = true;
  const NativeMemory = WebAssembly.Memory;
  const Probed = function (this: unknown, desc: WebAssembly.MemoryDescriptor) {
    const m = new NativeMemory(desc);
    memories.add(m);
    return m;
  } as unknown as typeof WebAssembly.Memory;
  Probed.prototype = NativeMemory.prototype;
  W.Memory = Probed;
  const instantiate = WebAssembly.instantiate.bind(WebAssembly);
  W.instantiate = (async (source: unknown, imports?: WebAssembly.Imports) => {
    const result = await (instantiate as (s: unknown, i?: WebAssembly.Imports) => Promise<unknown>)(
      source,
      imports,
    );
    const inst =
      result instanceof WebAssembly.Instance
        ? result
        : (result as { instance: WebAssembly.Instance }).instance;
    remember(inst?.exports);
    return result;
  }) as typeof WebAssembly.instantiate;
  if (typeof WebAssembly.instantiateStreaming === 'function') {
    const streaming = WebAssembly.instantiateStreaming.bind(WebAssembly);
    W.instantiateStreaming = async (source, imports) => {
      const result = await streaming(source, imports);
      remember(result.instance.exports);
      return result;
    };
  }
}

interface GpuBufferLike {
  size: number;
  destroy(): void;
}

function watchGpu(): void {
  const Device = (globalThis as unknown as { GPUDevice?: { prototype: Record<string, unknown> } })
    .GPUDevice;
  if (!Device || Device.prototype.__inbetweenProbe) return;
  Device.prototype.__inbetweenProbe = true;
  const create = Device.prototype.createBuffer as (this: unknown, d: unknown) => GpuBufferLike;
  Device.prototype.createBuffer = function (this: unknown, descriptor: unknown) {
    const buffer = create.call(this, descriptor);
    const size = Number(buffer.size) || 0;
    gpuSeen = true;
    gpuLive += size;
    gpuPeak = Math.max(gpuPeak, gpuLive);
    const destroy = buffer.destroy.bind(buffer);
    let alive = true;
    buffer.destroy = () => {
      if (alive) {
        alive = false;
        gpuLive -= size;
      }
      destroy();
    };
    return buffer;
  };
}

watchWasm();
watchGpu();

export function readMemory(): MemoryReading {
  let wasm = 0;
  for (const m of memories) wasm += m.buffer.byteLength;
  return {
    wasmHeapBytes: memories.size ? wasm : null,
    gpuPeakBytes: gpuSeen ? gpuPeak : null,
  };
}
