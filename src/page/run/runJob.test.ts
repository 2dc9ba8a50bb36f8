import { describe, expect, it } from 'vitest';
import {
  appendTrace,
  cancelPatch,
  isCurrentJob,
  loadProgressState,
  runProgressPatch,
  TRACE_LIMIT,
} from './runJob';
import { initialRun, type RunState, type RunTrace } from './runSlice';

const running = (over: Partial<RunState> = {}): RunState => ({
  ...initialRun,
  status: 'running',
  jobId: 7,
  ...over,
});

describe('run jobs on the page', () => {
  it('counts progress of the current job only', () => {
    const run = running();
    expect(isCurrentJob(run, 7)).toBe(true);
    expect(isCurrentJob(run, 6)).toBe(false);
    const p = { kind: 'encode', done: 1, total: 2 } as const;
    expect(runProgressPatch(run, 7, p)).toEqual({ stage: 'encode' });
    // A job that a newer one replaced: its late progress changes nothing.
    expect(runProgressPatch(run, 6, p)).toBeNull();
  });

  it('shows one progress bar over every batch of a run', () => {
    const p = { kind: 'denoise', step: 3, totalSteps: 10, batch: 1, totalBatches: 2 } as const;
    expect(runProgressPatch(running(), 7, p)).toEqual({
      stage: 'denoise',
      step: 13,
      totalSteps: 20,
    });
    expect(runProgressPatch(running(), 7, { kind: 'decode', frame: 0, total: 3 })?.stage).toBe(
      'decode 1/3',
    );
  });

  it('ignores progress while a cancel is pending, and load events in the run', () => {
    const p = { kind: 'denoise', step: 1, totalSteps: 4, batch: 0, totalBatches: 1 } as const;
    expect(runProgressPatch(running({ status: 'cancelling' }), 7, p)).toBeNull();
    expect(runProgressPatch(running(), 7, { kind: 'verify', file: 'a.onnx' })).toBeNull();
  });

  it('cancels a load at once and a run after its step; nothing when idle', () => {
    expect(cancelPatch(running({ status: 'loading' }))).toEqual({
      status: 'cancelling',
      stage: 'cancelling-load',
    });
    expect(cancelPatch(running())).toEqual({ status: 'cancelling', stage: 'cancelling' });
    for (const status of ['idle', 'done', 'cancelled', 'cancelling', 'error'] as const) {
      expect(cancelPatch(running({ status }))).toBeNull();
    }
  });

  it('says what a load is doing, including a server that went quiet', () => {
    const idle = { active: false, label: '', loadedBytes: 0, totalBytes: 0 };
    expect(
      loadProgressState(idle, {
        kind: 'download',
        file: 'd.onnx',
        loadedBytes: 1 << 20,
        totalBytes: 4 << 20,
      }),
    ).toEqual({
      active: true,
      label: 'Downloading d.onnx — 1.0 MB of 4.0 MB',
      loadedBytes: 1 << 20,
      totalBytes: 4 << 20,
    });
    expect(
      loadProgressState(idle, {
        kind: 'download',
        file: 'd.onnx',
        loadedBytes: 0,
        totalBytes: 10,
        waitingMs: 5400,
      })?.label,
    ).toMatch(/waiting for the server: nothing for 5 s\)$/);
    const downloading = { active: true, label: 'x', loadedBytes: 7, totalBytes: 9 };
    // Checking and compiling keep the byte bar where the download left it.
    expect(loadProgressState(downloading, { kind: 'compile', graph: 'denoiser:student' })).toEqual({
      ...downloading,
      label: 'Preparing the denoiser',
    });
    expect(loadProgressState(idle, { kind: 'cache-hit', file: 'e.onnx', sizeBytes: 5 })).toEqual({
      active: true,
      label: 'e.onnx from the cache',
      loadedBytes: 5,
      totalBytes: 5,
    });
    expect(loadProgressState(idle, { kind: 'encode', done: 0, total: 2 })).toBeNull();
  });

  it('keeps the newest traces for the plot', () => {
    const trace = (jobId: number): RunTrace => ({
      jobId,
      label: `#${jobId}`,
      variantId: 'v',
      loraScale: null,
      seed: 0,
      inputs: '',
      stepStats: [],
    });
    let traces: RunTrace[] = [];
    for (let j = 1; j <= TRACE_LIMIT + 3; j++) traces = appendTrace(traces, trace(j));
    expect(traces.map((t) => t.jobId)).toEqual(
      Array.from({ length: TRACE_LIMIT }, (_, i) => i + 4),
    );
  });
});
