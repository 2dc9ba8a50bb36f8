/**
 * Variance-collapse detection over the per-step latent statistics of a run: a run collapses when
 * its latents turn non-finite, or when its final latent std falls below a fraction of the baseline
 * run's with the same seed (the LoRA-at-scale-1 failure: frames fade to grey). Reports the step
 * where the drift started.
 */
import type { StepRecord } from './pipeline';

export interface CollapseOptions {
  /** Final std below `ratio` × the baseline's final std is a collapse (default 0.5). */
  ratio?: number;
}

export interface CollapseVerdict {
  collapsed: boolean;
  reason: 'non-finite' | 'variance' | null;
  /** The step where the problem started (first non-finite step, or onset of the std drift). */
  startStep: number | null;
  /** Final mean std of this run ÷ the baseline's; null without a comparable baseline. */
  finalStdRatio: number | null;
  /** One sentence for people, or null when healthy. */
  message: string | null;
}

/** Mean over frames of the latent std at each step (NaN where any frame has no finite value). */
export function meanStdPerStep(stepStats: StepRecord[]): number[] {
  return stepStats.map((s) =>
    s.frames.length ? s.frames.reduce((sum, f) => sum + f.std, 0) / s.frames.length : NaN,
  );
}

/**
 * Judges `run` against `baseline` (same seed and step count; pass null when there is none: only
 * non-finite values can then be detected).
 */
export function detectCollapse(
  run: StepRecord[],
  baseline: StepRecord[] | null,
  opts: CollapseOptions = {},
): CollapseVerdict {
  const ratio = opts.ratio ?? 0.5;
  const firstBad = run.find((s) =>
    s.frames.some((f) => f.nonFinite > 0 || !Number.isFinite(f.std)),
  );
  if (firstBad) {
    return {
      collapsed: true,
      reason: 'non-finite',
      startStep: firstBad.step,
      finalStdRatio: null,
      message: `Non-finite latent values from step ${firstBad.step}.`,
    };
  }
  if (!baseline || baseline.length !== run.length || run.length === 0) {
    return { collapsed: false, reason: null, startStep: null, finalStdRatio: null, message: null };
  }
  const a = meanStdPerStep(run);
  const b = meanStdPerStep(baseline);
  const ratios = a.map((x, i) => x / b[i]!);
  const finalRatio = ratios[ratios.length - 1]!;
  if (!(finalRatio < ratio)) {
    return {
      collapsed: false,
      reason: null,
      startStep: null,
      finalStdRatio: finalRatio,
      message: null,
    };
  }
  // Onset: the first step from which the ratio stays below halfway between 1 and the threshold.
  const onsetLevel = (1 + ratio) / 2;
  let start = ratios.length - 1;
  while (start > 0 && ratios[start - 1]! < onsetLevel) start--;
  return {
    collapsed: true,
    reason: 'variance',
    startStep: run[start]!.step,
    finalStdRatio: finalRatio,
    message: `Latent std collapsed to ${(finalRatio * 100).toFixed(0)}% of the baseline's (same seed), drifting from step ${run[start]!.step}.`,
  };
}
