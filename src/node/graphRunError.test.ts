/**
 * A graph that refuses its inputs names itself: onnxruntime's own "invalid dimensions" text once
 * reached the page as it was, without saying which of a pack's graphs failed or what to check.
 * Runs the real onnxruntime-node on a graph with a fixed input shape, made here with python3-onnx.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { GraphRunError, SESSION_TUNING, wrapSession } from '../core/graph';

const MAKE_GRAPH = `
import sys, onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info('sample', TensorProto.FLOAT, [1, 4, 8, 8])
y = helper.make_tensor_value_info('prediction', TensorProto.FLOAT, [1, 4, 8, 8])
g = helper.make_graph([helper.make_node('Identity', ['sample'], ['prediction'])], 'fixed', [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)])
m.ir_version = 8
onnx.save(m, sys.argv[1])
`;

let dir = '';
let bytes: Uint8Array;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'graph-error-'));
  const file = join(dir, 'fixed.onnx');
  const made = spawnSync('/usr/bin/python3', ['-c', MAKE_GRAPH, file], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`python3-onnx could not build the graph: ${made.stderr}`);
  bytes = readFileSync(file);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a graph run that fails', () => {
  it('names the graph, the shapes it was given and what to check', async () => {
    const session = await ort.InferenceSession.create(bytes, SESSION_TUNING);
    const runner = wrapSession(session, ort, 'the denoiser of variant "baseline" (denoiser.onnx)');
    const ok = await runner.run({ sample: { data: new Float32Array(256), dims: [1, 4, 8, 8] } });
    expect(ok.prediction!.dims).toEqual([1, 4, 8, 8]);
    const failure = runner.run({ sample: { data: new Float32Array(384), dims: [1, 4, 8, 12] } });
    await expect(failure).rejects.toThrow(GraphRunError);
    await expect(failure).rejects.toThrow(
      /^the denoiser of variant "baseline" \(denoiser\.onnx\) failed to run on inputs sample \[1, 4, 8, 12\]: .*dimensions.* check the manifest's image size, latent channels and downsample factor/,
    );
    await runner.release();
  });
});
