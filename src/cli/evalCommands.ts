/**
 * `inbetween eval` and `inbetween report` (issue 19): docs/evaluation.md says how to use them,
 * src/node/evalDataset.ts and src/core/evaluation/datasetReport.ts do the work.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import cliProgress from 'cli-progress';
import type { SequenceMode } from '../core/evaluation/dataset';
import {
  mergeRuns,
  renderDatasetReport,
  REPORT_FORMATS,
  summariseRuns,
  type ReportFormat,
} from '../core/evaluation/datasetReport';
import type { ProtocolId } from '../core/evaluation/datasetRun';
import { fitArg } from './runSettings';
import { evaluateDataset, readRun } from '../node/evalDataset';
import { setNodeDevice } from '../node/nodeRuntime';
import { parseCommandArgs, UsageError } from './args';

export const EVAL_USAGE = `  inbetween eval --pack DIR --data DIR --out DIR [--split S] [--sequence triplets|every:K]
                 [--variants A,B] [--lora-scales X,Y] [--guidance X,Y] [--steps N,M] [--seeds S,T]
                 [--protocol studio|kdq] [--fit letterbox|auto|crop|native] [--shard i/n] [--resume]
                 [--lpips DIR] [--threads N] [--device cpu|cuda] [--quiet]
  inbetween report RUN_DIR... [--ref CONFIG] [--format md|csv|tex|json] [--out FILE]`;

function list(
  name: string,
  text: string | undefined,
  parse: (s: string) => number,
): number[] | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.trim());
  // An empty item (a trailing comma, an empty option) is refused, not read as 0 (`Number('')`).
  const out = items.map((s) => (s === '' ? NaN : parse(s)));
  if (out.some((x) => !Number.isFinite(x))) {
    throw new UsageError(`--${name} takes comma-separated numbers, got "${text}"`);
  }
  return out;
}

function sequenceMode(text: string | undefined): SequenceMode | undefined {
  if (text === undefined || text === 'triplets') return text === undefined ? undefined : 'triplets';
  const m = /^every:(\d+)$/.exec(text);
  if (!m || Number(m[1]) < 2)
    throw new UsageError(`--sequence takes triplets or every:K (K ≥ 2), got "${text}"`);
  return { keyframesEvery: Number(m[1]) };
}

/** `inbetween eval …`: returns the exit code. */
export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args: argv,
    strict: true,
    options: {
      pack: { type: 'string' },
      data: { type: 'string' },
      out: { type: 'string' },
      split: { type: 'string' },
      sequence: { type: 'string' },
      variants: { type: 'string' },
      'lora-scales': { type: 'string' },
      guidance: { type: 'string' },
      steps: { type: 'string' },
      seeds: { type: 'string' },
      protocol: { type: 'string' },
      fit: { type: 'string' },
      shard: { type: 'string' },
      resume: { type: 'boolean' },
      lpips: { type: 'string' },
      threads: { type: 'string' },
      device: { type: 'string' },
      quiet: { type: 'boolean' },
    },
  });
  const v = values as Record<string, string | boolean | undefined>;
  for (const req of ['pack', 'data', 'out'] as const) {
    if (typeof v[req] !== 'string') throw new UsageError(`eval needs --${req} DIR`);
  }
  const protocol = (v['protocol'] ?? 'studio') as string;
  if (protocol !== 'studio' && protocol !== 'kdq')
    throw new UsageError(`--protocol must be studio or kdq, got "${protocol}"`);
  const fit = fitArg(v['fit'] as string | undefined, 'letterbox');
  const device = (v['device'] ?? 'cpu') as string;
  if (device !== 'cpu' && device !== 'cuda')
    throw new UsageError(`--device must be cpu or cuda, got "${device}"`);
  setNodeDevice(device);
  const int = (s: string) => (/^\d+$/.test(s) ? Number(s) : NaN);
  const threads = v['threads'] !== undefined ? int(v['threads'] as string) : undefined;
  if (threads !== undefined && !(threads >= 1))
    throw new UsageError('--threads takes a whole number ≥ 1');
  const quiet = v['quiet'] === true || !process.stderr.isTTY;
  const bar = quiet
    ? null
    : new cliProgress.SingleBar(
        {
          format:
            'eval [{bar}] {percentage}% | {value}/{total} lines | {rate} items/min | ETA {eta_formatted} | {item}',
          stream: process.stderr,
          hideCursor: true,
          // Ctrl+C and errors give the terminal its cursor back.
          gracefulExit: true,
        },
        cliProgress.Presets.shades_classic,
      );
  const t0 = Date.now();
  const itemsSeen = new Set<string>();
  const variants = v['variants'] as string | undefined;
  const sequence = sequenceMode(v['sequence'] as string | undefined);
  const loraScales = list('lora-scales', v['lora-scales'] as string | undefined, Number);
  const guidance = list('guidance', v['guidance'] as string | undefined, Number);
  const steps = list('steps', v['steps'] as string | undefined, int);
  const seeds = list('seeds', v['seeds'] as string | undefined, int);
  // The bar's redraw timer keeps Node alive: it stops whether the run ends or fails.
  const summary = await evaluateDataset({
    pack: v['pack'] as string,
    data: v['data'] as string,
    out: v['out'] as string,
    ...(v['split'] !== undefined ? { split: v['split'] as string } : {}),
    ...(sequence ? { sequence } : {}),
    ...(variants ? { variants: variants.split(',').map((s) => s.trim()) } : {}),
    ...(loraScales ? { loraScales } : {}),
    ...(guidance ? { guidance } : {}),
    ...(steps ? { steps } : {}),
    ...(seeds ? { seeds } : {}),
    protocol: protocol as ProtocolId,
    fit,
    ...(v['shard'] !== undefined ? { shard: v['shard'] as string } : {}),
    resume: v['resume'] === true,
    ...(v['lpips'] !== undefined ? { lpips: v['lpips'] as string } : {}),
    ...(threads !== undefined ? { threads } : {}),
    log: (line) => console.error(line),
    onProgress: (done, total, item) => {
      itemsSeen.add(item);
      const minutes = (Date.now() - t0) / 60000;
      if (bar) {
        if (done === 1) bar.start(total, 0, { item, rate: '—' });
        bar.update(done, { item, rate: minutes > 0 ? (itemsSeen.size / minutes).toFixed(1) : '—' });
      }
    },
  }).finally(() => bar?.stop());
  const minutes = (Date.now() - t0) / 60000;
  const rate =
    summary.written > 0 && minutes > 0
      ? ` (${(itemsSeen.size / minutes).toFixed(1)} items per minute)`
      : '';
  console.log(
    `wrote ${summary.written} result lines for ${itemsSeen.size} items to ${v['out']}${rate}; ${summary.skipped} items already done, ${summary.itemProblems} items could not be read, ${summary.info.datasetProblems.length} dataset problems (run.json)`,
  );
  return 0;
}

/** `inbetween report RUN_DIR… [--ref CONFIG] [--format F] [--out FILE]`: returns the exit code. */
export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { ref: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } },
  });
  if (positionals.length === 0)
    throw new UsageError('report needs at least one run folder (an eval --out)');
  const format = (values['format'] ?? 'md') as string;
  if (!REPORT_FORMATS.includes(format as ReportFormat))
    throw new UsageError(`--format must be ${REPORT_FORMATS.join(', ')}, got "${format}"`);
  const runs = await Promise.all(positionals.map((d) => readRun(d)));
  const merged = mergeRuns(runs);
  const report = summariseRuns(merged, values['ref'] as string | undefined);
  const text = renderDatasetReport(report, format as ReportFormat);
  if (values['out']) {
    await mkdir(dirname(values['out'] as string), { recursive: true });
    await writeFile(values['out'] as string, text);
  } else process.stdout.write(text);
  if (merged.missingShards.length > 0) {
    console.error(
      `incomplete: shard${merged.missingShards.length > 1 ? 's' : ''} ${merged.missingShards.map((i) => `${i}/${merged.info.shard!.count}`).join(', ')} missing; pass every shard's --out folder`,
    );
    return 1;
  }
  if (merged.missing.length > 0) {
    const some = merged.missing.slice(0, 3).map((m) => `${m.item} × ${m.config}`);
    console.error(
      `incomplete: ${merged.missing.length} item × configuration results are missing (e.g. ${some.join('; ')}); run the missing shards or eval --resume`,
    );
    return 1;
  }
  return 0;
}
