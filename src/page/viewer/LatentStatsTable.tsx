/**
 * The latent statistics the worker recorded at every denoising step, per frame — the numbers
 * behind variance-collapse checks (plots come with the research tools).
 */
import { useState } from 'react';
import type { StepRecord } from '../../core/pipeline';

const fmt = (n: number) => (Number.isFinite(n) ? n.toFixed(3) : String(n));

export function LatentStatsTable({
  stepStats: steps,
  positions,
}: {
  stepStats: StepRecord[];
  positions: number[];
}) {
  const [frame, setFrame] = useState(0);
  const f = Math.min(frame, positions.length - 1);
  return (
    <details className="stats" data-testid="viewer.stats">
      <summary>Latent statistics per step</summary>
      <label className="row">
        In-between
        <select
          value={f}
          onChange={(e) => setFrame(Number(e.target.value))}
          data-testid="viewer.stats.frame"
        >
          {positions.map((p, i) => (
            <option key={p} value={i}>
              τ {p.toFixed(2)}
            </option>
          ))}
        </select>
      </label>
      <table className="cache-table">
        <thead>
          <tr>
            <th>step</th>
            <th>t</th>
            <th>mean</th>
            <th>std</th>
            <th>min</th>
            <th>max</th>
            <th>non-finite</th>
          </tr>
        </thead>
        <tbody>
          {steps.map((s) => {
            const st = s.frames[f];
            if (!st) return null;
            return (
              <tr key={s.step}>
                <td>{s.step === 0 ? 'noise' : s.step}</td>
                <td>{s.timestep ?? '—'}</td>
                <td>{fmt(st.mean)}</td>
                <td>{fmt(st.std)}</td>
                <td>{fmt(st.min)}</td>
                <td>{fmt(st.max)}</td>
                <td>{st.nonFinite}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </details>
  );
}
