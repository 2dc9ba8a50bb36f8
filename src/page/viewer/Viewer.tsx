/**
 * The result: a filmstrip (start, in-betweens, end) and a looping player with play/pause, speed,
 * ping-pong and a scrubber. The previous result stays visible while a new run is in flight.
 */
import { useEffect, useMemo, useState } from 'react';
import { useStudio } from '../state/store';
import { ExportBar } from './ExportBar';
import { exportDrawings, framesFromUrls } from './exportActions';
import { LatentStatsTable } from './LatentStatsTable';
import { judgeTraces } from '../plots/traces';
import { referenceVariant } from '../../core/manifest';
import { SAMPLER_LABELS } from '../../core/samplers';

interface Cell {
  url: string;
  label: string;
  kind: 'key' | 'inbetween';
}

/** The viewer panel. */
export function Viewer() {
  const result = useStudio((s) => s.run.result);
  const start = useStudio((s) => s.keyframes.start);
  const end = useStudio((s) => s.keyframes.end);
  const cells = useMemo<Cell[]>(() => {
    if (!result) return [];
    // The loaded keyframes frame the in-betweens only when the run was made from them: after other
    // keys are loaded, or for a run reopened from the history without its keys, its in-betweens
    // show alone.
    const own = result.keys;
    const showStart = start && own?.start === start.id;
    const showEnd = end && own?.end === end.id;
    return [
      ...(showStart ? [{ url: start.url, label: 'start', kind: 'key' as const }] : []),
      ...result.frames.map((f) => ({
        url: f.url,
        label: `τ ${f.position.toFixed(2)}`,
        kind: 'inbetween' as const,
      })),
      ...(showEnd ? [{ url: end.url, label: 'end', kind: 'key' as const }] : []),
    ];
  }, [result, start, end]);

  if (!result) {
    return (
      <section className="panel viewer empty" aria-label="Result">
        <p>
          Add two keyframes, choose a model and press <strong>Run</strong>. The in-betweens appear
          here.
        </p>
      </section>
    );
  }
  return (
    <section className="panel viewer" aria-label="Result">
      <Player cells={cells} />
      <ol className="filmstrip" data-testid="viewer.filmstrip">
        {cells.map((c, i) => (
          <li key={`${c.url}-${i}`} className={c.kind}>
            <img
              src={c.url}
              alt={c.label}
              data-testid={c.kind === 'inbetween' ? 'viewer.frame' : 'viewer.keyframe'}
            />
            <span>{c.label}</span>
            {c.kind === 'inbetween' && (
              <a
                href={c.url}
                download={`inbetween_${String(i).padStart(2, '0')}.png`}
                className="dl"
              >
                PNG
              </a>
            )}
          </li>
        ))}
      </ol>
      <p className="hint" data-testid="viewer.summary">
        {result.variantId} · {result.stepsRequested} steps
        {result.sampler !== 'ddim' ? ` of ${SAMPLER_LABELS[result.sampler]}` : ''} · seed{' '}
        {result.seed}
        {result.loraScale !== null ? ` · LoRA ${result.loraScale.toFixed(2)}` : ''}
        {result.clip?.controls.guidanceScale != null
          ? ` · guidance ${result.clip.controls.guidanceScale.toFixed(1)}`
          : ''}
        {result.clip?.controls.promptText ? ` · prompt “${result.clip.controls.promptText}”` : ''} ·{' '}
        {result.backend.toUpperCase()}
        {result.timings.latentsOnDevice ? ' (latents kept on the GPU)' : ''} ·{' '}
        {(result.timings.denoiseMs / Math.max(1, result.timings.denoiserCallMs.length)).toFixed(1)}{' '}
        ms per denoiser call · {(result.timings.totalMs / result.frames.length).toFixed(0)} ms per
        in-between
      </p>
      <CollapseWarning jobId={result.jobId} />
      <LatentStatsTable
        stepStats={result.stepStats}
        positions={result.frames.map((f) => f.position)}
      />
    </section>
  );
}

function Player({ cells }: { cells: Cell[] }) {
  const [playing, setPlaying] = useState(true);
  const [fps, setFps] = useState(6);
  const [pingPong, setPingPong] = useState(false);
  const [index, setIndex] = useState(0);
  const sequence = useMemo(() => {
    const forward = cells.map((_, i) => i);
    return pingPong ? [...forward, ...forward.slice(1, -1).reverse()] : forward;
  }, [cells, pingPong]);
  useEffect(() => {
    if (!playing || sequence.length < 2) return;
    const id = setInterval(() => setIndex((i) => (i + 1) % sequence.length), 1000 / fps);
    return () => clearInterval(id);
  }, [playing, fps, sequence.length]);
  const current = cells[sequence[index % sequence.length] ?? 0];
  if (!current) return null;
  return (
    <div className="player" data-testid="viewer.player">
      <img src={current.url} alt={`Playing ${current.label}`} />
      <div className="row">
        <button type="button" onClick={() => setPlaying((p) => !p)} data-testid="viewer.play">
          {playing ? 'Pause' : 'Play'}
        </button>
        <input
          type="range"
          min={0}
          max={sequence.length - 1}
          value={index % sequence.length}
          aria-label="Frame"
          onChange={(e) => {
            setPlaying(false);
            setIndex(Number(e.target.value));
          }}
        />
        <span className="label">{current.label}</span>
        <label>
          {fps} fps
          <input
            type="range"
            min={1}
            max={24}
            value={fps}
            onChange={(e) => setFps(Number(e.target.value))}
            aria-label="Frames per second"
          />
        </label>
        <label>
          <input
            type="checkbox"
            checked={pingPong}
            onChange={(e) => setPingPong(e.target.checked)}
          />{' '}
          ping-pong
        </label>
      </div>
      <ExportBar
        label="Export"
        scope="export"
        testPrefix="viewer"
        save={async (format, onProgress, isCancelled) => {
          // What the player plays: every cell once, at its speed, looping or ping-pong.
          const images = await framesFromUrls(cells.map((c) => c.url));
          return exportDrawings(
            format,
            images.map((image) => ({ image, hold: 1 })),
            {
              fps,
              mode: pingPong ? 'pingpong' : 'loop',
              name: 'inbetweens',
              onProgress,
              isCancelled,
            },
          );
        }}
      />
    </div>
  );
}

/** The collapse warning for the shown run, next to its frames. */
function CollapseWarning({ jobId }: { jobId: number }) {
  const traces = useStudio((s) => s.run.traces);
  const baselineVariant = useStudio((s) =>
    s.packs.manifest ? referenceVariant(s.packs.manifest).id : null,
  );
  const verdict = useMemo(
    () => judgeTraces(traces, baselineVariant).get(jobId),
    [traces, baselineVariant, jobId],
  );
  if (!verdict?.collapsed) return null;
  return (
    <p className="badge badge-warn" data-testid="viewer.collapse">
      ⚠ {verdict.message}
    </p>
  );
}
