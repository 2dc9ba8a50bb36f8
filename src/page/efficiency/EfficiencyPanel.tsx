/** The efficiency table panel: measure every variant here, export CSV / Markdown. */
import { downloadBlob } from '../common/download';
import { formatBytes } from '../../core/format';
import { selectWorkerJob, useStudio } from '../state/store';
import {
  cancelEfficiency,
  efficiencyCsv,
  efficiencyMarkdown,
  measureEfficiency,
  TABLE_WARMUP_MS,
  timeColumnMeaning,
} from './efficiencyActions';

export function EfficiencyPanel() {
  const rows = useStudio((s) => s.efficiency.rows);
  // The rows' own pack labels them, whichever pack is chosen now.
  const measured = useStudio((s) => s.efficiency.pack);
  const measuring = useStudio((s) => s.efficiency.measuring);
  const busy = useStudio((s) => selectWorkerJob(s) !== null);
  const manifest = useStudio((s) => s.packs.manifest);
  const clipLength = measured?.clipLength ?? null;
  const where = `${measured ? `pack ${measured.id} ${measured.version}, ` : ''}${navigator.hardwareConcurrency} cores, ${navigator.userAgent.match(/Chrome\/[\d.]+/)?.[0] ?? 'browser'}`;
  return (
    <details className="panel more" data-testid="efficiency.panel">
      <summary>Efficiency table</summary>
      <div className="row">
        <button
          type="button"
          data-testid="efficiency.measure"
          disabled={!manifest || busy}
          onClick={() => void measureEfficiency()}
        >
          Measure every variant
        </button>
        {measuring && (
          <>
            <button type="button" data-testid="efficiency.cancel" onClick={cancelEfficiency}>
              Cancel
            </button>
            <span className="hint" data-testid="efficiency.status">
              {measuring}…
            </span>
          </>
        )}
      </div>
      {rows.length > 0 && (
        <>
          <table className="cache-table scores" data-testid="efficiency.table">
            <thead>
              <tr>
                <th>variant</th>
                <th>backend</th>
                <th>denoiser</th>
                <th>session ms</th>
                <th>ms/step</th>
                <th>ms/decode</th>
                <th data-testid="efficiency.timeHeader">
                  {clipLength !== null
                    ? `ms/clip (${clipLength - 2} in-betweens)`
                    : 'ms/in-between'}
                </th>
                <th>WASM heap</th>
                <th>WebGPU peak</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.variantId} data-testid="efficiency.row">
                  <td>
                    {r.variantId} ({r.precision})
                  </td>
                  <td>{r.backend}</td>
                  <td>{formatBytes(r.denoiserBytes)}</td>
                  <td>{r.sessionMs === null ? '—' : r.sessionMs.toFixed(0)}</td>
                  <td>{r.stepMs.toFixed(2)}</td>
                  <td>{r.decodeMs.toFixed(1)}</td>
                  <td>
                    {r.inbetweenMs.toFixed(0)} ({r.steps} steps)
                  </td>
                  <td data-testid="efficiency.wasmHeap">
                    {r.wasmHeapBytes === null ? '—' : formatBytes(r.wasmHeapBytes)}
                  </td>
                  <td data-testid="efficiency.gpuPeak">
                    {r.gpuPeakBytes === null ? '—' : formatBytes(r.gpuPeakBytes)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <p className="hint" data-testid="efficiency.hint">
            Medians after a {TABLE_WARMUP_MS / 1000} s warm-up (the browser optimises the WASM
            runtime while it runs: the first in-betweens after loading are slower) on this machine (
            {where}). {timeColumnMeaning(clipLength)}; it leaves out loading the model, encoding the
            keyframes (and their motion), which a run does once for all its in-betweens, and
            fitting, restoring and writing images, which grow with the keyframes&apos; size. Each
            variant is loaded in a fresh worker: WASM heap is that worker&apos;s WebAssembly memory
            after loading and timing it (it only grows); WebGPU peak is the most GPU buffer bytes
            live at once (— on WASM).
          </p>
          <div className="row">
            <button
              type="button"
              data-testid="efficiency.csv"
              onClick={() =>
                downloadBlob(
                  'efficiency.csv',
                  new Blob([efficiencyCsv(rows, clipLength)], { type: 'text/csv' }),
                )
              }
            >
              Export CSV
            </button>
            <button
              type="button"
              data-testid="efficiency.md"
              onClick={() =>
                downloadBlob(
                  'efficiency.md',
                  new Blob([efficiencyMarkdown(rows, where, clipLength)], {
                    type: 'text/markdown',
                  }),
                )
              }
            >
              Export Markdown
            </button>
          </div>
        </>
      )}
    </details>
  );
}
