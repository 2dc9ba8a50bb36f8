/** Run history: every run kept in IndexedDB, reopened, compared (two at a time) or deleted. */
import { useState } from 'react';
import { formatBytes } from '../../core/format';
import { selectIsBusy, useStudio } from '../state/store';
import { compareRuns, removeAllRuns, removeRun, reopenRun } from './historyActions';
import { MAX_BYTES, MAX_RUNS } from './historyStore';

export function HistoryPanel() {
  const entries = useStudio((s) => s.history.entries);
  const compare = useStudio((s) => s.history.compare);
  const busy = useStudio(selectIsBusy);
  const [picked, setPicked] = useState<string[]>([]);
  const total = entries.reduce((n, e) => n + e.sizeBytes, 0);
  const toggle = (id: string) =>
    setPicked((p) => (p.includes(id) ? p.filter((x) => x !== id) : [...p, id].slice(-2)));
  return (
    <details className="panel more" data-testid="history.panel">
      <summary>
        Run history — {entries.length} run{entries.length === 1 ? '' : 's'}, {formatBytes(total)}
      </summary>
      {entries.length === 0 ? (
        <p className="hint">Finished runs are kept here across reloads.</p>
      ) : (
        <table className="cache-table">
          <tbody>
            {entries.map((e) => (
              <tr key={e.id} data-testid="history.row">
                <td>
                  <input
                    type="checkbox"
                    aria-label="Pick for comparison"
                    checked={picked.includes(e.id)}
                    onChange={() => toggle(e.id)}
                  />
                </td>
                <td title={`keyframes ${e.keyframes}`}>
                  {new Date(e.createdAt).toLocaleTimeString()} · {e.variantId}
                  {e.loraScale !== null ? ` @${e.loraScale.toFixed(2)}` : ''} · {e.steps} steps ·
                  seed {e.seed}
                  {e.psnr !== null
                    ? ` · PSNR ${e.psnr === Infinity ? '∞' : e.psnr.toFixed(2)}`
                    : ''}
                </td>
                <td>
                  <button
                    type="button"
                    data-testid="history.open"
                    disabled={busy}
                    onClick={() => void reopenRun(e.id)}
                  >
                    Open
                  </button>
                  <button
                    type="button"
                    data-testid="history.delete"
                    onClick={() => void removeRun(e.id)}
                  >
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="row">
        <button
          type="button"
          disabled={picked.length !== 2}
          data-testid="history.compare"
          onClick={() => void compareRuns(picked)}
        >
          Compare the two picked
        </button>
        <button type="button" disabled={entries.length === 0} onClick={() => void removeAllRuns()}>
          Delete all
        </button>
      </div>
      {compare && (
        <div className="sweep-grid" data-testid="history.comparison">
          {compare.map((frames, i) => (
            <div className="sweep-row" key={i}>
              <div className="sweep-label">{i === 0 ? 'first' : 'second'}</div>
              {frames.map((f) => (
                <img key={f.url} src={f.url} alt={`τ ${f.position.toFixed(2)}`} />
              ))}
            </div>
          ))}
        </div>
      )}
      <p className="hint">
        Keeps the newest {MAX_RUNS} runs up to {formatBytes(MAX_BYTES)}; older ones are removed with
        a note.
      </p>
    </details>
  );
}
