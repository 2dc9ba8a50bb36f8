#!/usr/bin/env node
// Runs an ONNX model with onnxruntime-node for the Python tooling (Debian has no onnxruntime for
// Python): node scripts/ort-run.mjs model.onnx io_dir
// io_dir/inputs.json: {name: {dims, dtype: "float32", file}}, raw little-endian .bin files beside it.
// Writes io_dir/outputs.json and one .bin per output (float32).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';

const [model, dir] = process.argv.slice(2);
if (!model || !dir) {
  console.error('usage: ort-run.mjs model.onnx io_dir');
  process.exit(2);
}
const spec = JSON.parse(readFileSync(join(dir, 'inputs.json'), 'utf8'));
const feeds = {};
for (const [name, s] of Object.entries(spec)) {
  if (s.dtype !== 'float32') throw new Error(`unsupported dtype ${s.dtype} for ${name}`);
  const buf = readFileSync(join(dir, s.file));
  feeds[name] = new ort.Tensor(
    'float32',
    new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4),
    s.dims,
  );
}
const session = await ort.InferenceSession.create(model, {
  executionProviders: ['cpu'],
  graphOptimizationLevel: 'all',
});
const results = await session.run(feeds);
const outputs = {};
for (const [name, t] of Object.entries(results)) {
  let data = t.data;
  if (!(data instanceof Float32Array)) data = Float32Array.from(data);
  const file = `out_${Object.keys(outputs).length}.bin`;
  writeFileSync(join(dir, file), Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  outputs[name] = { dims: t.dims, dtype: 'float32', file };
}
writeFileSync(join(dir, 'outputs.json'), JSON.stringify(outputs));
