/**
 * `inbetween eval` (issue 19): a pack's configurations and the anchors over a dataset folder in
 * onnxruntime-node, one JSON line per (item, configuration) appended to `<out>/results.jsonl` as
 * it goes, items whose frames cannot be read in `<out>/problems.jsonl`, the run's plan in
 * `<out>/run.json`. A shard (`i/n`) takes the items whose id hashes to i; `resume` skips what
 * `results.jsonl` and `problems.jsonl` already hold (a last line cut short by a kill is cut off the
 * file), so a run stopped at any point and resumed ends with the same lines as one that never
 * stopped, none twice.
 *
 * The work is src/core/evaluation/datasetEval.ts's, the same code the page's Evaluate-dataset panel
 * runs in its workers: one variant's graphs loaded at a time, item i scored while item i + 1 runs.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PROBLEMS, readJsonLines, RESULTS, RUN } from './runFolder';
import { parseShard, type SequenceMode } from '../core/evaluation/dataset';
import {
  describeRun,
  generateItem,
  lineKey,
  remainingWork,
  runEvaluation,
  scoreColumn,
  type EvalScorers,
} from '../core/evaluation/datasetEval';
import {
  runIdentity,
  type PlanOptions,
  type ProtocolId,
  type ResultLine,
  type RunInfo,
} from '../core/evaluation/datasetRun';
import type { FitChoice } from '../core/image';
import { loadDatasetItem, openDataset } from './dataset';
import {
  loadLpipsGraphs,
  loadVariantGraphs,
  readPackManifest,
  releaseVariantGraphs,
  type LpipsGraphs,
} from './nodeRuntime';
import { lpipsScoringOptions } from './score';

export interface EvalOptions extends PlanOptions {
  pack: string;
  data: string;
  out: string;
  split?: string;
  sequence?: SequenceMode;
  protocol?: ProtocolId;
  fit?: FitChoice;
  /** `i/n`, 0-based. */
  shard?: string;
  resume?: boolean;
  lpips?: string;
  threads?: number;
  /** Called after each (item, configuration) with lines done and the total this run will write. */
  onProgress?: (done: number, total: number, item: string) => void;
  /** Says things a person should know (a metric not measured, items skipped). */
  log?: (line: string) => void;
}

export interface EvalSummary {
  info: RunInfo;
  written: number;
  skipped: number;
  itemProblems: number;
}

/** Runs (or resumes) an evaluation; see the module comment. */
export async function evaluateDataset(opts: EvalOptions): Promise<EvalSummary> {
  const protocol = opts.protocol ?? 'studio';
  const fit = opts.fit ?? 'letterbox';
  const log = opts.log ?? (() => undefined);
  const manifest = await readPackManifest(opts.pack);
  const sequence = opts.sequence ?? 'triplets';
  const dataset = await openDataset(opts.data, {
    ...(opts.split !== undefined ? { split: opts.split } : {}),
    sequence,
  });
  const { info, items } = describeRun(manifest, dataset, {
    ...opts,
    protocol,
    fit,
    split: opts.split ?? null,
    sequence,
    shard: opts.shard !== undefined ? parseShard(opts.shard) : null,
    packDir: resolve(opts.pack),
    datasetDir: resolve(opts.data),
  });

  await mkdir(opts.out, { recursive: true });
  const resultsPath = resolve(opts.out, RESULTS);
  const problemsPath = resolve(opts.out, PROBLEMS);
  const runPath = resolve(opts.out, RUN);
  if (existsSync(runPath)) {
    if (!opts.resume) {
      throw new Error(
        `${opts.out} already holds a run (run.json): pass --resume to go on with it, or another --out`,
      );
    }
    const before = JSON.parse(await readFile(runPath, 'utf8')) as RunInfo;
    if (
      runIdentity(before) !== runIdentity(info) ||
      JSON.stringify(before.shard) !== JSON.stringify(info.shard)
    ) {
      throw new Error(
        `${opts.out} holds another run (pack, dataset, protocol, plan or shard differ); it cannot be resumed with these options`,
      );
    }
  }
  await writeFile(runPath, JSON.stringify(info, null, 2) + '\n');
  const done = new Set(
    readJsonLines<ResultLine>(resultsPath, { repair: true }).map((r) => lineKey(r.item, r.config)),
  );
  const failed = new Set(
    readJsonLines<{ item: string }>(problemsPath, { repair: true }).map((p) => p.item),
  );
  const loop = { info, items, done, failed, protocol };
  const { total } = remainingWork(loop);

  // LPIPS for the protocol's metric, loaded when there is work.
  let lpips: LpipsGraphs | null = null;
  const lpipsDir = opts.lpips ?? resolve(import.meta.dirname, '../../models/lpips');
  const scorers: EvalScorers = { studio: {}, vgg: null, vggMissing: vggMissing(lpipsDir) };
  if (total > 0) {
    lpips = await loadLpipsGraphs(lpipsDir, opts.threads);
    if (protocol === 'studio') {
      scorers.studio = lpipsScoringOptions(lpips);
      if (!lpips.available)
        log(`LPIPS is not measured: ${scorers.studio.lpipsMissing?.('alex') ?? ''}`);
    } else if (lpips.available && lpips.graphs.vgg) {
      const g = lpips.graphs.vgg;
      scorers.vgg = { runner: g.runner, minSide: g.spec.minSide };
    } else {
      log(`LPIPS-VGG is not measured (its column is —): ${scorers.vggMissing}`);
    }
  }

  const held: { current: Awaited<ReturnType<typeof loadVariantGraphs>> | null } = {
    current: null,
  };
  let itemProblems = 0;
  try {
    const r = await runEvaluation(
      { ...loop, onProgress: (n, _t, item) => opts.onProgress?.(n, total, item) },
      {
        loadItem: (item) => loadDatasetItem(opts.data, item),
        useVariant: async (variant) => {
          if (held.current) await releaseVariantGraphs(held.current.graphs);
          held.current = null;
          held.current = await loadVariantGraphs(opts.pack, manifest, variant, opts.threads);
        },
        generate: (req) =>
          generateItem({ ...req, manifest, graphs: held.current!.graphs, fit, protocol }),
        score: async (item, columns, loaded) => {
          const lines = [];
          for (const c of columns)
            lines.push(await scoreColumn(item, c, loaded, protocol, scorers));
          return lines;
        },
        emit: (line) =>
          appendFileSync(
            resultsPath,
            JSON.stringify(line, (_k, v) => (v === Infinity ? 'Infinity' : v)) + '\n',
          ),
        problem: (item, message) => {
          appendFileSync(problemsPath, JSON.stringify({ item, message }) + '\n');
          itemProblems++;
          log(`skipped ${item}: ${message}`);
        },
      },
    );
    return {
      info,
      written: r.written,
      skipped: countSkipped(loop),
      itemProblems,
    };
  } finally {
    if (held.current) await releaseVariantGraphs(held.current.graphs);
    if (lpips?.available) for (const g of Object.values(lpips.graphs)) await g.runner.release();
  }
}

/** Items with nothing left to do when the run started (done before, or recorded as problems). */
function countSkipped(loop: Parameters<typeof remainingWork>[0]): number {
  const { groups } = remainingWork(loop);
  const columns = groups.flatMap((g) => [...g.configs.map((c) => c.id), ...g.anchors]);
  return loop.items.filter(
    (i) => loop.failed.has(i.id) || columns.every((c) => loop.done.has(lineKey(i.id, c))),
  ).length;
}

/** Why LPIPS-VGG has no value, and how to build its graph. */
function vggMissing(dir: string): string {
  return `no LPIPS-VGG graph in ${dir}: build it with /usr/bin/python3 models/training/export_lpips.py --vgg-weights vgg.pth vgg16-397923af.pth (torchvision's ImageNet VGG-16; docs/metrics.md)`;
}

export { readRun } from './runFolder';
