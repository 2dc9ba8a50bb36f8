/**
 * Latent std (or mean) against denoising step for the recent runs, overlaid so variants and LoRA
 * scales can be compared; a run whose latents collapse relative to the baseline run with the same
 * seed, or turn non-finite, is flagged with the step where it started. Exports the data as CSV.
 */
import { memo, useDeferredValue, useMemo, useState } from 'react';
import {
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import type { StepRecord } from '../../core/pipeline';
import type { RunTrace } from '../run/runSlice';
import { downloadBlob } from '../common/download';
import { useStudio } from '../state/store';
import { judgeTraces, tracesToCsv } from './traces';
import { referenceVariant } from '../../core/manifest';

const COLOURS = [
  '#e0662f',
  '#2f7fe0',
  '#2e9d52',
  '#a640c8',
  '#c9a227',
  '#d0406a',
  '#3bb3b3',
  '#7a6a58',
];

type Stat = 'std' | 'mean';

/** The plotted value of one step: over all frames (mean of per-frame values) or one frame. */
function valueAt(step: StepRecord, stat: Stat, frame: number | 'all'): number | null {
  const frames = frame === 'all' ? step.frames : step.frames.slice(frame, frame + 1);
  if (frames.length === 0) return null;
  const v = frames.reduce((s, f) => s + f[stat], 0) / frames.length;
  return Number.isFinite(v) ? v : null;
}

/** The latent-statistics plot. */
export function LatentPlot() {
  // The plot is not urgent: React renders it in interruptible slices, never one long task.
  const traces = useDeferredValue(useStudio((s) => s.run.traces));
  const baselineVariant = useStudio((s) =>
    s.packs.manifest ? referenceVariant(s.packs.manifest).id : null,
  );
  const [stat, setStat] = useState<Stat>('std');
  const [frame, setFrame] = useState<number | 'all'>('all');
  const verdicts = useMemo(() => judgeTraces(traces, baselineVariant), [traces, baselineVariant]);
  const maxFrames = Math.max(0, ...traces.map((t) => t.stepStats[0]?.frames.length ?? 0));
  const data = useMemo(() => {
    const length = Math.max(0, ...traces.map((t) => t.stepStats.length));
    return Array.from({ length }, (_, step) => {
      const row: Record<string, number | null> = { step };
      for (const t of traces)
        row[`r${t.jobId}`] = t.stepStats[step] ? valueAt(t.stepStats[step]!, stat, frame) : null;
      return row;
    });
  }, [traces, stat, frame]);
  if (traces.length === 0) return null;
  return (
    <section className="panel" aria-labelledby="plot-title" data-testid="plot.panel">
      <h2 id="plot-title">Latent statistics across steps</h2>
      <div className="row plot-controls">
        <select
          value={stat}
          onChange={(e) => setStat(e.target.value as Stat)}
          data-testid="plot.stat"
          aria-label="Statistic"
        >
          <option value="std">std</option>
          <option value="mean">mean</option>
        </select>
        <select
          value={String(frame)}
          onChange={(e) => setFrame(e.target.value === 'all' ? 'all' : Number(e.target.value))}
          data-testid="plot.frame"
          aria-label="Frame"
        >
          <option value="all">all in-betweens (mean)</option>
          {Array.from({ length: maxFrames }, (_, i) => (
            <option key={i} value={i}>
              in-between {i + 1}
            </option>
          ))}
        </select>
        <button
          type="button"
          data-testid="plot.csv"
          onClick={() =>
            downloadBlob('latent-stats.csv', new Blob([tracesToCsv(traces)], { type: 'text/csv' }))
          }
        >
          Export CSV
        </button>
      </div>
      <TraceChart data={data} traces={traces} verdicts={verdicts} />
      <ul className="hint collapse-list" data-testid="plot.warnings">
        {traces
          .filter((t) => verdicts.get(t.jobId)?.collapsed)
          .map((t) => (
            <li key={t.jobId} className="warn" data-testid="plot.warning">
              ⚠ {t.label}: {verdicts.get(t.jobId)!.message}
            </li>
          ))}
      </ul>
      <p className="hint">
        Collapse: final latent std below 50% of the most recent {baselineVariant ?? 'baseline'} run
        with the same seed and steps (dashed line), or non-finite values.
      </p>
    </section>
  );
}

type Verdicts = ReturnType<typeof judgeTraces>;

/**
 * The chart itself, memoised: while a new trace is deferred, the urgent render that the store
 * update causes keeps the old props and skips recharts entirely (a recharts re-render with the
 * same data still costs a long task on a slow machine); the new trace renders once, deferred.
 */
const TraceChart = memo(function TraceChart({
  data,
  traces,
  verdicts,
}: {
  data: Record<string, number | null>[];
  traces: RunTrace[];
  verdicts: Verdicts;
}) {
  return (
    <div className="plot" data-testid="plot.chart">
      <ResponsiveContainer width="100%" height={240}>
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 8, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" opacity={0.4} />
          <XAxis
            dataKey="step"
            label={{ value: 'step (0 = noise)', position: 'insideBottom', offset: -4 }}
          />
          <YAxis width={48} tickFormatter={(v: number) => v.toFixed(2)} />
          <Tooltip formatter={(v) => (typeof v === 'number' ? v.toFixed(4) : String(v))} />
          <Legend />
          {traces.map((t, i) => (
            <Line
              key={t.jobId}
              dataKey={`r${t.jobId}`}
              name={t.label}
              stroke={COLOURS[i % COLOURS.length]}
              dot={false}
              isAnimationActive={false}
              strokeDasharray={verdicts.get(t.jobId)?.collapsed ? '5 3' : undefined}
            />
          ))}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
});
