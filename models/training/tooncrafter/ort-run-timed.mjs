#!/usr/bin/env node
// scripts/ort-run.mjs with the session's graph optimisation level chosen and the run timed, for
// models/training/tooncrafter/ort_timed.py (ToonCrafter's UNet is refused by ORT's optimiser in
// some export forms, issue 18): node ort-run-timed.mjs model.onnx io_dir level repeats
// level: disabled | basic | extended | all. Same io_dir layout as scripts/ort-run.mjs (float32,
// int64 only); also writes io_dir/timing.json {createMs, runMs: [...]}, the first run included.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const ARRAYS = { float32: Float32Array, int64: BigInt64Array };
const [model, dir, level = 'all', repeats = '1'] = process.argv.slice(2);
if (!model || !dir) {
  console.error('usage: ort-run-timed.mjs model.onnx io_dir [level] [repeats]');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8'));
const feeds = {};
for (const [name, s] of Object.entries(spec)) {
  const Arr = ARRAYS[s.dtype];
  if (!Arr) throw new Error(`unsupported dtype ${s.dtype} for input ${name}`);
  const buf = readFileSync(join(dir, s.file));
  const bytes = new Uint8Array(buf.byteLength);
  bytes.set(buf);
  feeds[name] = new ort.Tensor(
    s.dtype,
    new Arr(bytes.buffer, 0, buf.byteLength / Arr.BYTES_PER_ELEMENT),
    s.dims,
  );
}
let t0 = performance.now();
const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: level,
});
const createMs = performance.now() - t0;
const runMs = [];
let results;
for (let i = 0; i < Number(repeats); i++) {
  t0 = performance.now();
  results = await session.run(feeds);
  runMs.push(performance.now() - t0);
}
const outputs = {};
for (const [name, t] of Object.entries(results)) {
  if (!ARRAYS[t.type]) throw new Error(`unsupported dtype ${t.type} for output ${name}`);
  const file = `out_${Object.keys(outputs).length}.bin`;
  writeFileSync(join(dir, file), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  outputs[name] = { dims: t.dims, dtype: t.type, file };
}
writeFileSync(join(dir, 'outputs.json'), JSON.stringify(outputs));
writeFileSync(join(dir, 'timing.json'), JSON.stringify({ createMs, runMs }));
await session.release();
