/** Collapse verdicts and CSV export for the runs the latent plot overlays. */
import { detectCollapse, type CollapseVerdict } from '../../core/collapse';
import type { RunTrace, RunView } from '../run/runSlice';

/**
 * What a run's latents depend on besides its variant, LoRA scale, seed and steps: the pack, the
 * keyframes (`keyframes` names them: their ids in this session, or their hashes for a stored run
 * whose keyframes are not on the page), the sampler and a clip pack's controls. The collapse check
 * compares runs alike in all of these.
 */
export function traceInputs(
  view: Pick<RunView, 'packId' | 'sampler' | 'clip'>,
  keyframes: string,
): string {
  return JSON.stringify({
    pack: view.packId,
    keyframes,
    sampler: view.sampler,
    controls: view.clip?.controls ?? null,
  });
}

/**
 * Each trace judged against the most recent baseline-variant run with the same seed and steps on
 * the same inputs (`traceInputs`).
 */
export function judgeTraces(
  traces: RunTrace[],
  baselineVariant: string | null,
): Map<number, CollapseVerdict> {
  const out = new Map<number, CollapseVerdict>();
  for (const t of traces) {
    const base = [...traces]
      .reverse()
      .find(
        (b) =>
          b.variantId === baselineVariant &&
          b.inputs === t.inputs &&
          b.seed === t.seed &&
          b.stepStats.length === t.stepStats.length,
      );
    out.set(
      t.jobId,
      detectCollapse(t.stepStats, base && base.jobId !== t.jobId ? base.stepStats : null),
    );
  }
  return out;
}

/** Per-step, per-frame latent statistics of every trace, one CSV row each. */
export function tracesToCsv(traces: RunTrace[]): string {
  const header = [
    'run',
    'variant',
    'lora_scale',
    'seed',
    'step',
    'timestep',
    'frame',
    'mean',
    'std',
    'min',
    'max',
    'non_finite',
  ];
  const rows = [header.join(',')];
  for (const t of traces) {
    for (const s of t.stepStats) {
      s.frames.forEach((f, i) => {
        rows.push(
          [
            t.jobId,
            t.variantId,
            t.loraScale ?? '',
            t.seed,
            s.step,
            s.timestep ?? '',
            i,
            f.mean,
            f.std,
            f.min,
            f.max,
            f.nonFinite,
          ].join(','),
        );
      });
    }
  }
  return rows.join('\n') + '\n';
}
