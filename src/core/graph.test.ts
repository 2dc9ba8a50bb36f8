/**
 * A graph whose inputs or outputs are not of the types the studio feeds and reads is refused at
 * load, naming the graph, the tensor and its type, and saying what to do — an fp16 export with
 * fp16 inputs and outputs (onnxconverter-common's keep_io_types=False) or an int64 timestep once
 * loaded without a word and failed its first call with the runtime's own message. Checked on the
 * real onnxruntime-node and onnxruntime-web (WASM) with tiny graphs made here by python3-onnx, and
 * on every graph of the bundled packs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGraphNames, tokenIdsRole, wrapSession, type GraphRunner } from './graph';
import { graphsForVariant, parseManifest } from './manifest';
import { format2Manifest } from '../testing/format2Manifest';

/** Tiny graphs: `sample` (and `timestep`) → `prediction`, or `tokens` → `embedding`. */
const MAKE_GRAPHS = `
import sys, os, onnx
from onnx import helper, TensorProto as T
F, H, I = T.FLOAT, T.FLOAT16, T.INT64
def save(name, inputs, outputs, nodes):
    g = helper.make_graph(nodes, name,
        [helper.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [helper.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)])
    m.ir_version = 8
    onnx.save(m, os.path.join(sys.argv[1], name + '.onnx'))
def denoiser(name, sample, timestep, out):
    save(name, [('sample', sample, [1, 4]), ('timestep', timestep, [1])], [('prediction', out, [1, 4])],
         [helper.make_node('Cast', ['timestep'], ['t'], to=sample),
          helper.make_node('Add', ['sample', 't'], ['prediction'])])
denoiser('fp32', F, F, F)
denoiser('fp16_io', H, H, H)
denoiser('int64_timestep', F, I, F)
save('tokens', [('tokens', I, [1, 3])], [('embedding', F, [1, 3])],
     [helper.make_node('Cast', ['tokens'], ['embedding'], to=F)])
save('float_tokens', [('tokens', F, [1, 3])], [('embedding', F, [1, 3])],
     [helper.make_node('Identity', ['tokens'], ['embedding'])])
save('int64_extra_output', [('sample', F, [1, 4]), ('timestep', F, [1])],
     [('prediction', F, [1, 4]), ('argmax', I, [1, 1])],
     [helper.make_node('Add', ['sample', 'timestep'], ['prediction']),
      helper.make_node('ArgMax', ['sample'], ['argmax'], axis=1)])
`;

const DENOISER = { sample: 'sample', timestep: 'timestep' };
const PREDICTION = { prediction: 'prediction' };

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'graph-types-'));
  const made = spawnSync('/usr/bin/python3', ['-c', MAKE_GRAPHS, dir], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`python3-onnx could not build the graphs: ${made.stderr}`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

ortWeb.env.wasm.numThreads = 1;

const runtimes = {
  node: async (bytes: Uint8Array) =>
    wrapSession(await ortNode.InferenceSession.create(bytes), ortNode, 'a graph'),
  web: async (bytes: Uint8Array) =>
    wrapSession(
      await ortWeb.InferenceSession.create(bytes, { executionProviders: ['wasm'] }),
      ortWeb,
      'a graph',
    ),
};

describe.each(Object.entries(runtimes))('graph types on onnxruntime-%s', (_name, load) => {
  const open = (graph: string) => load(readFileSync(join(dir, `${graph}.onnx`)));
  const check = (runner: GraphRunner, inputs: Record<string, string>) => () =>
    checkGraphNames('the denoiser of variant "fp16" (unet_fp16.onnx)', runner, inputs, PREDICTION);

  it('reports the declared types and accepts a float32 graph', async () => {
    const runner = await open('fp32');
    expect(runner.inputTypes).toEqual({ sample: 'float32', timestep: 'float32' });
    expect(runner.outputTypes).toEqual({ prediction: 'float32' });
    expect(check(runner, DENOISER)).not.toThrow();
    await runner.release();
  });

  it('refuses fp16 inputs and outputs at load, naming each and saying what to do', async () => {
    const runner = await open('fp16_io');
    expect(check(runner, DENOISER)).toThrow(
      /^the denoiser of variant "fp16" \(unet_fp16\.onnx\) does not match the manifest: input "sample" \(sample\) is float16, but the studio feeds it float32; input "timestep" \(timestep\) is float16, .*; output "prediction" \(prediction\) is float16, but the studio reads it as float32; export the graph with float32 inputs and outputs .*keep_io_types=True/,
    );
    await runner.release();
  });

  it('refuses an int64 timestep at load', async () => {
    const runner = await open('int64_timestep');
    expect(check(runner, DENOISER)).toThrow(
      /input "timestep" \(timestep\) is int64, but the studio feeds it float32; export the graph with float32 inputs and outputs .*an integer input such as a timestep is cast to float inside the graph/,
    );
    await runner.release();
  });

  it('refuses an output the studio cannot read, even one the manifest does not name', async () => {
    const runner = await open('int64_extra_output');
    expect(check(runner, DENOISER)).toThrow(
      /output "argmax" is int64, but the studio reads every output of a graph as float32/,
    );
    await runner.release();
  });

  it('takes token ids as integers, and only them', async () => {
    const tokens = await open('tokens');
    const floatTokens = await open('float_tokens');
    const inputs = { [tokenIdsRole('tokens')]: 'tokens' };
    const stage = (r: GraphRunner, i: Record<string, string>) => () =>
      checkGraphNames('the stage "text"', r, i, { embedding: 'embedding' });
    expect(stage(tokens, inputs)).not.toThrow();
    const fed = await tokens.run({ tokens: { tokens: Int32Array.of(5, 6, 7), dims: [1, 3] } });
    expect([...fed.embedding!.data]).toEqual([5, 6, 7]);
    expect(stage(floatTokens, inputs)).toThrow(
      /input "tokens" \(token ids → tokens\) is float32, but the studio feeds token ids as int64 or int32/,
    );
    // Declared as a float input, an int64 one is refused.
    expect(stage(tokens, { tokens: 'tokens' })).toThrow(
      /is int64, but the studio feeds it float32/,
    );
    await tokens.release();
    await floatTokens.release();
  });
});

describe('graph types where the runtime reports none', () => {
  it('checks names only', () => {
    const runner = { inputNames: ['sample', 'timestep'], outputNames: ['prediction'] };
    expect(() => checkGraphNames('a graph', runner, DENOISER, PREDICTION)).not.toThrow();
  });
});

describe('token ids in a pack', () => {
  it('are declared under their role for the stage that takes them', () => {
    const text = graphsForVariant(format2Manifest(), 'base').find((g) => g.key.includes('text'))!;
    expect(text.inputs).toEqual({ [tokenIdsRole('tokens')]: 'tokens' });
  });
});

describe('the bundled packs', () => {
  const MAX_CHECKED_BYTES = 16 * 2 ** 20;
  const root = resolve(import.meta.dirname, '../../models');
  const packs = [
    'tiny',
    'cel',
    'tooncrafter-tiny',
    ...readdirSync(join(root, 'reference')).map((p) => `reference/${p}`),
  ].filter((p) => existsSync(join(root, p, 'manifest.json')));

  it.each(packs)('%s: every graph takes and gives what the studio feeds and reads', async (p) => {
    const r = parseManifest(readFileSync(join(root, p, 'manifest.json'), 'utf8'));
    if (!r.ok) throw new Error(r.errors.join('; '));
    const seen = new Set<string>();
    for (const v of r.manifest.variants) {
      for (const g of graphsForVariant(r.manifest, v.id)) {
        // The tiny ToonCrafter UNets (22–42 MB) take seconds each to load; loadVariantGraphs runs
        // this check on them in src/node/tooncrafterParity.test.ts.
        if (seen.has(g.key) || g.spec.sizeBytes > MAX_CHECKED_BYTES) continue;
        seen.add(g.key);
        const file = join(root, p, g.spec.file);
        const session = await ortNode.InferenceSession.create(file, {
          graphOptimizationLevel: 'basic',
        });
        const runner = wrapSession(session, ortNode, g.what);
        try {
          expect(() => checkGraphNames(g.what, runner, g.inputs, g.outputs)).not.toThrow();
        } finally {
          await runner.release();
        }
      }
    }
  });
});
