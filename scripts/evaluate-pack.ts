/**
 * Evaluates a model pack on validation triplets (ATD-12K layout) and writes its REPORT.md: PSNR,
 * SSIM and LPIPS of every variant (LoRA at several scales, the student at its recommended steps,
 * the baseline at the pack's default steps) next to two trivial anchors — frame blend and repeated
 * frame — with the studio's metric conventions, each variant's size and ms per in-between in
 * onnxruntime-node (the CLI's runtime), and an SVG plot of the LoRA-scale sweep.
 *
 *   npm run evaluate -- [--pack models/cel] [--data data/procedural] [--split val] [--limit 100]
 *                       [--seed 42] [--lpips models/lpips] [--sheet-pairs DIR --sheet out/sheet.png]
 *                       [--drawn data/sprites --drawn data/synfig --drawn-limit 60]
 *
 * `--drawn SET` (repeatable) adds a section scoring the baseline and the student on a random (seeded)
 * sample of that set's validation clips of drawn animation (models/training/data/sprites.py,
 * synfig_clips.py), both fitted to the pack size (letterbox) and at the clips' own size (native).
 *
 * The same src/core code as the studio and the CLI does the work: keyframes fitted to the pack
 * size (letterbox), the in-between at τ = ½ mapped back to the triplet's size and scored against
 * frame2 — never resized for metrics. Metric values are means of per-triplet values.
 */
import { readdir, writeFile, mkdir, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve, dirname, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { benchmarkVariant } from '../src/core/benchmark';
import type { FloatTensor } from '../src/core/graph';
import { flowWarpInbetween } from '../src/core/flowWarp';
import { createRgbaImage, resizeImage, type RgbaImage } from '../src/core/image';
import { METRIC_CONVENTIONS } from '../src/core/metrics';
import { pairedDifference, significance } from '../src/core/pairedDifference';
import { GaussianRng } from '../src/core/rng';
import {
  interpolate,
  prepareKeyframes,
  restoreFrame,
  type EncodedKeyframes,
  type InterpolationResult,
  type PreparedKeyframes,
} from '../src/core/pipeline';
import { variantSizeBytes, type PackManifest } from '../src/core/manifest';
import {
  loadLpipsGraphs,
  loadVariantGraphs,
  readPackManifest,
  readPng,
  writePng,
} from '../src/node/nodeRuntime';
import { DEFAULT_LPIPS_DIR, scoreNamedImages as scoreImages, type Scores } from '../src/node/score';

const ROOT = resolve(import.meta.dirname, '..');
const LORA_SCALES = [0, 0.15, 0.5, 1.0];

interface Config {
  id: string;
  label: string;
  variant: string;
  steps: number;
  loraScale?: number;
}

interface Row {
  id: string;
  label: string;
  steps: number | null;
  psnr: number;
  ssim: number;
  lpips: number | null;
  lpipsSqueeze: number | null;
  /** Mean |frame − baseline frame| in 8-bit levels (variants only). */
  diffFromBaseline: number | null;
  msPerInbetween: number | null;
  sizeBytes: number | null;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

function push<T>(m: Map<string, T[]>, k: string, v: T): void {
  m.set(k, [...(m.get(k) ?? []), v]);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)]! : NaN;
}

const FLOW_LABEL = 'Flow warp (Farnebäck, halfway; anchor)';

/** Per-pixel average of two frames (rounded), the "frame blend" anchor. */
function blend(a: RgbaImage, b: RgbaImage): RgbaImage {
  const out = createRgbaImage(a.width, a.height);
  for (let i = 0; i < a.data.length; i++) out.data[i] = Math.round((a.data[i]! + b.data[i]!) / 2);
  return out;
}

function meanAbsDiff(a: RgbaImage, b: RgbaImage): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    for (let c = 0; c < 3; c++) s += Math.abs(a.data[i + c]! - b.data[i + c]!);
    n += 3;
  }
  return s / n;
}

/** Triplet folders under `dir`, in name order, or in a seeded random order when `shuffleSeed` is given. */
async function listTriplets(dir: string, limit: number, shuffleSeed?: number): Promise<string[]> {
  const names = (await readdir(dir)).sort();
  if (shuffleSeed !== undefined) {
    const rng = new GaussianRng(shuffleSeed);
    for (let i = names.length - 1; i > 0; i--) {
      const j = Math.floor(rng.nextUniform() * (i + 1));
      [names[i], names[j]] = [names[j]!, names[i]!];
    }
  }
  const clips: string[] = [];
  for (const n of names) {
    if (clips.length >= limit) break;
    if (['frame1.png', 'frame2.png', 'frame3.png'].every((f) => existsSync(join(dir, n, f))))
      clips.push(join(dir, n));
  }
  return clips;
}

function configsFor(manifest: PackManifest): Config[] {
  const out: Config[] = [];
  const def = manifest.scheduler.defaultSteps;
  for (const v of manifest.variants) {
    const steps = v.recommendedSteps ?? def;
    if (v.loraScale) {
      for (const s of LORA_SCALES)
        out.push({
          id: `${v.id}@${s}`,
          label: `${v.label}, scale ${s}`,
          variant: v.id,
          steps,
          loraScale: s,
        });
    } else {
      out.push({ id: v.id, label: v.label, variant: v.id, steps });
    }
  }
  return out;
}

function fmt(x: number | null, digits: number): string {
  if (x === Infinity) return '∞'; // PSNR of identical images
  return x === null || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

/** A two-panel SVG (PSNR and LPIPS-Alex against LoRA scale, baseline as a dashed line). */
function sweepSvg(rows: Row[], baseline: Row, blendRow: Row): string {
  const pts = rows.map((r) => ({ s: Number(r.id.split('@')[1]), r }));
  const W = 360;
  const H = 220;
  const panel = (
    x0: number,
    title: string,
    get: (r: Row) => number | null,
    better: 'higher' | 'lower',
  ): string => {
    const vals = [...pts.map((p) => get(p.r)), get(baseline), get(blendRow)].filter(
      (v): v is number => v !== null && Number.isFinite(v),
    );
    if (!vals.length) return '';
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    const pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.05 || 1;
    lo -= pad;
    hi += pad;
    const X = (s: number) => x0 + 50 + s * (W - 80);
    const Y = (v: number) => 30 + (1 - (v - lo) / (hi - lo)) * (H - 70);
    const line = pts
      .filter((p) => get(p.r) !== null)
      .map((p, i) => `${i ? 'L' : 'M'}${X(p.s).toFixed(1)},${Y(get(p.r)!).toFixed(1)}`)
      .join(' ');
    const ref = (v: number | null, colour: string, name: string) =>
      v === null
        ? ''
        : `<line x1="${X(0)}" x2="${X(1)}" y1="${Y(v)}" y2="${Y(v)}" stroke="${colour}" stroke-dasharray="4 3"/>` +
          `<text x="${X(1) + 3}" y="${Y(v) + 4}" font-size="10" fill="${colour}">${name}</text>`;
    const ticks = [lo + pad, (lo + hi) / 2, hi - pad]
      .map(
        (v) =>
          `<text x="${x0 + 44}" y="${Y(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(3)}</text>`,
      )
      .join('');
    const xt = LORA_SCALES.map(
      (s) => `<text x="${X(s)}" y="${H - 22}" font-size="10" text-anchor="middle">${s}</text>`,
    ).join('');
    const dots = pts
      .filter((p) => get(p.r) !== null)
      .map((p) => `<circle cx="${X(p.s)}" cy="${Y(get(p.r)!)}" r="3" fill="#c2410c"/>`)
      .join('');
    return (
      `<text x="${x0 + W / 2}" y="16" font-size="12" text-anchor="middle">${title} (${better} is better)</text>` +
      `<rect x="${x0 + 50}" y="30" width="${W - 80}" height="${H - 70}" fill="none" stroke="#999"/>` +
      ticks +
      xt +
      `<text x="${x0 + W / 2}" y="${H - 6}" font-size="11" text-anchor="middle">LoRA scale</text>` +
      ref(get(baseline), '#2563eb', 'baseline') +
      ref(get(blendRow), '#6b7280', 'blend') +
      `<path d="${line}" fill="none" stroke="#c2410c" stroke-width="2"/>` +
      dots
    );
  };
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + 60}" height="${H}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    panel(0, 'PSNR (dB)', (r) => r.psnr, 'higher') +
    panel(W + 40, 'LPIPS-Alex', (r) => r.lpips, 'lower') +
    `</svg>\n`
  );
}

type LoadedVariants = Map<string, Awaited<ReturnType<typeof loadVariantGraphs>>>;

/**
 * Runs each config on one keyframe pair (one in-between at τ = ½, the given seed), encoding the
 * keyframes once; yields each result in config order.
 */
async function* runConfigs(
  manifest: PackManifest,
  loaded: LoadedVariants,
  prepared: PreparedKeyframes,
  configs: Config[],
  seed: number,
): AsyncGenerator<[Config, InterpolationResult]> {
  let encoded: EncodedKeyframes | undefined;
  for (const c of configs) {
    const g = loaded.get(c.variant)!;
    const res = await interpolate({
      manifest,
      variant: g.variant,
      graphs: g.graphs,
      keyframes: prepared,
      settings: {
        count: 1,
        steps: c.steps,
        seed,
        ...(c.loraScale !== undefined ? { loraScale: c.loraScale } : {}),
      },
      hooks: {},
      encoded,
    });
    encoded = res.encoded;
    yield [c, res];
  }
}

/**
 * Contact sheet: one row per keyframe pair — start, each listed config's in-between, the flow warp
 * (packs with a motion graph), blend, end.
 */
async function contactSheet(
  pairsDir: string,
  out: string,
  manifest: PackManifest,
  loaded: LoadedVariants,
  configs: Config[],
  seed: number,
): Promise<void> {
  const pairs = (await readdir(pairsDir))
    .sort()
    .filter(
      (p) => existsSync(join(pairsDir, p, 'start.png')) && existsSync(join(pairsDir, p, 'end.png')),
    );
  const tw = 256;
  const th = 160;
  const flowCol = manifest.graphs.motion !== undefined;
  const cols = configs.length + 3 + (flowCol ? 1 : 0);
  const sheet = createRgbaImage(cols * tw, pairs.length * th);
  sheet.data.fill(255);
  const put = (img: RgbaImage, col: number, row: number) => {
    const t = resizeImage(img, tw, th);
    for (let y = 0; y < th; y++)
      sheet.data.set(
        t.data.subarray(y * tw * 4, (y + 1) * tw * 4),
        ((row * th + y) * sheet.width + col * tw) * 4,
      );
  };
  for (const [row, p] of pairs.entries()) {
    const start = await readPng(join(pairsDir, p, 'start.png'));
    const end = await readPng(join(pairsDir, p, 'end.png'));
    const prepared = prepareKeyframes(manifest, start, end, 'letterbox');
    put(start, 0, row);
    let col = 1;
    let motion: FloatTensor | undefined;
    for await (const [, res] of runConfigs(manifest, loaded, prepared, configs, seed)) {
      motion ??= res.encoded.motion;
      put(restoreFrame(res.modelFrames[0]!, prepared.plan, start), col++, row);
    }
    if (flowCol && motion) {
      const warped = flowWarpInbetween(prepared.start, prepared.end, motion);
      put(restoreFrame(warped, prepared.plan, start), col++, row);
    }
    put(blend(start, end), col++, row);
    put(end, col, row);
  }
  await mkdir(dirname(out), { recursive: true });
  await writePng(out, sheet);
  console.log(
    `contact sheet: ${out} (columns: start, ${configs.map((c) => c.label).join(', ')}${flowCol ? ', flow warp' : ''}, blend, end)`,
  );
}

/** Scores every config and both anchors on each triplet (one in-between at τ = ½). */
async function scoreTriplets(
  manifest: PackManifest,
  loaded: LoadedVariants,
  configs: Config[],
  clips: string[],
  seed: number,
  lpips: Awaited<ReturnType<typeof loadLpipsGraphs>>,
  t0: number,
  drawnSet = false,
): Promise<{ scores: Map<string, Scores[]>; diffs: Map<string, number[]> }> {
  const scores = new Map<string, Scores[]>();
  const diffs = new Map<string, number[]>();
  for (const [n, clip] of clips.entries()) {
    const [f1, f2, f3] = await Promise.all(
      ['frame1.png', 'frame2.png', 'frame3.png'].map((f) => readPng(join(clip, f))),
    );
    const prepared = prepareKeyframes(manifest, f1!, f3!, 'letterbox');
    const gt = { file: 'frame2.png', image: f2! };
    push(scores, 'blend', await scoreImages(gt, { file: 'blend', image: blend(f1!, f3!) }, lpips));
    push(scores, 'repeat', await scoreImages(gt, { file: 'repeat', image: f1! }, lpips));
    if (drawnSet) {
      // The true middle frame through the same fit → model size → restore mapping: what any
      // model's frame loses to resampling alone under this protocol (a ceiling).
      const roundTrip = prepareKeyframes(manifest, f2!, f2!, 'letterbox');
      const restored = restoreFrame(roundTrip.start, roundTrip.plan, f2!);
      push(
        scores,
        'roundtrip',
        await scoreImages(gt, { file: 'roundtrip', image: restored }, lpips),
      );
    }
    let baseFrame: RgbaImage | undefined;
    let motion: FloatTensor | undefined;
    for await (const [c, res] of runConfigs(manifest, loaded, prepared, configs, seed)) {
      motion ??= res.encoded.motion;
      const frame = restoreFrame(res.modelFrames[0]!, prepared.plan, f1!);
      if (c.variant === 'baseline') baseFrame = frame;
      if (baseFrame) push(diffs, c.id, meanAbsDiff(frame, baseFrame));
      push(scores, c.id, await scoreImages(gt, { file: c.id, image: frame }, lpips));
    }
    if (motion) {
      // The classical anchor from the pack's own motion graph, fitted and restored like the models.
      const warped = flowWarpInbetween(prepared.start, prepared.end, motion);
      const frame = restoreFrame(warped, prepared.plan, f1!);
      push(scores, 'flow', await scoreImages(gt, { file: 'flow', image: frame }, lpips));
    }
    if (drawnSet) {
      // The same configs at the clip's own size, padded to a multiple of 64 (nothing resampled).
      const native = prepareKeyframes(manifest, f1!, f3!, 'native');
      for await (const [c, res] of runConfigs(manifest, loaded, native, configs, seed)) {
        const frame = restoreFrame(res.modelFrames[0]!, native.plan, f1!);
        push(scores, `${c.id}@native`, await scoreImages(gt, { file: c.id, image: frame }, lpips));
      }
    }
    const done = n + 1;
    if (done % 10 === 0 || done === clips.length)
      console.log(
        `${done}/${clips.length} triplets (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
  }
  return { scores, diffs };
}

/**
 * PSNR cell: the mean of per-triplet values (docs/metrics.md); when some frames are identical to
 * the truth their PSNR is +∞ and so is the mean — the cell then says how many, and the mean of the
 * others.
 */
function psnrCell(s: Scores[]): string {
  const exact = s.filter((x) => x.metrics.psnr.infinite).length;
  if (!exact) return fmt(meanMetric(s, 'psnr'), 2);
  const rest = s.filter((x) => !x.metrics.psnr.infinite);
  const others = rest.length
    ? `; the other ${rest.length}: ${fmt(meanMetric(rest, 'psnr'), 2)}`
    : '';
  return `∞ (${exact} of ${s.length} exact${others})`;
}

/** Mean of one metric over a config's per-triplet scores (null when any value is missing). */
function meanMetric(s: Scores[], k: 'psnr' | 'ssim' | 'lpipsAlex' | 'lpipsSqueeze'): number | null {
  const vals = s.map((x) => x.metrics[k].value);
  return vals.every((v) => v !== null) ? mean(vals as number[]) : null;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      pack: { type: 'string', default: 'models/cel' },
      data: { type: 'string', default: 'data/procedural' },
      split: { type: 'string', default: 'val' },
      limit: { type: 'string', default: '100' },
      seed: { type: 'string', default: '42' },
      lpips: { type: 'string', default: DEFAULT_LPIPS_DIR },
      threads: { type: 'string', default: '2' },
      report: { type: 'string' },
      'sheet-pairs': { type: 'string' },
      drawn: { type: 'string', multiple: true },
      'drawn-limit': { type: 'string', default: '60' },
      sheet: { type: 'string', default: 'out/contact-sheet.png' },
    },
  });
  const packDir = resolve(values.pack!);
  const manifest = await readPackManifest(packDir);
  const seed = Number(values.seed);
  const threads = Number(values.threads);
  const lpips = await loadLpipsGraphs(values.lpips!, threads);
  if (!lpips.available)
    console.warn(`LPIPS graphs not found in ${values.lpips}: run \`npm run lpips\` first`);
  const configs = configsFor(manifest);
  const loaded: LoadedVariants = new Map();
  for (const v of manifest.variants)
    loaded.set(v.id, await loadVariantGraphs(packDir, manifest, v.id, threads));

  if (values['sheet-pairs']) {
    const sheetConfigs = configs.filter((c) => c.variant === 'baseline' || c.variant === 'student');
    await contactSheet(
      values['sheet-pairs'],
      resolve(values.sheet!),
      manifest,
      loaded,
      sheetConfigs,
      seed,
    );
    if (!values.report) return;
  }

  const dataDir = resolve(values.data!, values.split!);
  const clips = await listTriplets(dataDir, Number(values.limit));
  if (!clips.length) throw new Error(`no triplets (frame1/2/3.png) under ${dataDir}`);
  const t0 = performance.now();
  const { scores, diffs } = await scoreTriplets(manifest, loaded, configs, clips, seed, lpips, t0);
  const times = new Map<string, number[]>();

  // Speed: warm medians from the studio's own benchmark (src/core/benchmark.ts: keyframes encoded,
  // one warm-up, then denoise all steps + decode), every configuration timed in this one run, in three
  // alternating rounds so that drift on a shared machine hits each alike.
  for (let round = 0; round < 3; round++) {
    for (const c of configs) {
      const variant = manifest.variants.find((v) => v.id === c.variant)!;
      const b = await benchmarkVariant(manifest, variant, loaded.get(c.variant)!.graphs, {
        repeats: 5,
        steps: c.steps,
      });
      push(times, c.id, b.inbetweenMs);
    }
  }
  // The student's speed-up is a ratio of a ~300 ms and a ~70 ms timing, so a noisy stretch that
  // hits one but not the other moves it far: it is measured on its own, baseline and student
  // in-betweens alternating one by one, and taken from the two medians.
  const paired = new Map<string, number[]>();
  const pairIds = ['baseline', 'student'].filter((id) => configs.some((c) => c.id === id));
  if (pairIds.length === 2) {
    const [pf1, pf3] = await Promise.all(
      ['frame1.png', 'frame3.png'].map((f) => readPng(join(clips[0]!, f))),
    );
    const pairKeyframes = prepareKeyframes(manifest, pf1!, pf3!, 'letterbox');
    const pairConfigs = pairIds.map((id) => configs.find((c) => c.id === id)!);
    for (let k = -1; k < 15; k++) {
      for await (const [c, res] of runConfigs(manifest, loaded, pairKeyframes, pairConfigs, k + 1))
        if (k >= 0) push(paired, c.id, res.timings.denoiseMs + res.timings.decodeMs); // k = −1: warm-up
    }
  }

  // Drawn animation (sprites.py, synfig_clips.py): the baseline and the student next to the anchors
  // on each set's validation clips — a different distribution from the training data.
  const drawnConfigs = configs.filter((c) => c.variant === 'baseline' || c.variant === 'student');
  const drawn: { dir: string; clips: number; rows: { label: string; s: Scores[] }[] }[] = [];
  for (const set of values.drawn ?? []) {
    const dir = resolve(set, values.split!);
    const setClips = await listTriplets(dir, Number(values['drawn-limit']), Number(values.seed));
    if (!setClips.length) throw new Error(`no triplets (frame1/2/3.png) under ${dir}`);
    console.log(`drawn set ${relative(ROOT, dir)}: ${setClips.length} triplets`);
    const got = await scoreTriplets(
      manifest,
      loaded,
      drawnConfigs,
      setClips,
      seed,
      lpips,
      t0,
      true,
    );
    drawn.push({
      dir: relative(ROOT, dir),
      clips: setClips.length,
      rows: [
        ...drawnConfigs.map((c) => ({ label: c.label, s: got.scores.get(c.id)! })),
        ...drawnConfigs.map((c) => ({
          label: `${c.label}, native size`,
          s: got.scores.get(`${c.id}@native`)!,
        })),
        ...(got.scores.has('flow') ? [{ label: FLOW_LABEL, s: got.scores.get('flow')! }] : []),
        { label: 'Frame blend (anchor)', s: got.scores.get('blend')! },
        { label: 'Repeated start frame (anchor)', s: got.scores.get('repeat')! },
        {
          label: 'True middle frame, fitted and restored (ceiling)',
          s: got.scores.get('roundtrip')!,
        },
      ],
    });
  }

  // Every file the variant loads (the motion graph too, which this column once left out).
  const sizeOf = (variantId: string) => variantSizeBytes(manifest, variantId);
  const rowOf = async (id: string, label: string, c?: Config): Promise<Row> => {
    const s = scores.get(id)!;
    const m = (k: 'psnr' | 'ssim' | 'lpipsAlex' | 'lpipsSqueeze') => meanMetric(s, k);
    return {
      id,
      label,
      steps: c?.steps ?? null,
      psnr: m('psnr') ?? Infinity,
      ssim: m('ssim') ?? NaN,
      lpips: m('lpipsAlex'),
      lpipsSqueeze: m('lpipsSqueeze'),
      diffFromBaseline: diffs.has(id) ? mean(diffs.get(id)!) : null,
      msPerInbetween: times.has(id) ? median(times.get(id)!) : null,
      sizeBytes: c ? sizeOf(c.variant) : null,
    };
  };
  const rows: Row[] = [];
  for (const c of configs) rows.push(await rowOf(c.id, c.label, c));
  const blendRow = await rowOf('blend', 'Frame blend (anchor)');
  const repeatRow = await rowOf('repeat', 'Repeated start frame (anchor)');
  const flowRow = scores.has('flow') ? await rowOf('flow', FLOW_LABEL) : null;
  const base = rows.find((r) => r.id === 'baseline')!;
  const lora = rows.filter((r) => r.id.startsWith('lora@'));
  const fp16 = rows.find((r) => r.id === 'fp16');
  const student = rows.find((r) => r.id === 'student');

  const reportPath = resolve(values.report ?? join(packDir, 'REPORT.md'));
  await mkdir(dirname(reportPath), { recursive: true });
  const svgName = 'lora-sweep.svg';
  if (lora.length)
    await writeFile(join(dirname(reportPath), svgName), sweepSvg(lora, base, blendRow));
  const check = (ok: boolean) => (ok ? '**yes**' : '**no**');
  const lines: string[] = [];
  lines.push(`# ${manifest.name} — evaluation report`);
  lines.push('');
  lines.push(
    `Generated by \`npm run evaluate\` (scripts/evaluate-pack.ts) on ${new Date().toISOString().slice(0, 10)}: ` +
      `${clips.length} validation triplets from \`${relative(ROOT, dataDir)}\` (clips never used in training), ` +
      `keyframes fitted to ${manifest.image.defaultSize.join('×')} (letterbox), one in-between at τ = ½ with seed ${seed}, ` +
      `mapped back to the triplet's size and scored against frame2. Values are means over triplets.`,
  );
  lines.push('');
  lines.push(
    `Conventions: PSNR — ${METRIC_CONVENTIONS.psnr}; SSIM — ${METRIC_CONVENTIONS.ssim}; LPIPS — ${METRIC_CONVENTIONS.lpipsAlex}` +
      (METRIC_CONVENTIONS.lpipsSqueeze
        ? `; LPIPS-Squeeze — ${METRIC_CONVENTIONS.lpipsSqueeze}`
        : '') +
      '.',
  );
  lines.push('');
  lines.push(
    '| variant | steps | PSNR (dB) ↑ | SSIM ↑ | LPIPS-Alex ↓ | LPIPS-Squeeze ↓ | mean \\|Δ\\| from baseline (levels) | graphs (MB) | ms / in-between |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of [...rows, ...(flowRow ? [flowRow] : []), blendRow, repeatRow]) {
    lines.push(
      `| ${r.label} | ${r.steps ?? '—'} | ${fmt(r.psnr, 2)} | ${fmt(r.ssim, 4)} | ${fmt(r.lpips, 4)} | ${fmt(r.lpipsSqueeze, 4)} | ${fmt(r.diffFromBaseline, 2)} | ${r.sizeBytes ? (r.sizeBytes / 1e6).toFixed(2) : '—'} | ${fmt(r.msPerInbetween, 0)} |`,
    );
  }
  lines.push('');
  lines.push(
    `Sizes are encoder + decoder + the variant's denoiser. ms per in-between: warm median wall time of denoising (all steps) ` +
      `and decoding one in-between at ${manifest.image.defaultSize.join('×')}, keyframes already encoded, from the studio's ` +
      `benchmark (src/core/benchmark.ts) in onnxruntime-node (the CLI's runtime, ${threads} threads), every variant timed ` +
      `in this one run in three alternating rounds on the machine that ran the evaluation — compare ratios, not absolute values.`,
  );
  lines.push('');
  lines.push('## Checks');
  lines.push('');
  const lp = (r?: Row | null) => r?.lpips ?? NaN;
  // The paired difference baseline − anchor over the same triplets, with its 95% interval: one seed's
  // in-betweens make a mean over a few dozen triplets noisy, so a bare "a > b" can be chance.
  const paired95 = (anchor: string, k: 'psnr' | 'lpipsAlex', unit: string, digits: number) => {
    const values = (id: string) => scores.get(id)!.map((x) => x.metrics[k].value);
    const p = pairedDifference(values('baseline'), values(anchor));
    const sign = (v: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
    const side = significance(p);
    const verdict =
      side === 'spans zero'
        ? 'within noise'
        : side === (k === 'psnr' ? 'above' : 'below')
          ? 'better'
          : 'worse';
    return (
      `baseline − anchor ${sign(p.mean)}${unit}, 95% CI ${sign(p.low)} to ${sign(p.high)}${unit} over ${p.n} triplets` +
      (p.excluded ? ` (${p.excluded} with an infinite value left out)` : '') +
      `: ${verdict}`
    );
  };
  const vs = (anchor: Row, id: string) =>
    `on PSNR: ${check(base.psnr > anchor.psnr)} (${fmt(base.psnr, 2)} vs ${fmt(anchor.psnr, 2)} dB; ${paired95(id, 'psnr', ' dB', 2)}); ` +
    `on LPIPS-Alex: ${check(lp(base) < lp(anchor))} (${fmt(base.lpips, 4)} vs ${fmt(anchor.lpips, 4)}` +
    (base.lpips != null && anchor.lpips != null ? `; ${paired95(id, 'lpipsAlex', '', 4)})` : ')');
  lines.push(`- Baseline beats frame blend ${vs(blendRow, 'blend')}.`);
  if (flowRow) {
    lines.push(
      `- Baseline beats the flow warp (the pack's own Farnebäck flows, both keyframes warped halfway and averaged, fitted and restored like the models) ${vs(flowRow, 'flow')}.`,
    );
  }
  lines.push(
    '  (A check is **yes** when the mean is better; the paired 95% interval says whether that difference is more than ' +
      'the noise of one seed on these triplets: "better" or "worse" when it excludes zero, "within noise" when it spans it.)',
  );
  if (fp16) {
    const dp = Math.abs(fp16.psnr - base.psnr);
    const dl = Math.abs(lp(fp16) - lp(base));
    lines.push(
      `- fp16 within 0.1 dB PSNR and 0.005 LPIPS of fp32: ${check(dp <= 0.1 && dl <= 0.005)} (|ΔPSNR| ${dp.toFixed(3)} dB, |ΔLPIPS| ${dl.toFixed(4)}).`,
    );
  }
  if (student) {
    const dp = base.psnr - student.psnr;
    const pb = median(paired.get('baseline') ?? []);
    const ps = median(paired.get('student') ?? []);
    const speed = pb / ps;
    lines.push(
      `- Student (${student.steps} steps) within 0.5 dB PSNR of the baseline (${base.steps} steps): ${check(dp <= 0.5)} ` +
        `(baseline − student = ${dp.toFixed(2)} dB); at least 4× faster per in-between: ${check(speed >= 4)} (${speed.toFixed(1)}×: ` +
        `medians ${fmt(pb, 0)} and ${fmt(ps, 0)} ms over ${paired.get('student')?.length ?? 0} in-betweens each, baseline and student alternating).`,
    );
  }
  if (lora.length) {
    const l0 = lora.find((r) => r.id.endsWith('@0'));
    lines.push(
      `- LoRA at scale 0 reproduces the baseline: mean |Δ| ${fmt(l0?.diffFromBaseline ?? null, 3)} levels; ` +
        `the distance from the baseline grows with the scale: ${lora.map((r) => fmt(r.diffFromBaseline, 2)).join(' → ')}.`,
    );
    lines.push('');
    lines.push('## LoRA-scale sweep');
    lines.push('');
    lines.push(
      `The line-art adapter at scales ${LORA_SCALES.join(', ')} on the same (colour) validation triplets, same seed:`,
    );
    lines.push('');
    lines.push(`![LoRA-scale sweep: PSNR and LPIPS against scale](${svgName})`);
  }
  if (drawn.length) {
    lines.push('');
    lines.push('## Drawn animation');
    lines.push('');
    lines.push(
      'Validation clips of real drawn animation (`models/training/data/sprites.py`: Debian game sprites; ' +
        "`synfig_clips.py`: Synfig documents), whose middle frame is the artist's own in-between; " +
        "validation splits, never trained on (a set's " +
        "training split may have been — the pack's manifest description says which). Same protocol as above; " +
        'clips picked at random (seeded) from each set. The "native size" ' +
        "rows run the same variants at each clip's own size padded to a multiple of 64 (the studio's native fit: " +
        'nothing resampled) instead of fitting it to the pack size. The last row is ' +
        `the true middle frame sent through the same fit to ${manifest.image.defaultSize.join('×')} and back: ` +
        'resampling alone caps what any model can score this way, while the anchors are computed at the ' +
        "clips' own size — it matters where clips barely move (blend is then almost exact) or their size or " +
        'aspect is far from the model frame (portrait Synfig renders).',
    );
    for (const d of drawn) {
      lines.push('');
      lines.push(`\`${d.dir}\` (${d.clips} triplets):`);
      lines.push('');
      lines.push('| | PSNR (dB) ↑ | SSIM ↑ | LPIPS-Alex ↓ |');
      lines.push('|---|---|---|---|');
      for (const r of d.rows)
        lines.push(
          `| ${r.label} | ${psnrCell(r.s)} | ${fmt(meanMetric(r.s, 'ssim'), 4)} | ${fmt(meanMetric(r.s, 'lpipsAlex'), 4)} |`,
        );
    }
  }
  lines.push('');
  lines.push('## Reproduce');
  lines.push('');
  lines.push('```sh');
  lines.push(
    'bash models/training/train_pack.sh && /usr/bin/python3 models/training/build_pack.py',
  );
  // The arguments this report was made with (sets, limits, seed), so the command reproduces it.
  const args = process.argv.slice(2).filter((a) => a !== '--');
  lines.push(`npm run lpips && npm run evaluate${args.length ? ` -- ${args.join(' ')}` : ''}`);
  lines.push('```');
  lines.push('');
  await writeFile(reportPath, lines.join('\n'));
  await writeFile(
    join(dirname(reportPath), 'evaluation.json'),
    JSON.stringify(
      {
        pack: manifest.id,
        data: relative(ROOT, dataDir),
        triplets: clips.length,
        seed,
        rows,
        anchors: [blendRow, repeatRow],
      },
      null,
      2,
    ) + '\n',
  );
  const st = await stat(reportPath);
  console.log(
    `wrote ${reportPath} (${st.size} bytes) in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
  );
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
