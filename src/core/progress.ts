/**
 * The one progress shape of a job — a load (downloads, cache hits, checks, session creation) and a
 * run (encode, denoise, decode) — emitted by the pipeline and the workers alike and sent to the
 * page as it is, with one throttle. Plain data: it crosses the worker boundary.
 */
export type JobProgress =
  | {
      kind: 'download';
      file: string;
      loadedBytes: number;
      totalBytes: number;
      /** Set while no data has arrived for a while: how long the download has waited, ms. */
      waitingMs?: number;
    }
  | { kind: 'cache-hit'; file: string; sizeBytes: number }
  | { kind: 'verify'; file: string }
  | { kind: 'compile'; graph: string }
  | { kind: 'encode'; done: number; total: number }
  | {
      kind: 'denoise';
      step: number;
      totalSteps: number;
      batch: number;
      totalBatches: number;
      /** Mean over the batch's frames of the latent std after `step` steps (a live latent plot). */
      latentStd?: number;
    }
  | { kind: 'decode'; frame: number; total: number }
  | { kind: 'warning'; message: string };

/** The part of a job the pipeline reports: encoding, denoising steps, decoding. */
export type PipelineProgress = Extract<JobProgress, { kind: 'encode' | 'denoise' | 'decode' }>;

/** A progress sender; `force` sends an event the throttle would otherwise drop. */
export type ProgressSink = (p: JobProgress, force?: boolean) => void;

/** Most updates a second the page gets from a job. */
export const PROGRESS_PER_SECOND = 10;

/**
 * Sends at most `PROGRESS_PER_SECOND` updates a second. A change of kind, a warning, a decode (one
 * per in-between), the last step of a denoising batch and a forced event always pass, so every
 * stage is seen and a run never ends on a stale count.
 */
export function throttleProgress(
  send: (p: JobProgress) => void,
  now: () => number = () => performance.now(),
): ProgressSink {
  let last = -Infinity;
  let lastKind = '';
  return (p, force = false) => {
    const t = now();
    const always =
      force ||
      p.kind !== lastKind ||
      p.kind === 'warning' ||
      p.kind === 'decode' ||
      (p.kind === 'denoise' && p.step === p.totalSteps);
    if (always || t - last >= 1000 / PROGRESS_PER_SECOND) {
      last = t;
      lastKind = p.kind;
      send(p);
    }
  };
}
