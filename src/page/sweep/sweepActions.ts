/**
 * Sweeps: one seed, one pair of keyframes, many runs — every chosen variant at every LoRA scale
 * (for variants that have one), every guidance scale (for packs with classifier-free guidance)
 * and every step count — run one after another in the inference
 * worker. Each finished row keeps its frames (and scores against the ground truth, if set); a
 * cancelled sweep keeps the rows it finished. Exports a CSV and a PNG contact sheet.
 */
import {
  cancelRun,
  isVariantLoaded,
  loadVariant,
  nextJobId,
  runInterpolation,
} from '../clients/inferenceClient';
import { scoreFrame } from '../clients/metricsClient';
import {
  FORCE_STOPPED_MESSAGE,
  offerForceStopLater,
  stopWorkersByForce,
} from '../common/forceStop';
import { decodeKeyframe, keyframeBlob } from '../keyframes/keyframeActions';
import { packSource } from '../packs/packActions';
import { runSettingsOf, toFrameViews } from '../run/runActions';
import { meanStdPerStep } from '../../core/collapse';
import { clipLengthOf, maxSteps } from '../../core/manifest';
import { scoredFrameIndex } from '../../core/pipeline';
import { patch, refuseWhileWorkerBusy, say, useStudio } from '../state/store';
import type { SweepRow } from './sweepSlice';

/** The default LoRA scales of a sweep. */
export { DEFAULT_SCALES } from '../../core/sweepDefaults';

export interface SweepSpec {
  variants: string[];
  scales: number[];
  steps: number[];
  /** Guidance scales (packs with classifier-free guidance); absent or empty: the current one. */
  guidance?: number[];
}

interface Planned {
  key: string;
  variantId: string;
  loraScale: number | null;
  steps: number;
  guidanceScale: number | null;
}

/** Parses "0, 0.15, 0.5" into numbers; throws a clear error on anything else. */
export function parseNumberList(text: string, what: string): number[] {
  const parts = text
    .split(/[,\s]+/)
    .map((t) => t.trim())
    .filter(Boolean);
  const nums = parts.map(Number);
  const bad = parts.filter((_, i) => !Number.isFinite(nums[i]!));
  if (bad.length || nums.length === 0)
    throw new Error(`${what}: "${text}" is not a list of numbers`);
  return nums;
}

/** The rows a sweep will run, in order. */
export function planSweep(
  variants: { id: string; loraScale?: { min: number; max: number } | undefined }[],
  spec: SweepSpec,
): Planned[] {
  const rows: Planned[] = [];
  for (const v of variants.filter((x) => spec.variants.includes(x.id))) {
    const scales = v.loraScale
      ? spec.scales.filter((s) => s >= v.loraScale!.min && s <= v.loraScale!.max)
      : [null];
    const guidance = spec.guidance?.length ? spec.guidance : [null];
    for (const steps of spec.steps) {
      for (const g of guidance) {
        for (const scale of scales) {
          rows.push({
            key: `${v.id}|${scale ?? ''}|${steps}|${g ?? ''}`,
            variantId: v.id,
            loraScale: scale,
            steps,
            guidanceScale: g,
          });
        }
      }
    }
  }
  return rows;
}

let currentJob: number | null = null;
let cancelRequested = false;
/** Set by Force stop: the call that then fails was stopped, it did not fail. */
let forced = false;
/** Counts sweeps, so that a late "stuck" check concerns the sweep that asked for it. */
let sweepCount = 0;

/** Runs a sweep; resolves when it finished, was cancelled, or failed. */
export async function startSweep(spec: SweepSpec): Promise<void> {
  if (refuseWhileWorkerBusy('sweep')) return;
  const s = useStudio.getState();
  const { manifest, selectedKey } = s.packs;
  const { start, end, fitMode } = s.keyframes;
  const source = selectedKey ? packSource(selectedKey) : undefined;
  if (!manifest || !source || !start || !end) {
    say('error', 'sweep', 'A sweep needs two keyframes and a model pack.');
    return;
  }
  const g = manifest.guidance?.scale;
  const outside = (spec.guidance ?? []).filter((x) => !g || x < g.min || x > g.max);
  if (outside.length) {
    say(
      'error',
      'sweep',
      g
        ? `Guidance scales must be from ${g.min} to ${g.max}; ${outside.join(', ')} is not.`
        : 'This pack has no classifier-free guidance to sweep.',
    );
    return;
  }
  // Every step count checked before the first run, as the guidance scales are.
  const most = maxSteps(manifest.scheduler);
  const badSteps = spec.steps.filter((n) => !Number.isInteger(n) || n < 1 || n > most);
  if (badSteps.length) {
    say(
      'error',
      'sweep',
      `Step counts must be whole numbers from 1 to ${most} for this pack; ${badSteps.join(', ')} is not.`,
    );
    return;
  }
  const plan = planSweep(manifest.variants, spec);
  if (plan.length === 0) {
    say(
      'error',
      'sweep',
      'Nothing to sweep: choose at least one variant (and scales within its range).',
    );
    return;
  }
  for (const r of useStudio.getState().sweep.rows)
    r.frames.forEach((f) => URL.revokeObjectURL(f.url));
  const seed = s.settings.seed;
  const gt = s.evaluate.groundTruth ? keyframeBlob(s.evaluate.groundTruth.id) : undefined;
  cancelRequested = false;
  forced = false;
  sweepCount += 1;
  patch('sweep', { status: 'running', seed, total: plan.length, rows: [], stuck: false });
  try {
    for (const p of plan) {
      if (cancelRequested) break;
      const jobId = nextJobId();
      currentJob = jobId;
      if (!isVariantLoaded(manifest, p.variantId, s.settings.backend)) {
        await loadVariant(
          { jobId, manifest, source, variantId: p.variantId, backend: s.settings.backend },
          () => undefined,
        );
      }
      if (cancelRequested) break;
      const [a, b] = await Promise.all([
        decodeKeyframe(keyframeBlob(start.id)!),
        decodeKeyframe(keyframeBlob(end.id)!),
      ]);
      const result = await runInterpolation(
        {
          jobId,
          variantId: p.variantId,
          start: a,
          end: b,
          fitMode,
          settings: {
            ...runSettingsOf(s.settings, p.steps),
            seed,
            ...(p.loraScale !== null ? { loraScale: p.loraScale } : {}),
            ...(p.guidanceScale !== null ? { guidanceScale: p.guidanceScale } : {}),
          },
        },
        () => undefined,
      );
      const frames = toFrameViews(result.frames);
      const row: SweepRow = {
        key: p.key,
        variantId: p.variantId,
        loraScale: p.loraScale,
        steps: p.steps,
        guidanceScale: result.clip?.controls.guidanceScale ?? null,
        frames,
        psnr: null,
        ssim: null,
        lpipsAlex: null,
        scoredTau: null,
        finalStd: meanStdPerStep(result.stepStats).at(-1) ?? NaN,
      };
      const middle =
        result.frames[
          scoredFrameIndex(
            result.frames.map((f) => f.position),
            clipLengthOf(manifest),
          )
        ];
      if (gt && middle) {
        try {
          const sc = await scoreFrame({ result: middle.png, groundTruth: gt });
          Object.assign(row, {
            psnr: sc.psnr,
            ssim: sc.ssim,
            lpipsAlex: sc.lpipsAlex,
            scoredTau: middle.position,
          });
        } catch (e) {
          // A row that cannot be scored (a ground truth of another size…) keeps its frames.
          if (forced || cancelRequested) throw e;
          say(
            'warning',
            'sweep',
            `${p.variantId}${p.loraScale !== null ? ` @${p.loraScale}` : ''} · ${p.steps} steps was not scored: ${(e as Error).message}`,
          );
        }
      }
      patch('sweep', { rows: [...useStudio.getState().sweep.rows, row] });
    }
    patch('sweep', { status: cancelRequested ? 'cancelled' : 'done', stuck: false });
  } catch (e) {
    if ((e as Error).name === 'RunCancelledError' || forced)
      patch('sweep', { status: 'cancelled', stuck: false });
    else {
      patch('sweep', { status: 'error', stuck: false });
      say('error', 'sweep', `The sweep stopped: ${(e as Error).message}`);
    }
  } finally {
    currentJob = null;
  }
}

/** Cancels the sweep after its current step; finished rows stay. */
export function cancelSweep(): void {
  cancelRequested = true;
  patch('sweep', { status: 'cancelling' });
  if (currentJob !== null) cancelRun(currentJob);
  const which = sweepCount;
  offerForceStopLater(
    () => which === sweepCount && useStudio.getState().sweep.status === 'cancelling',
    () => patch('sweep', { stuck: true }),
  );
}

/** Stops the workers by force (a step that does not answer Cancel); finished rows stay. */
export function forceStopSweep(): void {
  if (useStudio.getState().sweep.status !== 'cancelling') return;
  forced = true;
  stopWorkersByForce(true);
  say('info', 'sweep', FORCE_STOPPED_MESSAGE);
}

/** The sweep as CSV: one line per row, scores when a ground truth was set. */
export function sweepCsv(rows: SweepRow[], seed: number): string {
  const header =
    'variant,lora_scale,guidance_scale,steps,seed,frames,final_latent_std,psnr_db,ssim,lpips_alex,scored_tau';
  const num = (n: number | null) => (n === null ? '' : n === Infinity ? 'inf' : String(n));
  return (
    [
      header,
      ...rows.map((r) =>
        [
          r.variantId,
          r.loraScale ?? '',
          r.guidanceScale ?? '',
          r.steps,
          seed,
          r.frames.length,
          r.finalStd,
          num(r.psnr),
          num(r.ssim),
          num(r.lpipsAlex),
          num(r.scoredTau),
        ].join(','),
      ),
    ].join('\n') + '\n'
  );
}

/** The tallest contact sheet drawn (browsers refuse canvases past about 32 000 px a side). */
const SHEET_MAX_HEIGHT = 16384;

/**
 * Draws the sweep as one PNG contact sheet: a row per run, its in-betweens left to right (cells
 * smaller when many tall rows would pass SHEET_MAX_HEIGHT).
 */
export async function sweepContactSheet(rows: SweepRow[]): Promise<Blob> {
  const first = rows[0]?.frames[0];
  const aspect = first ? first.height / first.width : 120 / 192;
  const rowRoom = (SHEET_MAX_HEIGHT - 4) / Math.max(1, rows.length) - 4;
  const cellW = Math.max(24, Math.min(192, Math.floor(rowRoom / aspect)));
  const cellH = Math.round(cellW * aspect);
  const labelW = 180;
  const cols = Math.max(1, ...rows.map((r) => r.frames.length));
  const canvas = new OffscreenCanvas(labelW + cols * (cellW + 4), rows.length * (cellH + 4) + 4);
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = '#222';
  ctx.font = '13px sans-serif';
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const y = 4 + r * (cellH + 4);
    ctx.fillText(
      `${row.variantId}${row.loraScale !== null ? ` @${row.loraScale}` : ''}${row.guidanceScale !== null ? ` cfg ${row.guidanceScale}` : ''} · ${row.steps} steps`,
      6,
      y + 18,
    );
    if (row.psnr !== null)
      ctx.fillText(`PSNR ${row.psnr === Infinity ? '∞' : row.psnr.toFixed(2)} dB`, 6, y + 36);
    for (let c = 0; c < row.frames.length; c++) {
      const bmp = await createImageBitmap(await (await fetch(row.frames[c]!.url)).blob());
      ctx.drawImage(bmp, labelW + c * (cellW + 4), y, cellW, cellH);
      bmp.close();
    }
  }
  return canvas.convertToBlob({ type: 'image/png' });
}
