/**
 * `npm run pack:memory`'s library: the working memory a pack declares as `memory` in its manifest
 * (issue 23), for the studio's estimate before loading (src/core/memoryEstimate.ts).
 *
 * Each variant runs one real in-between (one step) through the studio's pipeline in
 * onnxruntime-node, which records the input shapes of every graph's first call; then
 * models/training/activation_memory.py works out, from the graph and those shapes alone, the most
 * bytes of intermediate tensors alive at once during that call. A variant's figure is the sum over
 * its graphs (each ONNX Runtime session keeps its own arena); the pack's is its largest variant's.
 * Runs at the pack's size and at twice its width and height give the share of that memory that
 * grows with the square of the pixel area (attention maps over all pixels) rather than with it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { syntheticKeyframe } from '../core/benchmark';
import type { Feed, GraphRunner } from '../core/graph';
import { graphsForVariant, type PackManifest } from '../core/manifest';
import { interpolate, type VariantGraphs } from '../core/pipeline';
import { loadVariantGraphs, releaseVariantGraphs } from './nodeRuntime';

const ROOT = resolve(import.meta.dirname, '../..');
const PY = '/usr/bin/python3';

export interface PackMemory {
  /** The pack's `memory` entry. */
  memory: { activationBytes: number; atSize: [number, number]; quadraticShare?: number };
  /** Per variant and graph file: peak bytes of one call at the pack's size (batch 1). */
  perVariant: Record<string, Record<string, number>>;
  /** Tensors whose shape inference could not settle, per graph file (not counted). */
  unknown: Record<string, string[]>;
  /** Why the doubled size was not measured, when it was not. */
  note: string | null;
}

/** The feeds of each graph file's first call, and the batch of that call. */
interface Recorded {
  feeds: Record<string, Record<string, Feed>>;
  batches: Record<string, number>;
}

function recordFeeds(
  manifest: PackManifest,
  variantId: string,
  graphs: VariantGraphs,
  rec: Recorded,
): VariantGraphs {
  const wrap = (runner: GraphRunner, file: string, batched: boolean): GraphRunner => ({
    ...runner,
    resident: undefined,
    async run(feeds: Record<string, Feed>) {
      if (!rec.feeds[file]) {
        rec.feeds[file] = feeds;
        const first = Object.values(feeds)[0];
        rec.batches[file] = batched && first ? Math.max(1, first.dims[0] ?? 1) : 1;
      }
      return runner.run(feeds);
    },
  });
  const out: VariantGraphs = { ...graphs, stages: { ...graphs.stages } };
  for (const g of graphsForVariant(manifest, variantId)) {
    const file = g.spec.file;
    if (g.role === 'stage') {
      for (const name of g.stages!) out.stages![name] = wrap(graphs.stages![name]!, file, false);
    } else if (graphs[g.role]) {
      // The denoiser's batch is frames (clip packs: both guidance passes), which the estimate
      // multiplies by itself.
      out[g.role] = wrap(graphs[g.role]!, file, g.role === 'denoiser');
    }
  }
  return out;
}

function python(args: string[]): string {
  return execFileSync(PY, ['-m', 'models.training.activation_memory', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
}

const BYTES: Record<string, number> = {
  float32: 4,
  float16: 2,
  int64: 8,
  int32: 4,
  uint8: 1,
  int8: 1,
  bool: 1,
  float64: 8,
};

function toOrt(feed: Feed): ort.Tensor {
  if ('tokens' in feed)
    return new ort.Tensor('int64', BigInt64Array.from(feed.tokens, BigInt), [...feed.dims]);
  return new ort.Tensor('float32', feed.data, [...feed.dims]);
}

/**
 * Peak bytes of one call of `file` with `feeds`: shape inference first; the tensors it cannot
 * settle are sized by running a copy of the graph that also outputs them, beside the original (so
 * its external data resolves), in onnxruntime-node.
 */
export async function graphPeak(
  file: string,
  feeds: Record<string, Feed>,
): Promise<{ peakBytes: number; unknown: string[]; probed: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'pack-memory-'));
  const probe = join(dirname(file), `.probe-${process.pid}-${basename(file)}`);
  try {
    const inputs = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, [...v.dims]]));
    const spec = join(dir, 'spec.json');
    const peaks = (known: Record<string, number>) => {
      writeFileSync(spec, JSON.stringify({ [file]: { inputs, known } }));
      return (
        JSON.parse(python(['peaks', spec])) as Record<
          string,
          { peakBytes: number; unknown: string[] }
        >
      )[file]!;
    };
    const first = { ...peaks({}), probed: 0 };
    if (first.unknown.length === 0) return first;
    const names = join(dir, 'names.json');
    writeFileSync(names, JSON.stringify(first.unknown));
    const added = JSON.parse(python(['probe-graph', file, probe, names])) as string[];
    if (added.length === 0) return first;
    const session = await ort.InferenceSession.create(probe, {
      graphOptimizationLevel: 'disabled',
    });
    const known: Record<string, number> = {};
    try {
      const ortFeeds = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, toOrt(v)]));
      const out = await session.run(ortFeeds, added);
      for (const t of added) {
        const o = out[t];
        if (o && BYTES[o.type]) known[t] = o.dims.reduce((a, b) => a * b, 1) * BYTES[o.type]!;
      }
    } finally {
      await session.release();
    }
    return { ...peaks(known), probed: Object.keys(known).length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(probe, { force: true });
  }
}

/** Every variant's graphs at one model size: per variant, per graph file, bytes per batch of 1. */
async function measureAt(
  dir: string,
  manifest: PackManifest,
  size: readonly [number, number],
): Promise<{
  perVariant: Record<string, Record<string, number>>;
  unknown: Record<string, string[]>;
}> {
  const sized: PackManifest = {
    ...manifest,
    image: { ...manifest.image, defaultSize: [size[0], size[1]] },
  };
  const perVariant: Record<string, Record<string, number>> = {};
  const unknown: Record<string, string[]> = {};
  const done = new Map<string, number>(); // graph file -> bytes per batch of 1, at this size
  for (const v of manifest.variants) {
    const { variant, graphs } = await loadVariantGraphs(dir, manifest, v.id, 1);
    const rec: Recorded = { feeds: {}, batches: {} };
    try {
      await interpolate({
        manifest: sized,
        variant,
        graphs: recordFeeds(manifest, v.id, graphs, rec),
        keyframes: { start: syntheticKeyframe(sized, 1), end: syntheticKeyframe(sized, 2) },
        settings: { count: 1, steps: 1, seed: 0 },
      });
    } finally {
      await releaseVariantGraphs(graphs);
    }
    perVariant[v.id] = {};
    for (const [f, feeds] of Object.entries(rec.feeds)) {
      if (!done.has(f)) {
        const r = await graphPeak(join(dir, f), feeds);
        done.set(f, Math.ceil(r.peakBytes / rec.batches[f]!));
        if (r.unknown.length) unknown[f] = r.unknown;
      }
      perVariant[v.id]![f] = done.get(f)!;
    }
  }
  return { perVariant, unknown };
}

const total = (files: Record<string, number>) => Object.values(files).reduce((a, b) => a + b, 0);

/** Measures the pack in `dir`: its `memory` entry, and the figures behind it. */
export async function measurePackMemory(dir: string, manifest: PackManifest): Promise<PackMemory> {
  const [w, h] = manifest.image.defaultSize;
  const at = await measureAt(dir, manifest, [w, h]);
  const largest = Object.entries(at.perVariant).reduce((a, b) =>
    total(b[1]) > total(a[1]) ? b : a,
  );
  const b1 = total(largest[1]);
  let quadraticShare: number | undefined;
  let note: string | null = null;
  try {
    const twice = await measureAt(dir, manifest, [2 * w, 2 * h]);
    // b(r) = b1·((1−q)·r + q·r²) at area ratio r: b(4) = b1·(4 + 12q).
    const b4 = total(twice.perVariant[largest[0]]!);
    quadraticShare = Math.min(1, Math.max(0, (b4 / b1 - 4) / 12));
  } catch (e) {
    note = `not measured at ${2 * w}×${2 * h} (${(e as Error).message.split('\n')[0]}): the estimate scales it by area`;
  }
  return {
    memory: {
      activationBytes: b1,
      atSize: [w, h],
      ...(quadraticShare !== undefined
        ? { quadraticShare: Number(quadraticShare.toFixed(4)) }
        : {}),
    },
    perVariant: at.perVariant,
    unknown: at.unknown,
    note,
  };
}

const HEAP_CHILD = resolve(import.meta.dirname, 'wasmHeapChild.ts');

/**
 * The growth of onnxruntime-web's WASM heap (1 thread) while a float32 graph runs once with inputs
 * of `dims`, in a fresh Node process: a measurement to check `graphPeak` against.
 */
export function wasmHeapGrowth(file: string, dims: Record<string, number[]>): number {
  const dir = mkdtempSync(join(tmpdir(), 'wasm-heap-'));
  try {
    const spec = join(dir, 'feeds.json');
    writeFileSync(spec, JSON.stringify(dims));
    const out = execFileSync(process.execPath, ['--import', 'tsx', HEAP_CHILD, file, spec], {
      cwd: ROOT,
      encoding: 'utf8',
      maxBuffer: 16 * 2 ** 20,
    });
    const line = out.trim().split('\n').pop()!;
    const { afterCreate, afterRun } = JSON.parse(line) as { afterCreate: number; afterRun: number };
    return afterRun - afterCreate;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
