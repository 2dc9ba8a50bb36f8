/**
 * The efficiency table: every variant of the chosen pack measured on this machine and backend —
 * file sizes, denoiser session creation, warm ms per denoiser step, per decode and per in-between,
 * and the memory the browser exposes (WASM heap, WebGPU buffer bytes) — exportable as CSV and
 * Markdown for a report. Each variant is loaded in a fresh worker, so its memory figures are its own.
 */
import { benchmarkLoadedVariant, loadVariant, stopWorker } from '../clients/inferenceClient';
import { packSource } from '../packs/packActions';
import { clipLengthOf, variantSizeBytes } from '../../core/manifest';
import { patch, refuseWhileWorkerBusy, say, useStudio } from '../state/store';
import type { EfficiencyRow } from './efficiencySlice';

/**
 * Warm-up per variant in the studio's table: shorter than the bench's 3 s, enough for V8 to
 * optimise the hot WASM kernels (see BenchmarkOptions.warmupMs).
 */
export const TABLE_WARMUP_MS = 2000;

/** Set by Cancel: the measurement stops, the rows measured so far stay. */
let cancelRequested = false;

/** Measures every variant in turn (warm-up, then the median of `repeats`). */
export async function measureEfficiency(repeats = 5): Promise<void> {
  if (refuseWhileWorkerBusy('efficiency')) return;
  const { manifest, selectedKey } = useStudio.getState().packs;
  const source = selectedKey ? packSource(selectedKey) : undefined;
  if (!manifest || !source) return;
  const rows: EfficiencyRow[] = [];
  cancelRequested = false;
  patch('efficiency', {
    rows: [],
    measuring: 'starting',
    pack: { id: manifest.id, version: manifest.version, clipLength: clipLengthOf(manifest) },
  });
  try {
    for (const v of manifest.variants) {
      if (cancelRequested) break;
      stopWorker('restarted');
      patch('efficiency', { measuring: `loading ${v.label}` });
      const loaded = await loadVariant(
        { manifest, source, variantId: v.id, backend: useStudio.getState().settings.backend },
        () => undefined,
      );
      patch('efficiency', { measuring: `timing ${v.label}` });
      const b = await benchmarkLoadedVariant({ repeats, warmupMs: TABLE_WARMUP_MS });
      const den = manifest.graphs.denoisers[v.denoiser]!;
      rows.push({
        variantId: v.id,
        precision: v.precision,
        backend: b.backend,
        denoiserBytes: den.sizeBytes,
        totalBytes: variantSizeBytes(manifest, v.id),
        sessionMs: loaded.sessionMs[`denoiser:${v.denoiser}`] ?? null,
        stepMs: b.denoiserStepMs,
        decodeMs: b.decodeMs,
        inbetweenMs: b.inbetweenMs,
        steps: b.steps,
        size: b.size,
        wasmHeapBytes: b.memory.wasmHeapBytes,
        gpuPeakBytes: b.memory.gpuPeakBytes,
      });
      patch('efficiency', { rows: [...rows] });
    }
  } catch (e) {
    // Cancel stops the worker, which rejects the call in flight: that is not a failure.
    if (!cancelRequested) say('error', 'efficiency', `Measuring failed: ${(e as Error).message}`);
  } finally {
    if (cancelRequested) {
      say(
        'info',
        'efficiency',
        `Measuring was cancelled; ${rows.length} of ${manifest.variants.length} variants were measured.`,
      );
    }
    patch('efficiency', { measuring: null });
    stopWorker('restarted');
  }
}

/** The table's columns; a clip pack's time is per clip, not per in-between. */
const columns = (clipLength: number | null) =>
  COLUMNS.map((c) =>
    c === 'ms / in-between' && clipLength !== null
      ? `ms / clip (${clipLength - 2} in-betweens)`
      : c,
  );

const COLUMNS = [
  'variant',
  'precision',
  'backend',
  'denoiser MB',
  'all graphs MB',
  'session ms',
  'ms / denoiser step',
  'ms / decode',
  'steps',
  'ms / in-between',
  'size',
  'WASM heap MB',
  'WebGPU buffers peak MB',
] as const;

function cells(r: EfficiencyRow): string[] {
  return [
    r.variantId,
    r.precision,
    r.backend,
    (r.denoiserBytes / 1e6).toFixed(3),
    (r.totalBytes / 1e6).toFixed(3),
    r.sessionMs === null ? '' : r.sessionMs.toFixed(1),
    r.stepMs.toFixed(2),
    r.decodeMs.toFixed(2),
    String(r.steps),
    r.inbetweenMs.toFixed(1),
    `${r.size[0]}x${r.size[1]}`,
    r.wasmHeapBytes === null ? '' : (r.wasmHeapBytes / 1e6).toFixed(1),
    r.gpuPeakBytes === null ? '' : (r.gpuPeakBytes / 1e6).toFixed(1),
  ];
}

/** The table as CSV (`clipLength`: a clip pack's, whose time is per clip). */
export function efficiencyCsv(rows: EfficiencyRow[], clipLength: number | null = null): string {
  return [columns(clipLength).join(','), ...rows.map((r) => cells(r).join(','))].join('\n') + '\n';
}

/** What the time column measures (`clipLength`: a clip pack's, whose time is per clip). */
export function timeColumnMeaning(clipLength: number | null): string {
  return clipLength === null
    ? "ms / in-between is one in-between's denoiser steps and decode"
    : `ms / clip is one ${clipLength}-frame clip's denoiser steps and decode (its ${clipLength - 2} in-betweens at once)`;
}

/** The table as Markdown, with the machine it was measured on. */
export function efficiencyMarkdown(
  rows: EfficiencyRow[],
  where: string,
  clipLength: number | null = null,
): string {
  const cols = columns(clipLength);
  const lines = [
    `| ${cols.join(' | ')} |`,
    `| ${cols.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${cells(r).join(' | ')} |`),
  ];
  return (
    `${lines.join('\n')}\n\nMedians after a ${TABLE_WARMUP_MS / 1000} s warm-up, measured in the browser (${where}). ` +
    `${timeColumnMeaning(clipLength)}: it leaves out loading, the keyframes' encoding ` +
    'and motion (once per run) and fitting and writing images. ' +
    'Each variant ran in a fresh worker: WASM heap is its linear memory afterwards (it only grows), ' +
    'WebGPU buffers peak the most GPU buffer bytes live at once; empty where the backend has none.\n'
  );
}

/**
 * Stops the measurement now. A benchmark cannot stop between its timed runs, so the worker is
 * stopped (each variant is measured in a fresh worker anyway); the next run loads its variant.
 */
export function cancelEfficiency(): void {
  if (useStudio.getState().efficiency.measuring === null) return;
  cancelRequested = true;
  stopWorker('the measurement was cancelled');
}
