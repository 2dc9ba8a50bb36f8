/**
 * Ground truth and scores: add a ground-truth frame (or drop a triplet), see PSNR / SSIM / LPIPS of
 * every run's τ = 0.5 in-between with the convention stated, a difference heatmap, the LPIPS map and
 * a before/after slider.
 */
import { useRef, useState, type DragEvent } from 'react';
import { HEATMAP_RAMP, METRIC_CONVENTIONS } from '../../core/metrics';
import { useStudio } from '../state/store';
import {
  addTriplet,
  clearGroundTruth,
  loadLpipsFromFiles,
  setGroundTruth,
} from './evaluateActions';

function fmt(n: number | null, digits: number): string {
  if (n === null) return '—';
  if (n === Infinity) return '∞';
  return n.toFixed(digits);
}

const ramp = `linear-gradient(to right, ${HEATMAP_RAMP.map(([r, g, b]) => `rgb(${r},${g},${b})`).join(', ')})`;

function CompareSlider({ resultUrl, gtUrl }: { resultUrl: string; gtUrl: string }) {
  const [split, setSplit] = useState(50);
  return (
    <div className="compare" data-testid="evaluate.compare">
      <div className="compare-frame">
        <img src={gtUrl} alt="Ground truth" />
        <img src={resultUrl} alt="Result" style={{ clipPath: `inset(0 ${100 - split}% 0 0)` }} />
        <div className="compare-line" style={{ left: `${split}%` }} />
      </div>
      <label className="row">
        result
        <input
          type="range"
          min={0}
          max={100}
          value={split}
          aria-label="Compare result and ground truth"
          data-testid="evaluate.compare.slider"
          onChange={(e) => setSplit(Number(e.target.value))}
        />
        ground truth
      </label>
    </div>
  );
}

/** The evaluation panel. */
export function EvaluatePanel() {
  const gt = useStudio((s) => s.evaluate.groundTruth);
  const lpips = useStudio((s) => s.evaluate.lpips);
  const scores = useStudio((s) => s.evaluate.scores);
  const scoring = useStudio((s) => s.evaluate.scoring);
  const result = useStudio((s) => s.run.result);
  const frames = useStudio((s) => s.packs.manifest?.frames);
  // A clip pack whose frames miss τ = 0.5 (an even clip length) is scored by its frame nearest it.
  const nearestClip = frames?.mode === 'clip' && (frames.clipLength - 1) % 2 !== 0;
  const input = useRef<HTMLInputElement>(null);
  const lpipsInput = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);
  const latest = scores[0];
  const latestIsCurrent = latest && result && latest.jobId === result.jobId;

  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setOver(false);
    const files = [...e.dataTransfer.files];
    if (files.length === 3) void addTriplet(files);
    else if (files[0]) void setGroundTruth(files[0]);
  };

  return (
    <section
      className={`panel${over ? ' panel-over' : ''}`}
      aria-labelledby="eval-title"
      data-testid="evaluate.panel"
      onDragOver={(e) => {
        e.preventDefault();
        setOver(true);
      }}
      onDragLeave={() => setOver(false)}
      onDrop={onDrop}
    >
      <h2 id="eval-title">Ground truth and scores</h2>
      <div className="row">
        {gt ? (
          <>
            <img src={gt.url} alt="Ground truth" className="gt-thumb" />
            <span className="hint" data-testid="evaluate.gt.meta">
              {gt.name} · {gt.width}×{gt.height} — compared with the in-between at τ = 0.5
              {nearestClip && ' (this clip pack: its frame nearest 0.5)'}
            </span>
            <button type="button" onClick={clearGroundTruth}>
              Remove
            </button>
          </>
        ) : (
          <>
            <button
              type="button"
              onClick={() => input.current?.click()}
              data-testid="evaluate.gt.pick"
            >
              Add ground truth…
            </button>
            <span className="hint">
              or drop a frame, or a triplet (frame1, frame2, frame3) here
            </span>
          </>
        )}
        <input
          ref={input}
          type="file"
          accept="image/*"
          multiple
          hidden
          data-testid="evaluate.gt.input"
          onChange={(e) => {
            const files = [...(e.target.files ?? [])];
            if (files.length === 3) void addTriplet(files);
            else if (files[0]) void setGroundTruth(files[0]);
            e.target.value = '';
          }}
        />
      </div>
      <p className="hint" data-testid="evaluate.lpips">
        {lpips.state === 'loading' && 'Looking for LPIPS graphs…'}
        {lpips.state === 'ready' && `LPIPS ready (${lpips.available.join(', ')}).`}
        {lpips.state === 'found' &&
          `LPIPS ready (${lpips.available.join(', ')}): its graphs load when a frame is first scored.`}
        {lpips.state === 'unavailable' && (
          <>
            LPIPS is unavailable: build its graphs with{' '}
            <code>/usr/bin/python3 models/training/export_lpips.py</code> (docs/metrics.md), or{' '}
            <button type="button" className="link" onClick={() => lpipsInput.current?.click()}>
              load them from a folder
            </button>
            .{lpips.message && ` (${lpips.message})`}
          </>
        )}
      </p>
      <input
        ref={lpipsInput}
        type="file"
        multiple
        hidden
        data-testid="evaluate.lpips.input"
        onChange={(e) => {
          const files = [...(e.target.files ?? [])].map((f) => ({
            file: f,
            relativePath: f.webkitRelativePath || f.name,
          }));
          void loadLpipsFromFiles(files);
          e.target.value = '';
        }}
      />
      {scoring && <p className="hint">Scoring…</p>}
      {scores.length > 0 && (
        <>
          <table className="cache-table scores" data-testid="evaluate.scores">
            <thead>
              <tr>
                <th>variant</th>
                <th>steps</th>
                <th>seed</th>
                <th title={METRIC_CONVENTIONS.psnr}>PSNR dB</th>
                <th title={METRIC_CONVENTIONS.ssim}>SSIM</th>
                <th title={METRIC_CONVENTIONS.ssimLuma}>SSIM-Y</th>
                <th title={METRIC_CONVENTIONS.lpipsAlex}>LPIPS-Alex</th>
                <th title={METRIC_CONVENTIONS.lpipsSqueeze}>LPIPS-Sq</th>
              </tr>
            </thead>
            <tbody>
              {scores.map((r) => (
                <tr key={r.jobId} data-testid="evaluate.row">
                  <td>
                    {r.variantId}
                    {r.loraScale !== null ? ` @${r.loraScale.toFixed(2)}` : ''}
                  </td>
                  <td>{r.steps}</td>
                  <td>{r.seed}</td>
                  <td data-testid="evaluate.psnr" data-value={String(r.psnr)}>
                    {fmt(r.psnr, 3)}
                  </td>
                  <td data-testid="evaluate.ssim" data-value={String(r.ssim)}>
                    {fmt(r.ssim, 4)}
                  </td>
                  <td data-testid="evaluate.ssim-luma" data-value={String(r.ssimLuma)}>
                    {fmt(r.ssimLuma, 4)}
                  </td>
                  <td data-testid="evaluate.lpips-alex" data-value={String(r.lpipsAlex)}>
                    {fmt(r.lpipsAlex, 4)}
                  </td>
                  <td data-testid="evaluate.lpips-squeeze" data-value={String(r.lpipsSqueeze)}>
                    {fmt(r.lpipsSqueeze, 4)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <ul className="hint conventions" data-testid="evaluate.conventions">
            <li>{METRIC_CONVENTIONS.psnr}</li>
            <li>{METRIC_CONVENTIONS.ssim}</li>
            <li>{METRIC_CONVENTIONS.ssimLuma}</li>
            <li>{METRIC_CONVENTIONS.lpipsAlex}</li>
            <li>Each row: the in-between at τ = 0.5 of that run against the ground truth.</li>
          </ul>
          {latest?.lpipsNote && <p className="hint">{latest.lpipsNote}</p>}
          {latestIsCurrent && gt && (
            <div className="eval-pictures">
              <figure>
                <img
                  src={latest.heatmapUrl}
                  alt="Absolute difference heatmap"
                  data-testid="evaluate.heatmap"
                />
                <figcaption>|result − ground truth|, mean over RGB</figcaption>
              </figure>
              {latest.lpipsMapUrl && (
                <figure>
                  <img
                    src={latest.lpipsMapUrl}
                    alt="LPIPS spatial map"
                    data-testid="evaluate.lpips-map"
                  />
                  <figcaption>LPIPS-Alex spatial distance (0 … 1)</figcaption>
                </figure>
              )}
              <div className="ramp" style={{ background: ramp }} aria-hidden="true" />
              <CompareSlider resultUrl={latest.resultUrl} gtUrl={gt.url} />
            </div>
          )}
        </>
      )}
    </section>
  );
}
