#!/usr/bin/env node
// Runs an ONNX model with onnxruntime-node for the Python tooling (Debian has no onnxruntime for
// Python): node scripts/ort-run.mjs model.onnx io_dir [level] [repeats] [optimized]
// io_dir/inputs.json: {name: {dims, dtype, file}}, one raw little-endian .bin file per input.
// Writes io_dir/outputs.json (same shape) and one .bin per output, in the output's own dtype, and
// io_dir/timing.json {createMs, runMs: [...]} (the first run included).
// level: the graph optimisation level, disabled | basic | extended | all (default all);
// repeats: how many runs (default 1; the outputs are the last run's);
// optimized: where to save the graph as ONNX Runtime optimised it (optional).
// dtypes: float32 (the usual), float16 (raw IEEE half bits), int32, int64, uint8, bool.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const ARRAYS = {
  float32: Float32Array,
  float16: Uint16Array,
  int32: Int32Array,
  int64: BigInt64Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

const [model, dir, level = 'all', repeats = '1', optimized] = process.argv.slice(2);
if (!model || !dir) {
  console.error('usage: ort-run.mjs model.onnx io_dir [level] [repeats] [optimized]');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8'));
const feeds = {};
for (const [name, s] of Object.entries(spec)) {
  const Arr = ARRAYS[s.dtype];
  if (!Arr) throw new Error(`unsupported dtype ${s.dtype} for input ${name}`);
  const buf = readFileSync(join(dir, s.file));
  // Copy into a fresh, aligned buffer (a Buffer's byteOffset need not be a multiple of 8).
  const bytes = new Uint8Array(buf.byteLength);
  bytes.set(buf);
  const data = new Arr(bytes.buffer, 0, buf.byteLength / Arr.BYTES_PER_ELEMENT);
  feeds[name] = new ort.Tensor(s.dtype, data, s.dims);
}
let t0 = performance.now();
const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: level,
  ...(optimized ? { optimizedModelFilePath: optimized } : {}),
});
const createMs = performance.now() - t0;
const runMs = [];
let results;
for (let i = 0; i < Math.max(1, Number(repeats)); i++) {
  t0 = performance.now();
  results = await session.run(feeds);
  runMs.push(performance.now() - t0);
}
const outputs = {};
for (const [name, t] of Object.entries(results)) {
  if (!ARRAYS[t.type]) throw new Error(`unsupported dtype ${t.type} for output ${name}`);
  const data = t.data;
  const file = `out_${Object.keys(outputs).length}.bin`;
  writeFileSync(join(dir, file), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  outputs[name] = { dims: t.dims, dtype: t.type, file };
}
writeFileSync(join(dir, 'outputs.json'), JSON.stringify(outputs));
writeFileSync(join(dir, 'timing.json'), JSON.stringify({ createMs, runMs }));
await session.release();
