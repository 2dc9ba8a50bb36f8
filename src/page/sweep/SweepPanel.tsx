/**
 * The sweep panel: choose variants, LoRA scales and step counts, run them all with one seed, and
 * compare the in-betweens side by side (with scores when a ground truth is set and a metric-vs-scale
 * chart); cancel keeps finished rows; export CSV and a PNG contact sheet.
 */
import { useState } from 'react';
import {
  CartesianGrid,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { downloadBlob } from '../common/download';
import { say, selectWorkerJob, useStudio } from '../state/store';
import {
  cancelSweep,
  forceStopSweep,
  DEFAULT_SCALES,
  parseNumberList,
  startSweep,
  sweepContactSheet,
  sweepCsv,
} from './sweepActions';

export function SweepPanel() {
  const manifest = useStudio((s) => s.packs.manifest);
  const sweep = useStudio((s) => s.sweep);
  const steps = useStudio((s) => s.settings.steps);
  const busy = useStudio((s) => selectWorkerJob(s) !== null);
  const haveInputs = useStudio((s) =>
    Boolean(s.keyframes.start && s.keyframes.end && s.packs.manifest),
  );
  const canStart = haveInputs && !busy;
  const [scales, setScales] = useState(DEFAULT_SCALES.join(', '));
  const [stepList, setStepList] = useState('');
  const [guidanceList, setGuidanceList] = useState('');
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  if (!manifest) return null;
  const variants = chosen ?? manifest.variants.map((v) => v.id);
  const running = sweep.status === 'running' || sweep.status === 'cancelling';
  const chartRows = sweep.rows.filter((r) => r.loraScale !== null);
  const metric = sweep.rows.some((r) => r.psnr !== null) ? 'psnr' : 'finalStd';

  const start = () => {
    try {
      const spec = {
        variants,
        scales: parseNumberList(scales, 'LoRA scales'),
        steps: stepList.trim() ? parseNumberList(stepList, 'Steps').map(Math.round) : [steps],
        ...(manifest.guidance && guidanceList.trim()
          ? { guidance: parseNumberList(guidanceList, 'Guidance scales') }
          : {}),
      };
      setError(null);
      void startSweep(spec);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  return (
    <details className="panel more" data-testid="sweep.panel">
      <summary>
        Sweep (variants × LoRA scales{manifest.guidance ? ' × guidance scales' : ''} × steps, one
        seed)
      </summary>
      <div className="row">
        {manifest.variants.map((v) => (
          <label key={v.id}>
            <input
              type="checkbox"
              checked={variants.includes(v.id)}
              data-testid={`sweep.variant.${v.id}`}
              onChange={(e) =>
                setChosen(
                  e.target.checked ? [...variants, v.id] : variants.filter((x) => x !== v.id),
                )
              }
            />{' '}
            {v.id}
          </label>
        ))}
      </div>
      <div className="grid2">
        <label className="field">
          <span>LoRA scales</span>
          <input
            type="text"
            value={scales}
            onChange={(e) => setScales(e.target.value)}
            data-testid="sweep.scales"
          />
        </label>
        <label className="field">
          <span>Steps (blank: {steps})</span>
          <input
            type="text"
            value={stepList}
            onChange={(e) => setStepList(e.target.value)}
            data-testid="sweep.steps"
            placeholder={String(steps)}
          />
        </label>
        {manifest.guidance && (
          <label className="field">
            <span>Guidance scales (blank: the run's)</span>
            <input
              type="text"
              value={guidanceList}
              onChange={(e) => setGuidanceList(e.target.value)}
              data-testid="sweep.guidance"
              placeholder="e.g. 1, 4, 7.5"
            />
          </label>
        )}
      </div>
      {error && <p className="manifest-errors">{error}</p>}
      <div className="row">
        <button
          type="button"
          className="primary"
          disabled={!canStart || running}
          onClick={start}
          data-testid="sweep.start"
        >
          Run sweep
        </button>
        <button
          type="button"
          disabled={!running || sweep.status === 'cancelling'}
          onClick={cancelSweep}
          data-testid="sweep.cancel"
        >
          Cancel
        </button>
        {sweep.stuck && sweep.status === 'cancelling' && (
          <button
            type="button"
            className="danger"
            onClick={forceStopSweep}
            data-testid="sweep.force-stop"
          >
            Force stop
          </button>
        )}
        <span className="hint" data-testid="sweep.status">
          {sweep.status === 'running' && `${sweep.rows.length} / ${sweep.total} runs`}
          {sweep.status === 'cancelling' && 'Stopping…'}
          {sweep.status === 'cancelled' &&
            `Cancelled: ${sweep.rows.length} of ${sweep.total} runs kept.`}
          {sweep.status === 'done' && `Done: ${sweep.rows.length} runs, seed ${sweep.seed}.`}
        </span>
      </div>
      {sweep.rows.length > 0 && (
        <>
          <div className="sweep-grid" data-testid="sweep.grid">
            {sweep.rows.map((r) => (
              <div className="sweep-row" key={r.key} data-testid="sweep.row">
                <div className="sweep-label">
                  <strong>{r.variantId}</strong>
                  {r.loraScale !== null && <> @ {r.loraScale}</>}
                  {r.guidanceScale !== null && <> · cfg {r.guidanceScale}</>} · {r.steps} steps
                  <br />
                  <span className="hint">
                    std {r.finalStd.toFixed(3)}
                    {r.psnr !== null &&
                      ` · PSNR ${r.psnr === Infinity ? '∞' : r.psnr.toFixed(2)} dB`}
                    {r.ssim !== null && ` · SSIM ${r.ssim.toFixed(3)}`}
                    {r.lpipsAlex !== null && ` · LPIPS ${r.lpipsAlex.toFixed(3)}`}
                  </span>
                </div>
                {r.frames.map((f) => (
                  <img
                    key={f.url}
                    src={f.url}
                    alt={`${r.variantId} τ ${f.position.toFixed(2)}`}
                    data-testid="sweep.cell"
                  />
                ))}
              </div>
            ))}
          </div>
          {chartRows.length > 1 && (
            <div className="plot" data-testid="sweep.chart">
              <p className="hint">
                {metric === 'psnr' ? 'PSNR (dB) of the τ = 0.5 frame' : 'final latent std'} against
                LoRA scale
              </p>
              <ResponsiveContainer width="100%" height={180}>
                <LineChart
                  data={chartRows.map((r) => ({
                    scale: r.loraScale,
                    value: metric === 'psnr' ? r.psnr : r.finalStd,
                  }))}
                >
                  <CartesianGrid strokeDasharray="3 3" opacity={0.4} />
                  <XAxis dataKey="scale" type="number" domain={['dataMin', 'dataMax']} />
                  <YAxis width={48} tickFormatter={(v: number) => v.toFixed(2)} />
                  <Tooltip />
                  <Line dataKey="value" stroke="#e0662f" isAnimationActive={false} />
                </LineChart>
              </ResponsiveContainer>
            </div>
          )}
          <div className="row">
            <button
              type="button"
              data-testid="sweep.csv"
              onClick={() =>
                downloadBlob(
                  'sweep.csv',
                  new Blob([sweepCsv(sweep.rows, sweep.seed)], { type: 'text/csv' }),
                )
              }
            >
              Export CSV
            </button>
            <button
              type="button"
              data-testid="sweep.png"
              onClick={() =>
                void sweepContactSheet(sweep.rows).then(
                  (b) => downloadBlob('sweep.png', b),
                  (e: unknown) =>
                    say(
                      'error',
                      'sweep',
                      `The contact sheet could not be drawn: ${(e as Error).message}`,
                    ),
                )
              }
            >
              Export contact sheet (PNG)
            </button>
          </div>
        </>
      )}
    </details>
  );
}
