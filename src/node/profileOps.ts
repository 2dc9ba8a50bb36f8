/**
 * Per-operator profiles of a variant's graphs in both runtimes the studio runs them on —
 * onnxruntime-node (the CLI, the native side of `npm run bench`) and onnxruntime-web's WASM build
 * (the browser without WebGPU) — so the browser's gap to native can be traced to operators
 * (issue 23; docs/architecture.md, "Where the browser's time goes"). `npm run profile`
 * (scripts/profile-ops.ts) prints the tables.
 *
 * The feeds are the pipeline's own: one in-between runs through `interpolate` with every graph
 * wrapped to record its first call, so each graph is profiled on the shapes and values the studio
 * gives it. ORT Web prints its profile to stdout when profiling ends (no file, no hook), so its side
 * runs in a child Node process (src/node/profileOpsWeb.ts) whose stdout goes to a file; in Node,
 * onnxruntime-web loads the same ort-wasm-simd-threaded.wasm as the studio's WASM-only build.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as ort from 'onnxruntime-node';
import { syntheticKeyframe } from '../core/benchmark';
import type { InferenceSession } from 'onnxruntime-common';
import {
  isTokenTensor,
  wrapSession,
  type Feed,
  type GraphRunner,
  type OrtTensorFactory,
} from '../core/graph';
import { graphsForVariant, type PackManifest, type VariantGraph } from '../core/manifest';
import { interpolate, prepareKeyframes, type VariantGraphs } from '../core/pipeline';
import { loadVariantGraphs, nodeSessionOptions, readGraphFiles } from './nodeRuntime';

const ROOT = resolve(import.meta.dirname, '../..');
const WEB_CHILD = join(import.meta.dirname, 'profileOpsWeb.ts');

/** One graph of a variant and the feeds the pipeline gave it on its first call. */
export interface RecordedGraph {
  graph: VariantGraph;
  feeds: Record<string, Feed>;
}

export interface ProfileOptions {
  /** Timed runs; the fastest is reported (see `summariseTrace`). */
  runs: number;
  /**
   * Untimed runs first, until this much time has passed (at least one): V8 runs ORT's WASM on its
   * baseline tier at first and needs ~2.5 s of work to optimise it (docs/architecture.md).
   */
  warmupMs: number;
  /** Intra-op threads, the same in both runtimes. */
  threads: number;
}

/** One operator type's time in one runtime, in one run. */
export interface OpTime {
  ms: number;
  /** Kernel calls in the run. */
  calls: number;
}

/** One runtime's profile of a graph: its fastest profiled run, and its fastest plain run. */
export interface RuntimeProfile {
  ops: Record<string, OpTime>;
  /** The sum of `ops`: time spent inside kernels in the run. */
  kernelMs: number;
  /** The run's time inside ORT (its `model_run` span): kernels and what lies between them. */
  ortRunMs: number;
  /** The run's wall time (`run` as the pipeline calls it). */
  profiledWallMs: number;
  /**
   * The fastest wall time of one `run` in a session without profiling, as the pipeline sees it
   * (tensors in and out included): the figure to set beside `npm run bench`.
   */
  wallMs: number;
  /**
   * Kernel calls in the run in which another thread of the intra-op pool did work: 0 with one
   * thread, and the check that onnxruntime-web's threads (worker_threads in Node) really run.
   */
  parallelCalls: number;
}

/** One operator type in both runtimes (0 ms and 0 calls where a runtime does not run it). */
export interface OpRow {
  op: string;
  webMs: number;
  nativeMs: number;
  webCalls: number;
  nativeCalls: number;
}

export interface GraphProfile {
  key: string;
  role: VariantGraph['role'];
  what: string;
  /** Input name → shape, as fed. */
  feeds: Record<string, readonly number[]>;
  web: RuntimeProfile;
  native: RuntimeProfile;
  /** Every operator type either runtime ran, by web time, then native time. */
  rows: OpRow[];
}

/**
 * Runs one in-between (1 frame, 1 denoising step) of the variant through the pipeline on
 * onnxruntime-node, at `size` (width, height; default the pack's), recording each graph's first
 * feeds. Keyframes are deterministic noise (`syntheticKeyframe`, as `npm run bench` uses).
 */
export async function recordFeeds(
  dir: string,
  manifest: PackManifest,
  variantId: string,
  size: readonly [number, number] = manifest.image.defaultSize,
  threads?: number,
): Promise<RecordedGraph[]> {
  const [w, h] = manifest.image.defaultSize;
  const sized: PackManifest = {
    ...manifest,
    image: { ...manifest.image, defaultSize: [size[0], size[1]] },
  };
  // The default size needs no fit; another size runs at its own pixels (rounded up to multipleOf),
  // which prepareKeyframes refuses with a clear message for packs of a fixed size.
  const mode = size[0] === w && size[1] === h ? 'letterbox' : 'native';
  const keyframes = prepareKeyframes(
    manifest,
    syntheticKeyframe(sized, 1),
    syntheticKeyframe(sized, 2),
    mode,
  );
  const { variant, graphs } = await loadVariantGraphs(dir, manifest, variantId, threads);
  const list = graphsForVariant(manifest, variantId);
  const recorded = new Map<string, Record<string, Feed>>();
  const runners = new Map<string, GraphRunner>();
  const record = (key: string, runner: GraphRunner): GraphRunner => {
    runners.set(key, runner);
    return {
      inputNames: runner.inputNames,
      outputNames: runner.outputNames,
      ...(runner.inputShapes ? { inputShapes: runner.inputShapes } : {}),
      run(feeds) {
        // Copied: the pipeline may reuse its buffers after the call.
        if (!recorded.has(key)) recorded.set(key, copyFeeds(feeds));
        return runner.run(feeds);
      },
      release: () => runner.release(),
    };
  };
  const wrapped: VariantGraphs = { ...graphs, ...(graphs.stages ? { stages: {} } : {}) };
  for (const g of list) {
    if (g.role === 'stage') {
      for (const s of g.stages!) wrapped.stages![s] = record(g.key, graphs.stages![s]!);
    } else {
      wrapped[g.role] = record(g.key, graphs[g.role]!);
    }
  }
  try {
    await interpolate({
      manifest,
      variant,
      graphs: wrapped,
      keyframes,
      settings: { count: 1, steps: 1, seed: 0 },
    });
  } finally {
    for (const r of runners.values()) await r.release();
  }
  return list.flatMap((graph) => {
    const feeds = recorded.get(graph.key);
    return feeds ? [{ graph, feeds }] : [];
  });
}

function copyFeeds(feeds: Record<string, Feed>): Record<string, Feed> {
  const out: Record<string, Feed> = {};
  for (const [name, t] of Object.entries(feeds)) {
    out[name] = isTokenTensor(t)
      ? { tokens: t.tokens.slice(), dims: [...t.dims] }
      : { data: t.data.slice(), dims: [...t.dims] };
  }
  return out;
}

/** Warms a graph up (`warmupMs`, at least one run), then times `runs` runs; ms per run. */
export async function timeRuns(
  runner: GraphRunner,
  feeds: Record<string, Feed>,
  opts: Pick<ProfileOptions, 'runs' | 'warmupMs'>,
): Promise<number[]> {
  const warmupStart = performance.now();
  do await runner.run(feeds);
  while (performance.now() - warmupStart < opts.warmupMs);
  const ms: number[] = [];
  for (let r = 0; r < opts.runs; r++) {
    const t0 = performance.now();
    await runner.run(feeds);
    ms.push(performance.now() - t0);
  }
  return ms;
}

/** One runtime's run times of a graph (ms per run): without profiling, and with it. */
export interface Timings {
  wallMs: number[];
  profiledMs: number[];
}

/**
 * Times a graph in two sessions of one runtime (`create(profiling)`): a plain one after the
 * warm-up, for the wall time, then a profiling one (one warm-up run: the runtime is warm by then)
 * whose profile ends after its timed runs. ORT's profiler records every node's call, which costs
 * time of its own, so wall times come from the plain session and operator times from the other.
 */
export async function timeSessions(
  create: (profiling: boolean) => Promise<InferenceSession>,
  rt: OrtTensorFactory,
  what: string,
  feeds: Record<string, Feed>,
  opts: Pick<ProfileOptions, 'runs' | 'warmupMs'>,
): Promise<Timings> {
  const plain = await create(false);
  let wallMs: number[];
  try {
    wallMs = await timeRuns(wrapSession(plain, rt, what), feeds, opts);
  } finally {
    await plain.release();
  }
  const profiled = await create(true);
  try {
    const profiledMs = await timeRuns(wrapSession(profiled, rt, what), feeds, {
      runs: opts.runs,
      warmupMs: 0,
    });
    profiled.endProfiling();
    return { wallMs, profiledMs };
  } finally {
    await profiled.release();
  }
}

/** The part of a Chrome-trace event that ORT's profiler writes and this module reads. */
interface TraceEvent {
  cat: string;
  name: string;
  ts: number;
  dur: number;
  args?: {
    op_name?: string;
    /** An object with one entry per pool thread when the session has a pool, else "". */
    thread_scheduling_stats?: string | { sub_threads?: Record<string, { num_run: number }> };
  };
}

/**
 * Kernel time per operator type in the fastest of the last `profiledMs.length` runs of a profile
 * (the warm-up's runs are in it too): ORT's `<node>_kernel_time` events inside that run's
 * `model_run` span. The fastest, because on a shared machine other work only ever slows a run down.
 */
export function summariseTrace(events: TraceEvent[], timings: Timings): RuntimeProfile {
  const runs = timings.profiledMs.length;
  const spans = events
    .filter((e) => e.cat === 'Session' && e.name === 'model_run')
    .sort((a, b) => a.ts - b.ts)
    .slice(-runs);
  if (spans.length < runs) throw new Error(`the profile has ${spans.length} runs, not ${runs}`);
  const best = spans.reduce((b, s, i) => (s.dur < spans[b]!.dur ? i : b), 0);
  const span = spans[best]!;
  const ops: Record<string, OpTime> = {};
  let parallelCalls = 0;
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    if (e.ts < span.ts || e.ts > span.ts + span.dur) continue;
    const op = e.args?.op_name ?? '?';
    const t = (ops[op] ??= { ms: 0, calls: 0 });
    t.ms += e.dur / 1000;
    t.calls++;
    const stats = e.args?.thread_scheduling_stats;
    const threads =
      typeof stats === 'object' && stats ? Object.values(stats.sub_threads ?? {}) : [];
    if (threads.some((t) => t.num_run > 0)) parallelCalls++;
  }
  return {
    ops,
    kernelMs: Object.values(ops).reduce((s, t) => s + t.ms, 0),
    ortRunMs: span.dur / 1000,
    // The JS-timed runs are the profile's runs, in order.
    profiledWallMs: timings.profiledMs[best]!,
    wallMs: Math.min(...timings.wallMs),
    parallelCalls,
  };
}

/** Profiles a recorded graph in onnxruntime-node, with the studio's session options. */
export async function profileNative(
  dir: string,
  rec: RecordedGraph,
  opts: ProfileOptions,
): Promise<RuntimeProfile> {
  const { bytes, externalData } = await readGraphFiles(dir, rec.graph);
  // onnxruntime-node writes the profile to <prefix>_<date>.json and does not say which file: a
  // folder of its own makes it the only one.
  const tmp = mkdtempSync(join(tmpdir(), 'profile-native-'));
  try {
    const timings = await timeSessions(
      (profiling) =>
        ort.InferenceSession.create(bytes, {
          ...nodeSessionOptions(opts.threads),
          ...(profiling ? { enableProfiling: true, profileFilePrefix: join(tmp, 'profile') } : {}),
          ...(externalData.length ? { externalData } : {}),
        }),
      ort,
      rec.graph.what,
      rec.feeds,
      opts,
    );
    const file = readdirSync(tmp).find((f) => f.endsWith('.json'));
    if (!file) throw new Error(`onnxruntime-node wrote no profile for ${rec.graph.what}`);
    return summariseTrace(JSON.parse(readFileSync(join(tmp, file), 'utf8')), timings);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** What the web child (profileOpsWeb.ts) reads: a graph, its feeds as raw files, the options. */
export interface WebJob extends ProfileOptions {
  what: string;
  graph: string;
  externalData: { path: string; file: string }[];
  feeds: Record<string, { dims: number[]; tokens: boolean; file: string }>;
  /** Where the child writes its `Timings` (JSON). */
  result: string;
}

/** Reads a job written by `profileWeb`: the graph's files and its feeds. */
export function readWebJob(file: string): {
  job: WebJob;
  bytes: Uint8Array;
  externalData: { path: string; data: Uint8Array }[];
  feeds: Record<string, Feed>;
} {
  const job = JSON.parse(readFileSync(file, 'utf8')) as WebJob;
  // A fresh ArrayBuffer per file: a Buffer's byteOffset need not suit a Float32Array.
  const raw = (f: string): ArrayBuffer => new Uint8Array(readFileSync(f)).buffer;
  const feeds: Record<string, Feed> = {};
  for (const [name, f] of Object.entries(job.feeds)) {
    feeds[name] = f.tokens
      ? { tokens: new Int32Array(raw(f.file)), dims: f.dims }
      : { data: new Float32Array(raw(f.file)), dims: f.dims };
  }
  return {
    job,
    bytes: new Uint8Array(readFileSync(job.graph)),
    externalData: job.externalData.map((x) => ({
      path: x.path,
      data: new Uint8Array(readFileSync(x.file)),
    })),
    feeds,
  };
}

/** Profiles a recorded graph in onnxruntime-web (WASM) in a child Node process. */
export async function profileWeb(
  dir: string,
  rec: RecordedGraph,
  opts: ProfileOptions,
): Promise<RuntimeProfile> {
  const { bytes, externalData } = await readGraphFiles(dir, rec.graph);
  const tmp = mkdtempSync(join(tmpdir(), 'profile-web-'));
  try {
    const job: WebJob = {
      ...opts,
      what: rec.graph.what,
      graph: join(tmp, 'graph.onnx'),
      externalData: externalData.map((x, i) => ({ path: x.path, file: join(tmp, `external${i}`) })),
      feeds: {},
      result: join(tmp, 'timings.json'),
    };
    writeFileSync(job.graph, bytes);
    externalData.forEach((x, i) => writeFileSync(job.externalData[i]!.file, x.data));
    for (const [i, [name, t]] of Object.entries(rec.feeds).entries()) {
      const data = isTokenTensor(t) ? t.tokens : t.data;
      const file = join(tmp, `feed${i}.bin`);
      writeFileSync(file, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      job.feeds[name] = { dims: [...t.dims], tokens: isTokenTensor(t), file };
    }
    writeFileSync(join(tmp, 'job.json'), JSON.stringify(job));
    const stdoutFile = join(tmp, 'stdout.json');
    const stdout = openSync(stdoutFile, 'w');
    let stderr = '';
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', WEB_CHILD, join(tmp, 'job.json')], {
        cwd: ROOT,
        stdio: ['ignore', stdout, 'pipe'],
      });
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await once(child, 'close')) as [number | null];
      if (code !== 0 || !existsSync(job.result)) {
        throw new Error(
          `the onnxruntime-web profile of ${rec.graph.what} failed: ${stderr.trim()}`,
        );
      }
    } finally {
      closeSync(stdout);
    }
    const text = readFileSync(stdoutFile, 'utf8');
    const events = JSON.parse(text.slice(text.indexOf('['), text.lastIndexOf(']') + 1));
    return summariseTrace(events, JSON.parse(readFileSync(job.result, 'utf8')) as Timings);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Both runtimes' operator times side by side, by web time, then native time. */
export function compareOps(web: RuntimeProfile, native: RuntimeProfile): OpRow[] {
  const ops = new Set([...Object.keys(web.ops), ...Object.keys(native.ops)]);
  return [...ops]
    .map((op) => ({
      op,
      webMs: web.ops[op]?.ms ?? 0,
      nativeMs: native.ops[op]?.ms ?? 0,
      webCalls: web.ops[op]?.calls ?? 0,
      nativeCalls: native.ops[op]?.calls ?? 0,
    }))
    .sort((a, b) => b.webMs - a.webMs || b.nativeMs - a.nativeMs);
}

/**
 * Records the variant's feeds, then profiles each graph (all, or those whose role or key is in
 * `only`) in onnxruntime-web, then in onnxruntime-node, one after the other so they never share the
 * cores. `onGraph` hears each graph as it is done.
 */
export async function profileVariant(
  dir: string,
  manifest: PackManifest,
  variantId: string,
  opts: ProfileOptions & { size?: readonly [number, number]; only?: string[] },
  onGraph?: (p: GraphProfile) => void,
): Promise<GraphProfile[]> {
  const recorded = await recordFeeds(dir, manifest, variantId, opts.size, opts.threads);
  const out: GraphProfile[] = [];
  for (const rec of recorded) {
    const { key, role, what } = rec.graph;
    if (opts.only && !opts.only.includes(role) && !opts.only.includes(key)) continue;
    const web = await profileWeb(dir, rec, opts);
    const native = await profileNative(dir, rec, opts);
    const feeds = Object.fromEntries(Object.entries(rec.feeds).map(([n, t]) => [n, t.dims]));
    const p = { key, role, what, feeds, web, native, rows: compareOps(web, native) };
    onGraph?.(p);
    out.push(p);
  }
  return out;
}

/**
 * The CPU the figures come from: its model name and the vector extensions that decide native
 * MLAS's kernels (from /proc/cpuinfo where there is one).
 */
export function describeCpu(): string {
  const model = cpus()[0]?.model ?? 'unknown CPU';
  if (!existsSync('/proc/cpuinfo')) return `${model}, ${cpus().length} cores`;
  const flags = new Set(
    /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.split(' '),
  );
  const simd = ['avx512f', 'avx2', 'fma'].filter((f) => flags.has(f));
  return `${model}, ${cpus().length} cores, ${simd.join(' ') || 'no AVX2'}`;
}
