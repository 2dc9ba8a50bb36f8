/**
 * `npm run profile`'s library on the tiny pack's denoiser: the feeds come from the real pipeline,
 * both runtimes (onnxruntime-web's WASM in a child process, onnxruntime-node) report kernel times,
 * their operator types are the graph's own or what ORT fuses them into, and the totals add up.
 * The graph's node types are read with python3-onnx, independently of ORT.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseManifest, type PackManifest } from '../core/manifest';
import { profileVariant, type GraphProfile, type RuntimeProfile } from './profileOps';

const PACK = resolve(import.meta.dirname, '../../models/tiny');

/**
 * Operators ORT runs that are not ONNX node types, and the graph node types each comes from: its
 * fusions (Conv + activation, Sigmoid·x, MatMul with a scale or transpose), native MLAS's NCHWc
 * layout changes around convolutions, and the CPU provider's name for its Resize kernel.
 */
const FROM_GRAPH_OPS: Record<string, string[]> = {
  FusedConv: ['Conv'],
  QuickGelu: ['Sigmoid', 'Mul'],
  FusedMatMul: ['MatMul'],
  FusedGemm: ['Gemm'],
  ReorderInput: ['Conv'],
  ReorderOutput: ['Conv'],
  Upsample: ['Resize'],
};

let manifest: PackManifest;
let graphOps: Set<string>;
let profile: GraphProfile;

beforeAll(async () => {
  const parsed = parseManifest(readFileSync(join(PACK, 'manifest.json'), 'utf8'));
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  manifest = parsed.manifest;
  const file = join(PACK, manifest.graphs.denoisers.fp32!.file);
  const listed = spawnSync(
    '/usr/bin/python3',
    [
      '-c',
      'import json, sys, onnx; print(json.dumps(sorted({n.op_type for n in onnx.load(sys.argv[1]).graph.node})))',
      file,
    ],
    { encoding: 'utf8' },
  );
  if (listed.status !== 0) throw new Error(`python3-onnx could not read ${file}: ${listed.stderr}`);
  graphOps = new Set(JSON.parse(listed.stdout) as string[]);
  const graphs = await profileVariant(PACK, manifest, 'baseline', {
    runs: 1,
    warmupMs: 0,
    threads: 1,
    only: ['denoiser'],
  });
  expect(graphs).toHaveLength(1);
  profile = graphs[0]!;
}, 60_000);

describe('per-operator profiles of the tiny denoiser', () => {
  it('profiles the graph on the feeds the pipeline gives it', () => {
    expect(profile.key).toBe('denoiser:fp32');
    expect(profile.role).toBe('denoiser');
    const [w, h] = manifest.image.defaultSize;
    const latent = [1, manifest.latent.channels, h / 8, w / 8];
    expect(profile.feeds).toEqual({
      sample: latent,
      timestep: [1],
      start_latent: latent,
      end_latent: latent,
      position: [1],
    });
  });

  it.each(['web', 'native'] as const)('%s: kernels are graph ops or their fusions', (rt) => {
    const ops = Object.keys(profile[rt].ops);
    expect(ops.length).toBeGreaterThan(3);
    for (const op of ops) {
      const from = FROM_GRAPH_OPS[op];
      if (from) for (const src of from) expect(graphOps, `${op} needs ${src}`).toContain(src);
      else expect(graphOps, `${rt} ran ${op}`).toContain(op);
    }
    expect(ops.some((op) => op === 'Conv' || op === 'FusedConv')).toBe(true);
    expect(ops).toContain('InstanceNormalization');
  });

  it.each(['web', 'native'] as const)('%s: totals are positive and add up', (rt) => {
    const p: RuntimeProfile = profile[rt];
    expect(p.kernelMs).toBeGreaterThan(0);
    // Kernels run inside ORT's run, which runs inside the call.
    expect(p.kernelMs).toBeLessThanOrEqual(p.ortRunMs);
    expect(p.ortRunMs).toBeLessThanOrEqual(p.profiledWallMs);
    expect(p.wallMs).toBeGreaterThan(0);
    const rows = profile.rows.reduce((s, r) => s + (rt === 'web' ? r.webMs : r.nativeMs), 0);
    expect(rows).toBeCloseTo(p.kernelMs, 9);
    // One thread: no pool, so no kernel call shares its work.
    expect(p.parallelCalls).toBe(0);
    for (const [op, t] of Object.entries(p.ops)) {
      expect(t.ms, op).toBeGreaterThanOrEqual(0);
      expect(t.calls, op).toBeGreaterThanOrEqual(1);
    }
  });

  it('has one row per operator either runtime ran, by web time', () => {
    const ops = new Set([...Object.keys(profile.web.ops), ...Object.keys(profile.native.ops)]);
    expect(profile.rows.map((r) => r.op).sort()).toEqual([...ops].sort());
    for (let i = 1; i < profile.rows.length; i++)
      expect(profile.rows[i]!.webMs).toBeLessThanOrEqual(profile.rows[i - 1]!.webMs);
  });
});
