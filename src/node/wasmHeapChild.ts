/**
 * How much onnxruntime-web's WebAssembly heap grows while one float32 graph runs once, run by
 * `wasmHeapGrowth` (src/node/packMemory.ts) as `node --import tsx wasmHeapChild.ts model.onnx
 * feeds.json` in a fresh process, so the heap is that graph's alone. Prints one JSON line:
 * {"afterCreate": bytes, "afterRun": bytes}. The heap (the linear memory ORT's module creates)
 * only grows, so after the run it is the run's high-water mark.
 */
import { readFileSync } from 'node:fs';

const memories: WebAssembly.Memory[] = [];
const NativeMemory = WebAssembly.Memory;
const Probed = function (this: unknown, desc: WebAssembly.MemoryDescriptor) {
  const m = new NativeMemory(desc);
  memories.push(m);
  return m;
} as unknown as typeof WebAssembly.Memory;
Probed.prototype = NativeMemory.prototype;
(WebAssembly as { Memory: typeof WebAssembly.Memory }).Memory = Probed;
// Imported only now, so that ORT's module makes its memory through the probe.
const ort = await import('onnxruntime-web');
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';
const heap = () => memories.reduce((s, m) => s + m.buffer.byteLength, 0);
const [model, feedsFile] = process.argv.slice(2);
const spec = JSON.parse(readFileSync(feedsFile!, 'utf8')) as Record<string, number[]>;
const session = await ort.InferenceSession.create(readFileSync(model!), {
  graphOptimizationLevel: 'all',
});
const afterCreate = heap();
const feeds = Object.fromEntries(
  Object.entries(spec).map(([name, dims]) => {
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.1);
    return [name, new ort.Tensor('float32', data, dims)];
  }),
);
await session.run(feeds);
console.log(JSON.stringify({ afterCreate, afterRun: heap() }));
process.exit(0);
