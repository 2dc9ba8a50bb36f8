/**
 * Force stop for the panels that run jobs in the workers (Run, Sweep, Scene, dataset evaluation).
 * Cancel asks the worker to stop after its current step; a worker stuck in one long synchronous
 * call never gets there. When a cancel has not taken effect after `STUCK_AFTER_MS`, the panel
 * offers Force stop, which terminates the workers: the call in flight rejects at once, and the next
 * job starts a fresh worker (models and LPIPS graphs load again).
 */
import { stopWorker } from '../clients/inferenceClient';
import { stopMetricsWorker } from '../clients/metricsClient';

/** Milliseconds after a cancel request before the page offers to stop the worker by force. */
export const STUCK_AFTER_MS = 4000;

/**
 * Calls `onStuck` after `STUCK_AFTER_MS` if `stillStopping()` then says the cancel has not taken
 * effect (the caller checks that it is still the same job that is stopping).
 */
export function offerForceStopLater(stillStopping: () => boolean, onStuck: () => void): void {
  setTimeout(() => {
    if (stillStopping()) onStuck();
  }, STUCK_AFTER_MS);
}

/** The message the panels show after a force stop. */
export const FORCE_STOPPED_MESSAGE =
  'The worker was stopped; the model will be loaded again on the next run.';

/**
 * Stops the inference worker (and the metrics worker, when `metrics` is set: a job may be stuck in
 * scoring) by force. Calls waiting on them reject with `WorkerCrashedError`.
 */
export function stopWorkersByForce(metrics: boolean): void {
  stopWorker('stopped by force');
  if (metrics) stopMetricsWorker('stopped by force');
}
