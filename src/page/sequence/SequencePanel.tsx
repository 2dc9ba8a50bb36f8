/**
 * The Scene panel, for animators: a row of keys (drop, pick or a numbered sequence; drag to
 * reorder), each gap's number of in-betweens, timing (with a small timing chart), exposure and
 * seed; Run all; a viewer with a timeline strip, keyboard stepping, onion skin, flipping and
 * re-roll; exports of the whole scene and the project file.
 */
import { useEffect, useMemo, useRef, useState } from 'react';
import {
  EXPOSURES,
  TIMING_LABELS,
  TIMING_PRESETS,
  type Exposure,
  type TimingPreset,
} from '../../core/sequence/timing';
import { playOrder } from '../../core/sequence/sequence';
import { selectWorkerJob, useStudio } from '../state/store';
import { NumberField } from '../common/NumberField';
import { ExportBar } from '../viewer/ExportBar';
import {
  addSceneKeys,
  cancelScene,
  forceStopScene,
  EXPOSURE_LABELS,
  exportProject,
  exportScene,
  gapIsStale,
  gapPositionsOf,
  importProject,
  moveSceneKey,
  removeSceneKey,
  rerollFrame,
  runScene,
  sceneCells,
  sceneGaps,
  sceneSettingsKey,
  setGapSpec,
  setSceneDefaults,
  setSceneOptions,
  settleReroll,
  type SceneGap,
} from './sequenceActions';
import type { GapSpec } from './sequenceSlice';

export function SequencePanel() {
  const sc = useStudio((s) => s.scene);
  const gaps = useMemo(() => sceneGaps(sc), [sc]);
  // What a gap's frames depend on outside the scene: a change shows the gaps to make again.
  useStudio(sceneSettingsKey);
  // Another job (a run, a sweep…) holds the workers: Run all waits for it.
  const otherJob = useStudio((s) => !s.scene.running && selectWorkerJob(s) !== null);
  return (
    <section className="panel scene" aria-label="Scene" data-testid="scene">
      <h2>Scene</h2>
      <p className="hint">
        A row of key drawings; each gap gets its own in-betweens and timing. Keys appear once,
        exactly as drawn.
      </p>
      <KeyStrip />
      {sc.keys.length >= 2 && (
        <>
          <Defaults spec={sc.defaults} />
          <ol className="gaps" data-testid="scene.gaps">
            {gaps.map((g) => (
              <GapRow key={g.key} gap={g} />
            ))}
          </ol>
          <div className="row">
            {sc.running ? (
              <>
                <button
                  type="button"
                  onClick={cancelScene}
                  disabled={sc.stopping}
                  data-testid="scene.cancel"
                >
                  {sc.stopping ? 'Stopping…' : 'Cancel'}
                </button>
                {sc.stuck && (
                  <button
                    type="button"
                    className="danger"
                    onClick={forceStopScene}
                    data-testid="scene.force-stop"
                  >
                    Force stop
                  </button>
                )}
              </>
            ) : (
              <button
                type="button"
                className="primary"
                disabled={otherJob}
                title={otherJob ? 'Another job is using the model: wait for it.' : undefined}
                onClick={() => void runScene()}
                data-testid="scene.runAll"
              >
                Run all
              </button>
            )}
            <span className="hint" data-testid="scene.todo">
              {gaps.filter(gapIsStale).length} of {gaps.length} gaps to make
            </span>
          </div>
          <SceneViewer />
        </>
      )}
      <ProjectRow />
    </section>
  );
}

function KeyStrip() {
  const keys = useStudio((s) => s.scene.keys);
  // The keys stay as they are while Run all or a re-roll makes their gaps.
  const running = useStudio((s) => s.scene.running);
  const dragFrom = useRef<number | null>(null);
  return (
    <div
      className="key-strip"
      data-testid="scene.keys"
      onDragOver={(e) => e.preventDefault()}
      onDrop={(e) => {
        e.preventDefault();
        if (dragFrom.current === null && e.dataTransfer.files.length)
          void addSceneKeys([...e.dataTransfer.files]);
      }}
    >
      <ol>
        {keys.map((k, i) => (
          <li
            key={k.id}
            draggable={!running}
            data-testid="scene.key"
            onDragStart={() => (dragFrom.current = i)}
            onDragEnd={() => (dragFrom.current = null)}
            onDrop={(e) => {
              e.preventDefault();
              e.stopPropagation();
              if (dragFrom.current === null) {
                // Files dropped on a key go in before it.
                if (e.dataTransfer.files.length) void addSceneKeys([...e.dataTransfer.files], i);
                return;
              }
              moveSceneKey(dragFrom.current, i);
              dragFrom.current = null;
            }}
          >
            <img src={k.url} alt={`key ${i + 1}: ${k.name}`} />
            <span>
              {i + 1}. {k.name}
            </span>
            <span className="row">
              <button
                type="button"
                aria-label={`Move key ${i + 1} left`}
                disabled={running || i === 0}
                onClick={() => moveSceneKey(i, i - 1)}
              >
                ←
              </button>
              <button
                type="button"
                aria-label={`Move key ${i + 1} right`}
                disabled={running || i === keys.length - 1}
                onClick={() => moveSceneKey(i, i + 1)}
              >
                →
              </button>
              <button
                type="button"
                aria-label={`Remove key ${i + 1}`}
                disabled={running}
                onClick={() => removeSceneKey(k.id)}
              >
                ×
              </button>
            </span>
          </li>
        ))}
      </ol>
      <label className="drop">
        {keys.length
          ? 'Add keys'
          : 'Drop key drawings here, or pick files (a numbered sequence is put in order)'}
        <input
          type="file"
          accept="image/*"
          multiple
          disabled={running}
          data-testid="scene.addKeys"
          onChange={(e) => {
            if (e.target.files) void addSceneKeys([...e.target.files]);
            e.target.value = '';
          }}
        />
      </label>
      <label className="drop">
        or a folder of drawings
        <input
          type="file"
          {...{ webkitdirectory: '' }}
          disabled={running}
          data-testid="scene.addFolder"
          onChange={(e) => {
            // Only the images; a folder also holds other files (thumbnails, project files).
            const files = [...(e.target.files ?? [])].filter((f) =>
              /\.(png|jpe?g|webp|gif|bmp)$/i.test(f.name),
            );
            if (files.length) void addSceneKeys(files);
            e.target.value = '';
          }}
        />
      </label>
    </div>
  );
}

function SpecControls({
  spec,
  onChange,
  testPrefix,
}: {
  spec: GapSpec;
  onChange: (c: Partial<GapSpec>) => void;
  testPrefix: string;
}) {
  return (
    <>
      <label>
        in-betweens{' '}
        <NumberField
          min={1}
          max={15}
          integer
          value={spec.count}
          data-testid={`${testPrefix}.count`}
          onCommit={(count) => onChange({ count })}
        />
      </label>
      <label>
        timing{' '}
        <select
          value={spec.timing}
          data-testid={`${testPrefix}.timing`}
          onChange={(e) => onChange({ timing: e.target.value as TimingPreset })}
        >
          {TIMING_PRESETS.map((t) => (
            <option key={t} value={t}>
              {TIMING_LABELS[t]}
            </option>
          ))}
        </select>
      </label>
      {spec.timing === 'typed' && (
        <label>
          positions{' '}
          <input
            type="text"
            placeholder="0.2, 0.5, 0.9 or 1/4 …"
            value={spec.typed}
            data-testid={`${testPrefix}.typed`}
            onChange={(e) => onChange({ typed: e.target.value })}
          />
        </label>
      )}
      <label>
        exposure{' '}
        <select
          value={spec.exposure}
          data-testid={`${testPrefix}.exposure`}
          onChange={(e) => onChange({ exposure: Number(e.target.value) as Exposure })}
        >
          {EXPOSURES.map((x) => (
            <option key={x} value={x}>
              {EXPOSURE_LABELS[x]}
            </option>
          ))}
        </select>
      </label>
    </>
  );
}

function Defaults({ spec }: { spec: GapSpec }) {
  const { seed, fps, mode } = useStudio((s) => s.scene);
  return (
    <fieldset className="row scene-defaults">
      <legend>Every gap, unless set below</legend>
      <SpecControls spec={spec} onChange={setSceneDefaults} testPrefix="scene.default" />
      <label>
        seed{' '}
        <NumberField
          min={0}
          max={0xffffffff}
          integer
          value={seed}
          data-testid="scene.seed"
          onCommit={(seed) => setSceneOptions({ seed })}
        />
      </label>
      <label>
        fps{' '}
        <NumberField
          min={1}
          max={60}
          integer={false}
          value={fps}
          data-testid="scene.fps"
          onCommit={(fps) => setSceneOptions({ fps })}
        />
      </label>
      <label>
        <input
          type="checkbox"
          checked={mode === 'pingpong'}
          data-testid="scene.pingpong"
          onChange={(e) => setSceneOptions({ mode: e.target.checked ? 'pingpong' : 'loop' })}
        />{' '}
        ping-pong
      </label>
    </fieldset>
  );
}

/** Where a gap's in-betweens fall between its keys, drawn as on a timing chart. */
function TimingChart({ positions }: { positions: number[] }) {
  const w = 160;
  const x = (t: number) => 6 + t * (w - 12);
  return (
    <svg
      width={w}
      height={26}
      className="timing-chart"
      role="img"
      aria-label={`timing: ${positions.map((p) => p.toFixed(2)).join(', ')}`}
    >
      <line x1={x(0)} x2={x(1)} y1={13} y2={13} stroke="currentColor" />
      {[0, 1].map((t) => (
        <line key={t} x1={x(t)} x2={x(t)} y1={2} y2={24} stroke="currentColor" strokeWidth={2} />
      ))}
      {positions.map((t, i) => (
        <line key={i} x1={x(t)} x2={x(t)} y1={7} y2={19} stroke="currentColor" />
      ))}
    </svg>
  );
}

function GapRow({ gap }: { gap: SceneGap }) {
  const status = useStudio((s) => s.scene.status[gap.key]);
  const custom = useStudio((s) => Boolean(s.scene.specs[gap.key]));
  const sceneSeed = useStudio((s) => s.scene.seed);
  const variants = useStudio((s) => s.packs.manifest?.variants ?? NO_VARIANTS);
  let positions: number[] = [];
  let problem = '';
  try {
    positions = gapPositionsOf(gap.spec);
  } catch (e) {
    problem = (e as Error).message;
  }
  return (
    <li className="gap" data-testid="scene.gap">
      <strong>
        Gap {gap.index + 1} (key {gap.index + 1} → {gap.index + 2})
      </strong>{' '}
      {!custom && <span className="hint">defaults</span>}
      <div className="row">
        <SpecControls
          spec={gap.spec}
          onChange={(c) => setGapSpec(gap.key, c)}
          testPrefix="scene.gap"
        />
        <label>
          seed{' '}
          <input
            type="number"
            min={0}
            placeholder={String(sceneSeed)}
            value={gap.spec.seed ?? ''}
            data-testid="scene.gap.seed"
            onChange={(e) =>
              setGapSpec(gap.key, {
                // Empty: the scene's seed. Seeds are 32-bit, as a saved scene's must be.
                seed:
                  e.target.value === ''
                    ? null
                    : Math.min(0xffffffff, Math.max(0, Math.round(Number(e.target.value)))),
              })
            }
          />
        </label>
        <label>
          variant{' '}
          <select
            value={gap.spec.variantId ?? ''}
            data-testid="scene.gap.variant"
            onChange={(e) => setGapSpec(gap.key, { variantId: e.target.value || null })}
          >
            <option value="">as chosen above</option>
            {variants.map((v) => (
              <option key={v.id} value={v.id}>
                {v.label}
              </option>
            ))}
          </select>
        </label>
        {problem ? (
          <span className="badge badge-warn">{problem}</span>
        ) : (
          <TimingChart positions={positions} />
        )}
        <span className="label" data-testid="scene.gap.status">
          {status && (status.state !== 'done' || !gapIsStale(gap))
            ? `${status.state}${status.detail ? ` · ${status.detail}` : ''}`
            : gapIsStale(gap)
              ? 'to make'
              : 'made'}
        </span>
      </div>
    </li>
  );
}

const NO_VARIANTS: { id: string; label: string }[] = [];

const ONION_TINTS = [
  'sepia(1) saturate(4) hue-rotate(-50deg)',
  'sepia(1) saturate(4) hue-rotate(60deg)',
];

function SceneViewer() {
  const sc = useStudio((s) => s.scene);
  const busy = useStudio((s) => selectWorkerJob(s) !== null);
  const cells = useMemo(() => sceneCells(sc), [sc]);
  const [playing, setPlaying] = useState(false);
  // A flip shows one drawing for a moment: stepping, playing or a changed timeline ends it.
  const [flip, setFlip] = useState<{ to: number; cells: number } | null>(null);
  const current = Math.min(sc.current, Math.max(0, cells.length - 1));
  const order = useMemo(() => playOrder(cells.length, sc.mode), [cells.length, sc.mode]);
  const flipTo = flip && flip.cells === cells.length ? flip.to : null;
  const shown = flipTo ?? current;
  const cell = cells[shown];
  const toggleFlip = () =>
    setFlip(flipTo === null ? { to: Math.max(0, current - 1), cells: cells.length } : null);

  useEffect(() => {
    if (!playing || cells.length < 2) return;
    let pos = Math.max(0, order.indexOf(current));
    let held = 0;
    const id = setInterval(() => {
      held++;
      if (held < (cells[order[pos]!]?.hold ?? 1)) return;
      held = 0;
      pos = (pos + 1) % order.length;
      setSceneOptions({ current: order[pos]! });
    }, 1000 / sc.fps);
    return () => clearInterval(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- restart only when these change
  }, [playing, order, sc.fps, cells.length]);

  function step(to: number) {
    setPlaying(false);
    setFlip(null);
    setSceneOptions({ current: Math.min(cells.length - 1, Math.max(0, to)) });
  }

  function togglePlay() {
    setFlip(null);
    setPlaying((p) => !p);
  }

  function onKey(e: React.KeyboardEvent) {
    // The viewer's own controls keep the keys they use (fields, menus and sliders all of them;
    // buttons and boxes Space), and the browser keeps its shortcuts (Ctrl+F…).
    const t = e.target as HTMLElement;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const box = t instanceof HTMLInputElement && (t.type === 'checkbox' || t.type === 'radio');
    if (t.closest('select, textarea') || (t instanceof HTMLInputElement && !box)) return;
    if (e.key === ' ' && (box || t.closest('button'))) return;
    const keys: Record<string, () => void> = {
      ArrowLeft: () => step(current - 1),
      ArrowRight: () => step(current + 1),
      Home: () => step(0),
      End: () => step(cells.length - 1),
      ' ': togglePlay,
      f: toggleFlip,
    };
    const act = keys[e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  }

  const onion = sc.onion;
  const layers: { url: string; tint: string; opacity: number }[] = [];
  if (onion.on && flipTo === null) {
    for (let d = onion.before; d >= 1; d--) {
      const c = cells[current - d];
      if (c?.url) layers.push({ url: c.url, tint: ONION_TINTS[0]!, opacity: onion.opacity / d });
    }
    for (let d = 1; d <= onion.after; d++) {
      const c = cells[current + d];
      if (c?.url) layers.push({ url: c.url, tint: ONION_TINTS[1]!, opacity: onion.opacity / d });
    }
  }
  const reroll = sc.reroll;
  return (
    <div
      className="scene-viewer"
      tabIndex={0}
      onKeyDown={onKey}
      data-testid="scene.viewer"
      aria-label="Scene viewer: ← → step, Home/End, space plays, F flips"
    >
      <div className="stage" data-testid="scene.stage">
        {cell?.url ? (
          <img
            src={cell.url}
            alt={`Frame ${shown + 1}: ${cell.label}`}
            data-testid="scene.current"
          />
        ) : (
          <div className="missing" data-testid="scene.current.missing">
            {cell?.label} — not made yet (Run all)
          </div>
        )}
        {layers.map((l, i) => (
          <img
            key={i}
            src={l.url}
            alt=""
            className="onion"
            data-testid="scene.onion"
            style={{ opacity: l.opacity, filter: l.tint }}
          />
        ))}
      </div>
      <div className="row">
        <button type="button" onClick={togglePlay} data-testid="scene.play">
          {playing ? 'Pause' : 'Play'}
        </button>
        <span className="label" data-testid="scene.position">
          {shown + 1} / {cells.length} · {cell?.label}
          {flipTo !== null ? ' (flipped)' : ''}
        </span>
        <label>
          <input
            type="checkbox"
            checked={onion.on}
            data-testid="scene.onionSkin"
            onChange={(e) => setSceneOptions({ onion: { ...onion, on: e.target.checked } })}
          />{' '}
          onion skin
        </label>
        <label>
          before{' '}
          <input
            type="number"
            min={0}
            max={3}
            value={onion.before}
            onChange={(e) =>
              setSceneOptions({
                onion: { ...onion, before: Math.max(0, Math.min(3, Number(e.target.value))) },
              })
            }
          />
        </label>
        <label>
          after{' '}
          <input
            type="number"
            min={0}
            max={3}
            value={onion.after}
            onChange={(e) =>
              setSceneOptions({
                onion: { ...onion, after: Math.max(0, Math.min(3, Number(e.target.value))) },
              })
            }
          />
        </label>
        <label>
          opacity{' '}
          <input
            type="range"
            min={0.05}
            max={0.8}
            step={0.05}
            value={onion.opacity}
            aria-label="Onion skin opacity"
            onChange={(e) =>
              setSceneOptions({ onion: { ...onion, opacity: Number(e.target.value) } })
            }
          />
        </label>
        <button type="button" onClick={toggleFlip} data-testid="scene.flip">
          {flipTo === null ? 'Flip to previous' : 'Flip back'}
        </button>
        {cell?.kind === 'inbetween' && cell.url && cell.gapKey && (
          <button
            type="button"
            disabled={busy}
            onClick={() => void rerollFrame(cell.gapKey!, cell.index!)}
            data-testid="scene.reroll"
          >
            Re-roll this in-between
          </button>
        )}
      </div>
      {reroll && (
        <div className="reroll" data-testid="scene.rerollCompare">
          <figure>
            <img src={sc.results[reroll.gapKey]?.frames[reroll.index]?.url} alt="before" />
            <figcaption>before</figcaption>
          </figure>
          <figure>
            <img src={reroll.frame.url} alt="re-rolled" />
            <figcaption>new (seed {reroll.frame.seed})</figcaption>
          </figure>
          <button type="button" onClick={() => settleReroll(true)} data-testid="scene.keepNew">
            Keep new
          </button>
          <button type="button" onClick={() => settleReroll(false)} data-testid="scene.keepOld">
            Keep before
          </button>
        </div>
      )}
      <ol className="timeline" data-testid="scene.timeline">
        {cells.map((c, i) => (
          <li key={i} className={`${c.kind}${i === current ? ' current' : ''}`}>
            <button type="button" onClick={() => step(i)} aria-label={`Frame ${i + 1}: ${c.label}`}>
              {c.url ? <img src={c.url} alt="" /> : <span className="missing">…</span>}
            </button>
            <span>
              {c.label}
              {c.hold > 1 ? ` ×${c.hold}` : ''}
            </span>
          </li>
        ))}
      </ol>
      <ExportBar label="Export the scene" scope="scene" testPrefix="scene" save={exportScene} />
    </div>
  );
}

function ProjectRow() {
  const { keys, restored, running } = useStudio((s) => s.scene);
  return (
    <div className="row">
      {restored && keys.length > 0 && (
        <span className="hint" data-testid="scene.restored">
          Scene restored from this browser.
        </span>
      )}
      <button
        type="button"
        disabled={keys.length === 0}
        onClick={exportProject}
        data-testid="scene.saveProject"
      >
        Save project file
      </button>
      <label className="button">
        Open project file{' '}
        <input
          type="file"
          accept=".zip,application/zip"
          disabled={running}
          data-testid="scene.openProject"
          onChange={(e) => {
            const f = e.target.files?.[0];
            if (f) void importProject(f);
            e.target.value = '';
          }}
        />
      </label>
    </div>
  );
}
