/**
 * The rules of a run job on the page, as pure functions of the run slice so they can be tested
 * without a worker: which job's progress still counts, what a progress event changes, what Cancel
 * changes, and how the plot's traces are kept. runActions.ts applies them to the store.
 */
import { formatBytes } from '../../core/format';
import type { JobProgress } from '../../shared/protocol';
import type { PacksState } from '../packs/packsSlice';
import type { RunState, RunTrace } from './runSlice';

/** How many runs the latent plot overlays. */
export const TRACE_LIMIT = 8;

/** Whether results and progress of job `jobId` still belong on screen (no newer job replaced it). */
export function isCurrentJob(run: RunState, jobId: number): boolean {
  return run.jobId === jobId;
}

/**
 * The run slice's change for a progress event of a running job; null when the event is stale
 * (another job is current), the job is being cancelled, or the event does not show in the run.
 */
export function runProgressPatch(
  run: RunState,
  jobId: number,
  p: JobProgress,
): Partial<RunState> | null {
  if (!isCurrentJob(run, jobId) || run.status === 'cancelling') return null;
  switch (p.kind) {
    case 'denoise':
      // One bar over every batch: step s of batch b is step b × steps + s of the whole run.
      return {
        stage: 'denoise',
        step: p.batch * p.totalSteps + p.step,
        totalSteps: p.totalSteps * p.totalBatches,
      };
    case 'encode':
      return { stage: 'encode' };
    case 'decode':
      return { stage: `decode ${p.frame + 1}/${p.total}` };
    default:
      return null;
  }
}

/**
 * The Model panel's load line after a load's progress event: what it says to people and, for a
 * download or a cache hit, its bytes; null when the event is not about the load's files.
 */
export function loadProgressState(
  load: PacksState['load'],
  p: JobProgress,
): PacksState['load'] | null {
  switch (p.kind) {
    case 'download':
      return {
        active: true,
        label:
          `Downloading ${p.file} — ${formatBytes(p.loadedBytes)} of ${formatBytes(p.totalBytes)}` +
          (p.waitingMs !== undefined
            ? ` (waiting for the server: nothing for ${Math.floor(p.waitingMs / 1000)} s)`
            : ''),
        loadedBytes: p.loadedBytes,
        totalBytes: p.totalBytes,
      };
    case 'cache-hit':
      return {
        active: true,
        label: `${p.file} from the cache`,
        loadedBytes: p.sizeBytes,
        totalBytes: p.sizeBytes,
      };
    case 'verify':
      return { ...load, label: `Checking ${p.file}` };
    case 'compile':
      return { ...load, label: `Preparing the ${p.graph.replace(/:.*/, '')}` };
    default:
      return null;
  }
}

/**
 * What Cancel changes: a load stops at once (its download is aborted), a run after its current
 * step; null when nothing is loading or running.
 */
export function cancelPatch(run: RunState): Partial<RunState> | null {
  if (run.status !== 'running' && run.status !== 'loading') return null;
  return {
    status: 'cancelling',
    stage: run.status === 'loading' ? 'cancelling-load' : 'cancelling',
  };
}

/** `traces` with `trace` appended; the newest TRACE_LIMIT are kept. */
export function appendTrace(traces: RunTrace[], trace: RunTrace): RunTrace[] {
  return [...traces, trace].slice(-TRACE_LIMIT);
}
