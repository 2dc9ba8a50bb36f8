/**
 * `inbetween eval` (issue 19): docs/evaluation.md says how to use it, src/node/evalDataset.ts does
 * the work (`inbetween report`, which runs no graph, is report.ts). main.ts imports this module only
 * once onnxruntime-node has loaded.
 */
import cliProgress from 'cli-progress';
import type { SequenceMode } from '../core/evaluation/dataset';
import type { ProtocolId } from '../core/evaluation/datasetRun';
import { fitArg } from './runSettings';
import { evaluateDataset } from '../node/evalDataset';
import { setNodeDevice } from '../node/nodeRuntime';
import { parseCommandArgs, UsageError } from './args';

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
