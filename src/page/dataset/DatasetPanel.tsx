/**
 * Evaluate dataset: pick or drop a folder of triplets (ATD-12K layout) or frame sequences, choose
 * the protocol and plan, run it in the workers with progress and ETA, pause / cancel / resume
 * (after a reload too: pick the folder again), and read the aggregate table with intervals and
 * paired differences, a sortable per-item table and the worst items — exported in the CLI's four
 * formats. docs/evaluation.md describes it with the CLI.
 */
import { useEffect, useMemo, useRef, useState, type DragEvent } from 'react';
import {
  cell,
  METRIC_LABEL,
  pairedCell,
  REPORT_FORMATS,
  rowN,
} from '../../core/evaluation/datasetReport';
import { PROTOCOLS, type ProtocolId, type ResultLine } from '../../core/evaluation/datasetRun';
import { FIT_CHOICES, type FitChoice } from '../../core/image';
import { scoreFrame } from '../clients/metricsClient';
import { filesFromDrop } from '../packs/packActions';
import { parseNumberList } from '../sweep/sweepActions';
import { say, selectWorkerJob, useStudio } from '../state/store';
import {
  cancelDatasetEval,
  forceStopDatasetEval,
  datasetFile,
  describeFolder,
  exportEvalLines,
  exportEvalReport,
  openEvalRun,
  pauseDatasetEval,
  pickDatasetDirectory,
  refreshRuns,
  removeEvalRun,
  resumeDatasetEval,
  setDatasetFiles,
  setEvalReference,
  startDatasetEval,
  worstFrames,
  worstItems,
} from './datasetActions';
import { EVERY_HINT, sequenceModeOf } from './sequenceField';

const fmt = (v: number | null | undefined, m: string) =>
  v === null || v === undefined ? '—' : v === Infinity ? '∞' : v.toFixed(m === 'psnr' ? 2 : 4);

function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function DatasetPanel() {
  const manifest = useStudio((s) => s.packs.manifest);
  const st = useStudio((s) => s.datasetEval);
  const busyElsewhere = useStudio((s) => {
    const job = selectWorkerJob(s);
    return job !== null && job !== 'dataset';
  });
  const input = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const [protocol, setProtocol] = useState<ProtocolId>('studio');
  const [fit, setFit] = useState<FitChoice>('letterbox');
  const [split, setSplit] = useState<string>('');
  const [every, setEvery] = useState<string>('');
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [scales, setScales] = useState('');
  const [guidance, setGuidance] = useState('');
  const [steps, setSteps] = useState('');
  const [seeds, setSeeds] = useState('1');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    void refreshRuns();
  }, []);

  if (!manifest) return null;
  const running = st.status !== 'idle';
  const variants = chosen ?? manifest.variants.map((v) => v.id);
  // Null while "keyframes every" is not a whole number ≥ 2: the hint beside it says so, and no
  // folder is described (describeDataset would throw).
  const sequence = sequenceModeOf(every);

  const redescribe = (next: { split?: string; every?: string }) => {
    const mode = sequenceModeOf(next.every ?? every);
    if (!mode) return;
    describeFolder(undefined, { split: (next.split ?? split) || null, sequence: mode });
  };

  /** How a picked or dropped folder is described; null, with a word, while the plan cannot say. */
  const folderOptions = () => {
    if (sequence) return { split: split || null, sequence };
    say('error', 'dataset', `The folder was not read: keyframes every needs ${EVERY_HINT}.`);
    return null;
  };

  const start = () => {
    try {
      if (!sequence) throw new Error(`Keyframes every: ${EVERY_HINT}`);
      const opts = {
        protocol,
        fit,
        split: split || null,
        sequence,
        variants,
        ...(scales.trim() ? { loraScales: parseNumberList(scales, 'LoRA scales') } : {}),
        ...(guidance.trim() ? { guidance: parseNumberList(guidance, 'Guidance scales') } : {}),
        ...(steps.trim() ? { steps: parseNumberList(steps, 'Steps') } : {}),
        seeds: parseNumberList(seeds, 'Seeds'),
      };
      if (variants.length === 0) throw new Error('Choose at least one variant');
      setError(null);
      void startDatasetEval(opts);
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const onDrop = async (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    if (running) return;
    const opts = folderOptions();
    if (!opts) return;
    let files;
    try {
      // Called before any await: the drop's DataTransfer is emptied once the event is handled.
      files = await filesFromDrop(e.dataTransfer);
    } catch (err) {
      say('error', 'dataset', `The dropped files cannot be read: ${(err as Error).message}`);
      return;
    }
    setDatasetFiles(files, opts);
  };

  const p = st.progress;
  return (
    <section
      className={`panel${over ? ' panel-over' : ''}`}
      aria-labelledby="dataset-title"
      data-testid="dataset.panel"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => void onDrop(e)}
    >
      <h2 id="dataset-title">Evaluate dataset</h2>
      <p className="hint">
        Score the pack on a folder of triplets (<code>clip/frame1, frame2, frame3</code>, ATD-12K’s
        layout) or of consecutive frames, under a stated protocol, with anchors beside it. The
        frames stay in this browser; results are kept here and survive a reload.
      </p>
      <div className="row">
        <button
          type="button"
          disabled={running}
          data-testid="dataset.choose"
          onClick={() => {
            const opts = folderOptions();
            if (!opts) return;
            void pickDatasetDirectory(opts).then(
              (picked) => picked || input.current?.click(),
              (e: unknown) => setError(`The folder cannot be opened: ${(e as Error).message}`),
            );
          }}
        >
          Choose dataset folder…
        </button>
        <input
          ref={input}
          type="file"
          hidden
          multiple
          data-testid="dataset.folder-input"
          {...{ webkitdirectory: '', directory: '' }}
          onChange={(e) => {
            const files = [...(e.target.files ?? [])].map((file) => ({
              file,
              relativePath: file.webkitRelativePath || file.name,
            }));
            const opts = files.length ? folderOptions() : null;
            if (opts) setDatasetFiles(files, opts);
            e.target.value = '';
          }}
        />
        <span className="hint">or drop the folder on this panel</span>
      </div>
      {st.folder && (
        <div data-testid="dataset.folder">
          <p>
            <strong>{st.folder.label}</strong>: {st.folder.items} items ({st.folder.layout}) from{' '}
            {st.folder.files} files
            {st.folder.categories.length > 0 && (
              <> · categories {st.folder.categories.join(', ')}</>
            )}
            {st.folder.problems.length > 0 && (
              <>
                {' '}
                · {st.folder.problems.length}{' '}
                {st.folder.problems.length === 1 ? 'folder gives' : 'folders give'} no item
              </>
            )}
          </p>
          {st.folder.problems.length > 0 && (
            <details data-testid="dataset.folder-problems">
              <summary>Folders that give no item</summary>
              <ul>
                {st.folder.problems.slice(0, 50).map((pr) => (
                  <li key={pr.id}>
                    <code>{pr.id}</code> {pr.message}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </div>
      )}

      <fieldset disabled={running} className="dataset-plan">
        <legend>Plan</legend>
        <label className="row">
          Protocol
          <select
            value={protocol}
            data-testid="dataset.protocol"
            onChange={(e) => setProtocol(e.target.value as ProtocolId)}
          >
            <option value="studio">studio</option>
            <option value="kdq">ToonCrafter-KDQ</option>
          </select>
        </label>
        <p className="hint" data-testid="dataset.protocol-definition">
          {PROTOCOLS[protocol].definition}
        </p>
        {st.folder && st.folder.splits.length > 1 && (
          <label className="row">
            Split
            <select
              value={split}
              data-testid="dataset.split"
              onChange={(e) => {
                setSplit(e.target.value);
                redescribe({ split: e.target.value });
              }}
            >
              <option value="">all</option>
              {st.folder.splits.map((x) => (
                <option key={x} value={x}>
                  {x}
                </option>
              ))}
            </select>
          </label>
        )}
        <label className="row">
          Sequences: keyframes every
          <input
            type="number"
            min={2}
            placeholder="triplets"
            value={every}
            aria-invalid={sequence === null}
            data-testid="dataset.every"
            onChange={(e) => {
              setEvery(e.target.value);
              redescribe({ every: e.target.value });
            }}
          />
          frames
          {!sequence && (
            <span className="hint warn" data-testid="dataset.every-hint">
              {EVERY_HINT}
            </span>
          )}
        </label>
        <label className="row">
          Fit
          <select
            value={fit}
            data-testid="dataset.fit"
            onChange={(e) => setFit(e.target.value as FitChoice)}
          >
            {FIT_CHOICES.map((f) => (
              <option key={f} value={f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <div className="row" role="group" aria-label="Variants">
          Variants
          {manifest.variants.map((v) => (
            <label key={v.id}>
              <input
                type="checkbox"
                checked={variants.includes(v.id)}
                data-testid={`dataset.variant.${v.id}`}
                onChange={(e) =>
                  setChosen(
                    e.target.checked
                      ? manifest.variants
                          .map((x) => x.id)
                          .filter((x) => x === v.id || variants.includes(x))
                      : variants.filter((x) => x !== v.id),
                  )
                }
              />
              {v.id}
            </label>
          ))}
        </div>
        <label className="row">
          LoRA scales
          <input
            value={scales}
            placeholder="each variant's default"
            data-testid="dataset.lora-scales"
            onChange={(e) => setScales(e.target.value)}
          />
        </label>
        {manifest.guidance && (
          <label className="row">
            Guidance scales
            <input
              value={guidance}
              placeholder={String(manifest.guidance.scale.default)}
              data-testid="dataset.guidance"
              onChange={(e) => setGuidance(e.target.value)}
            />
          </label>
        )}
        <label className="row">
          Steps
          <input
            value={steps}
            placeholder="each variant's recommended"
            data-testid="dataset.steps"
            onChange={(e) => setSteps(e.target.value)}
          />
        </label>
        <label className="row">
          Seeds
          <input
            value={seeds}
            data-testid="dataset.seeds"
            onChange={(e) => setSeeds(e.target.value)}
          />
        </label>
      </fieldset>
      {error && (
        <p className="error" role="alert" data-testid="dataset.error">
          {error}
        </p>
      )}
      <div className="row">
        <button
          type="button"
          disabled={running || busyElsewhere || !st.folder || st.folder.items === 0}
          data-testid="dataset.start"
          onClick={start}
        >
          Evaluate
        </button>
        <button
          type="button"
          disabled={st.status !== 'running'}
          data-testid="dataset.pause"
          onClick={pauseDatasetEval}
        >
          Pause
        </button>
        <button
          type="button"
          disabled={st.status === 'idle' || st.status === 'cancelling'}
          data-testid="dataset.cancel"
          onClick={cancelDatasetEval}
        >
          Cancel
        </button>
        {st.stuck && st.status === 'cancelling' && (
          <button
            type="button"
            className="danger"
            data-testid="dataset.force-stop"
            onClick={forceStopDatasetEval}
          >
            Force stop
          </button>
        )}
      </div>
      {p && (
        <div data-testid="dataset.progress" data-done={p.done} data-total={p.total}>
          <progress max={p.total} value={p.done} />{' '}
          <span>
            {p.done} of {p.total} results
            {p.itemsPerMinute !== null && <> · {p.itemsPerMinute.toFixed(1)} items/min</>}
            {running && p.etaSeconds !== null && <> · about {duration(p.etaSeconds)} left</>}
            {running && p.current && <> · {p.current}</>}
            {st.status === 'pausing' && <> · pausing after this item</>}
            {st.status === 'cancelling' && <> · cancelling</>}
          </span>
        </div>
      )}

      <StoredRuns running={running} busyElsewhere={busyElsewhere} />
      <Report />
    </section>
  );
}

function StoredRuns({ running, busyElsewhere }: { running: boolean; busyElsewhere: boolean }) {
  const runs = useStudio((s) => s.datasetEval.runs);
  const openRunId = useStudio((s) => s.datasetEval.openRunId);
  if (runs.length === 0) return null;
  return (
    <details open data-testid="dataset.runs">
      <summary>Evaluations kept in this browser ({runs.length})</summary>
      <table className="table">
        <thead>
          <tr>
            <th>started</th>
            <th>pack</th>
            <th>dataset</th>
            <th>protocol</th>
            <th>state</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {runs.map((r) => (
            <tr
              key={r.id}
              data-testid="dataset.run"
              data-state={r.state}
              className={r.id === openRunId ? 'selected' : undefined}
            >
              <td>{new Date(r.createdAt).toLocaleString()}</td>
              <td>{r.info.pack.id}</td>
              <td>
                {r.datasetLabel} ({r.info.items.length} items)
              </td>
              <td>{PROTOCOLS[r.info.protocol].label}</td>
              <td>{r.state === 'running' && !running ? 'interrupted' : r.state}</td>
              <td className="row">
                <button
                  type="button"
                  data-testid="dataset.run.open"
                  onClick={() => void openEvalRun(r.id)}
                >
                  Show
                </button>
                {r.state !== 'done' && (
                  <button
                    type="button"
                    disabled={running || busyElsewhere}
                    data-testid="dataset.run.resume"
                    title={`Resume: needs the pack ${r.info.pack.id} and the folder ${r.datasetLabel} picked above`}
                    onClick={() => void resumeDatasetEval(r.id)}
                  >
                    Resume
                  </button>
                )}
                <button
                  type="button"
                  disabled={running && r.id === openRunId}
                  data-testid="dataset.run.delete"
                  onClick={() => void removeEvalRun(r.id)}
                >
                  Delete
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

function Report() {
  const report = useStudio((s) => s.datasetEval.report);
  const reference = useStudio((s) => s.datasetEval.reference);
  const problems = useStudio((s) => s.datasetEval.problems);
  if (!report) return null;
  const label = (m: string) => METRIC_LABEL[m] ?? m;
  return (
    <div data-testid="dataset.report">
      <h3>
        {report.protocol} protocol · {report.items} items
      </h3>
      <p className="hint" data-testid="dataset.report.definition">
        {report.definition}
      </p>
      <table className="table" data-testid="dataset.aggregate">
        <thead>
          <tr>
            <th>configuration</th>
            <th>n</th>
            {report.metrics.map((m) => (
              <th key={m}>{label(m)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {[...report.rows, ...report.categoryRows].map((r) => (
            <tr
              key={`${r.config}|${r.category ?? ''}`}
              data-testid="dataset.aggregate.row"
              data-config={r.config}
              data-category={r.category ?? ''}
            >
              <td>
                {r.config}
                {r.category ? ` · ${r.category}` : ''}
              </td>
              <td>{rowN(r.metrics, report.metrics)}</td>
              {report.metrics.map((m) => (
                <td key={m} data-metric={m} data-value={r.metrics[m]!.mean ?? ''}>
                  {cell(r.metrics[m]!, m, rowN(r.metrics, report.metrics))}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <label className="row">
        Paired differences against
        <select
          value={reference ?? ''}
          data-testid="dataset.reference"
          onChange={(e) => setEvalReference(e.target.value)}
        >
          {[...report.rows.map((r) => r.config)].map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </label>
      <table className="table" data-testid="dataset.paired">
        <thead>
          <tr>
            <th>configuration − reference</th>
            {report.metrics.map((m) => (
              <th key={m}>Δ {label(m)}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {report.paired.map((r) => (
            <tr key={r.config} data-testid="dataset.paired.row" data-config={r.config}>
              <td>{r.config}</td>
              {report.metrics.map((m) => (
                <td key={m}>{pairedCell(r.metrics[m]!, m, rowN(r.metrics, report.metrics))}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      <div className="row">
        Export
        {REPORT_FORMATS.map((f) => (
          <button
            key={f}
            type="button"
            data-testid={`dataset.export.${f}`}
            onClick={() => exportEvalReport(f)}
          >
            {f === 'md' ? 'Markdown' : f === 'tex' ? 'LaTeX' : f.toUpperCase()}
          </button>
        ))}
        <button type="button" data-testid="dataset.export.jsonl" onClick={exportEvalLines}>
          results.jsonl + run.json
        </button>
      </div>
      {problems.length > 0 && (
        <details data-testid="dataset.problems">
          <summary>{problems.length} items could not be read</summary>
          <ul>
            {problems.map((pr) => (
              <li key={pr.item}>
                <code>{pr.item}</code>: {pr.message}
              </li>
            ))}
          </ul>
        </details>
      )}
      <ItemTable metrics={report.metrics} />
      <WorstGallery />
    </div>
  );
}

/** The per-item table of one configuration, sortable by any metric. */
function ItemTable({ metrics }: { metrics: string[] }) {
  const lines = useStudio((s) => s.datasetEval.lines);
  const reference = useStudio((s) => s.datasetEval.reference);
  const configs = useMemo(() => [...new Set(lines.map((l) => l.config))], [lines]);
  const [config, setConfig] = useState<string | null>(null);
  const [sort, setSort] = useState<{ metric: string; dir: 1 | -1 }>({ metric: 'psnr', dir: 1 });
  const [limit, setLimit] = useState(50);
  const shown = config && configs.includes(config) ? config : (reference ?? configs[0] ?? '');
  const rows = useMemo(() => {
    const value = (l: ResultLine) => {
      const v = l.metrics[sort.metric];
      return v === null || v === undefined ? Number.NaN : v;
    };
    return lines
      .filter((l) => l.config === shown)
      .sort((a, b) => {
        const x = value(a);
        const y = value(b);
        if (Number.isNaN(x)) return 1;
        if (Number.isNaN(y)) return -1;
        return (x - y) * sort.dir || (a.item < b.item ? -1 : 1);
      });
  }, [lines, shown, sort]);
  return (
    <details data-testid="dataset.items">
      <summary>Items ({rows.length})</summary>
      <label className="row">
        Configuration
        <select
          value={shown}
          data-testid="dataset.items.config"
          onChange={(e) => setConfig(e.target.value)}
        >
          {configs.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </label>
      <table className="table">
        <thead>
          <tr>
            <th>ground truth</th>
            <th>item</th>
            {metrics.map((m) => (
              <th key={m}>
                <button
                  type="button"
                  className="link"
                  data-testid={`dataset.items.sort.${m}`}
                  onClick={() =>
                    setSort((s) => ({ metric: m, dir: s.metric === m ? (-s.dir as 1 | -1) : 1 }))
                  }
                >
                  {METRIC_LABEL[m] ?? m}
                  {sort.metric === m ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}
                </button>
              </th>
            ))}
            <th>ms</th>
          </tr>
        </thead>
        <tbody>
          {rows.slice(0, limit).map((l) => (
            <tr key={l.item} data-testid="dataset.item" data-item={l.item}>
              <td>
                <Thumb item={l.item} />
              </td>
              <td>
                <code>{l.item}</code>
                {l.picked ? <div className="hint">{l.picked}</div> : null}
              </td>
              {metrics.map((m) => (
                <td key={m} data-metric={m} data-value={l.metrics[m] ?? ''}>
                  {fmt(l.metrics[m], m)}
                </td>
              ))}
              <td>{l.ms ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rows.length > limit && (
        <button type="button" onClick={() => setLimit(limit + 200)}>
          Show more ({rows.length - limit} left)
        </button>
      )}
    </details>
  );
}

/** The item's (first) ground-truth frame from the picked folder, when it is picked. */
function Thumb({ item }: { item: string }) {
  const url = useMemo(() => {
    const base = item.includes('#') ? null : item;
    const file = base
      ? (['png', 'jpg', 'jpeg', 'webp', 'bmp']
          .map((ext) => datasetFile(`${base}/frame2.${ext}`))
          .find(Boolean) ?? null)
      : null;
    return file ? URL.createObjectURL(file) : null;
  }, [item]);
  useEffect(() => () => void (url && URL.revokeObjectURL(url)), [url]);
  return url ? <img className="dataset-thumb" src={url} alt="" /> : <span className="hint">—</span>;
}

/** The worst items of a configuration by PSNR, with their frames, a compare slider and heatmaps. */
function WorstGallery() {
  const lines = useStudio((s) => s.datasetEval.lines);
  const runId = useStudio((s) => s.datasetEval.openRunId);
  const reference = useStudio((s) => s.datasetEval.reference);
  const configs = useMemo(() => [...new Set(lines.map((l) => l.config))], [lines]);
  const [config, setConfig] = useState<string | null>(null);
  const shown = config && configs.includes(config) ? config : (reference ?? configs[0] ?? '');
  const items = useMemo(() => worstItems(lines, shown), [lines, shown]);
  if (!runId || items.length === 0) return null;
  return (
    <details open data-testid="dataset.worst">
      <summary>Worst items by PSNR</summary>
      <label className="row">
        Configuration
        <select
          value={shown}
          data-testid="dataset.worst.config"
          onChange={(e) => setConfig(e.target.value)}
        >
          {configs.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      </label>
      <div className="dataset-gallery">
        {items.map((item) => (
          <WorstCard
            key={`${shown}|${item}`}
            runId={runId}
            item={item}
            config={shown}
            line={lines.find((l) => l.item === item && l.config === shown)!}
          />
        ))}
      </div>
    </details>
  );
}

function WorstCard(props: { runId: string; item: string; config: string; line: ResultLine }) {
  const [urls, setUrls] = useState<{ truth: string; prediction: string } | null | 'none'>(null);
  const [maps, setMaps] = useState<{ heatmap: string; lpips: string | null } | null>(null);
  const [split, setSplit] = useState(50);
  const [blobs, setBlobs] = useState<{ truth: Blob; prediction: Blob } | null>(null);
  const [scoring, setScoring] = useState(false);
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    let made: string[] = [];
    void worstFrames(props.runId, props.item, props.config).then(
      (f) => {
        if (!alive) return;
        if (!f) return setUrls('none');
        made = [URL.createObjectURL(f.truth), URL.createObjectURL(f.prediction)];
        setBlobs(f);
        setUrls({ truth: made[0]!, prediction: made[1]! });
      },
      (e: unknown) => {
        if (alive) setFailure(`The stored frames cannot be read: ${(e as Error).message}`);
      },
    );
    return () => {
      alive = false;
      made.forEach((u) => URL.revokeObjectURL(u));
    };
  }, [props.runId, props.item, props.config]);
  useEffect(
    () => () => {
      if (maps) {
        URL.revokeObjectURL(maps.heatmap);
        if (maps.lpips) URL.revokeObjectURL(maps.lpips);
      }
    },
    [maps],
  );
  const psnr = props.line.metrics['psnr'];
  return (
    <figure className="dataset-card" data-testid="dataset.worst.card" data-item={props.item}>
      <figcaption>
        <code>{props.item}</code> · PSNR {fmt(psnr, 'psnr')} dB
      </figcaption>
      {failure && (
        <p className="error" role="alert" data-testid="dataset.worst.error">
          {failure}
        </p>
      )}
      {urls === 'none' && <p className="hint">Frames not kept for this item.</p>}
      {urls && urls !== 'none' && (
        <>
          <div className="compare-frame">
            <img src={urls.truth} alt="Ground truth" />
            <img
              src={urls.prediction}
              alt="Prediction"
              style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }}
            />
            <div className="compare-line" style={{ left: `${split}%` }} />
          </div>
          <input
            type="range"
            min={0}
            max={100}
            value={split}
            aria-label="Compare prediction and ground truth"
            data-testid="dataset.worst.slider"
            onChange={(e) => setSplit(Number(e.target.value))}
          />
          {maps ? (
            <div className="row">
              <img
                src={maps.heatmap}
                alt="Difference heatmap"
                data-testid="dataset.worst.heatmap"
              />
              {maps.lpips && <img src={maps.lpips} alt="LPIPS map" />}
            </div>
          ) : (
            <button
              type="button"
              disabled={scoring}
              data-testid="dataset.worst.heatmaps"
              onClick={() => {
                if (!blobs) return;
                setScoring(true);
                setFailure(null);
                void scoreFrame({ result: blobs.prediction, groundTruth: blobs.truth })
                  .then(
                    (s) =>
                      setMaps({
                        heatmap: URL.createObjectURL(s.heatmap),
                        lpips: s.lpipsMap ? URL.createObjectURL(s.lpipsMap) : null,
                      }),
                    (e: unknown) =>
                      setFailure(`The heatmaps could not be made: ${(e as Error).message}`),
                  )
                  .finally(() => setScoring(false));
              }}
            >
              {scoring ? 'Heatmaps…' : 'Heatmaps'}
            </button>
          )}
        </>
      )}
    </figure>
  );
}
