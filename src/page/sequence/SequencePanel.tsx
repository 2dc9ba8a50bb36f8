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
  gapHasOwnSpec,
  gapIsStale,
  gapPositionsOf,
  importProject,
  moveSceneKey,
  removeSceneKey,
  resetGapSpec,
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
import type { GapSpec, OnionSkin } from './sequenceSlice';

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
            {/* One button that turns from Run all into Cancel and back, so that the keyboard's
                focus stays on it (a new element would drop it). While stopping it is only marked
                disabled: a disabled button would lose the focus too. */}
            <button
              type="button"
              className={sc.running ? undefined : 'primary'}
              disabled={!sc.running && otherJob}
              aria-disabled={sc.stopping || undefined}
              title={
                !sc.running && otherJob ? 'Another job is using the model: wait for it.' : undefined
              }
              onClick={() => {
                if (!sc.running) void runScene();
                else if (!sc.stopping) cancelScene();
              }}
              data-testid={sc.running ? 'scene.cancel' : 'scene.runAll'}
            >
              {sc.running ? (sc.stopping ? 'Stopping…' : 'Cancel') : 'Run all'}
            </button>
            {sc.running && sc.stuck && (
              <button
                type="button"
                className="danger"
                onClick={forceStopScene}
                data-testid="scene.force-stop"
              >
                Force stop
              </button>
            )}
            <span className="hint" aria-live="polite" data-testid="scene.todo">
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

type KeyButton = 'left' | 'right' | 'remove';

function KeyStrip() {
  const keys = useStudio((s) => s.scene.keys);
  // The keys stay as they are while Run all or a re-roll makes their gaps.
  const running = useStudio((s) => s.scene.running);
  const dragFrom = useRef<number | null>(null);
  // A key's buttons by `${id} ${button}`, and where the focus goes once the keys have changed: a
  // moved key's button is taken out of the page and put back (which drops the focus), a removed
  // key's is gone.
  const buttons = useRef(new Map<string, HTMLButtonElement>());
  const addKeys = useRef<HTMLInputElement>(null);
  const focusNext = useRef<(HTMLElement | null | undefined)[] | null>(null);
  useEffect(() => {
    const to = focusNext.current;
    focusNext.current = null;
    // The first that can take it: a button at the end of the row is disabled.
    to?.find((el) => el?.isConnected && !(el as HTMLButtonElement).disabled)?.focus();
  }, [keys]);
  const button = (id: string, b: KeyButton) => buttons.current.get(`${id} ${b}`);
  const refFor = (id: string, b: KeyButton) => (el: HTMLButtonElement | null) => {
    if (el) buttons.current.set(`${id} ${b}`, el);
    else buttons.current.delete(`${id} ${b}`);
  };
  /** Runs a change of the keys, then puts the focus on the first of `to` that can take it. */
  function changeKeys(change: () => void, to: (HTMLElement | null | undefined)[]) {
    focusNext.current = to;
    change();
    // Refused (Run all started): the keys are as they were and the focus stays.
    if (useStudio.getState().scene.keys === keys) focusNext.current = null;
  }
  const move = (i: number, to: number, b: 'left' | 'right') =>
    changeKeys(
      () => moveSceneKey(i, to),
      [button(keys[i]!.id, b), button(keys[i]!.id, b === 'left' ? 'right' : 'left')],
    );
  const remove = (i: number) =>
    // The next key's ×, else the previous one's, else Add keys.
    changeKeys(
      () => removeSceneKey(keys[i]!.id),
      [
        button(keys[i + 1]?.id ?? '', 'remove'),
        button(keys[i - 1]?.id ?? '', 'remove'),
        addKeys.current,
      ],
    );
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
                ref={refFor(k.id, 'left')}
                aria-label={`Move key ${i + 1} left`}
                disabled={running || i === 0}
                onClick={() => move(i, i - 1, 'left')}
              >
                ←
              </button>
              <button
                type="button"
                ref={refFor(k.id, 'right')}
                aria-label={`Move key ${i + 1} right`}
                disabled={running || i === keys.length - 1}
                onClick={() => move(i, i + 1, 'right')}
              >
                →
              </button>
              <button
                type="button"
                ref={refFor(k.id, 'remove')}
                aria-label={`Remove key ${i + 1}`}
                disabled={running}
                onClick={() => remove(i)}
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
          ref={addKeys}
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
  const custom = useStudio((s) => gapHasOwnSpec(s.scene, gap.key));
  const row = useRef<HTMLLIElement>(null);
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
    <li className="gap" data-testid="scene.gap" ref={row}>
      <strong>
        Gap {gap.index + 1} (key {gap.index + 1} → {gap.index + 2})
      </strong>{' '}
      {custom ? (
        <button
          type="button"
          data-testid="scene.gap.reset"
          onClick={() => {
            resetGapSpec(gap.key);
            // The button goes with the gap's own settings: the focus goes to its first field.
            row.current?.querySelector<HTMLElement>('input, select')?.focus();
          }}
        >
          Use every-gap settings
        </button>
      ) : (
        <span className="hint">defaults</span>
      )}
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

/** The onion skin's SVG filters, by the side of the current drawing they tint. */
const ONION_FILTERS = { before: 'scene-onion-before', after: 'scene-onion-after' } as const;

/** Luminance of sRGB values, as one row of a colour matrix (R G B A offset). */
const LUMA_ROW = '0.2126 0.7152 0.0722 0 0';
const ONE_ROW = '0 0 0 0 1';

/**
 * Tints for the onion skin: luminance L becomes (1, L, L) before the current drawing and (L, 1, L)
 * after it, so dark lines turn red or green and white paper stays white (it multiplies over the
 * current drawing). CSS colour filters (sepia, hue-rotate) cannot do this: they keep black black.
 */
function OnionFilters() {
  const matrix = (rows: string[]) => [...rows, '0 0 0 1 0'].join('  ');
  return (
    <svg className="onion-filters" aria-hidden="true" width="0" height="0">
      <filter id={ONION_FILTERS.before} colorInterpolationFilters="sRGB">
        <feColorMatrix type="matrix" values={matrix([ONE_ROW, LUMA_ROW, LUMA_ROW])} />
      </filter>
      <filter id={ONION_FILTERS.after} colorInterpolationFilters="sRGB">
        <feColorMatrix type="matrix" values={matrix([LUMA_ROW, ONE_ROW, LUMA_ROW])} />
      </filter>
    </svg>
  );
}

/** A count of onion-skin drawings (0–3) for a field. */
function OnionCount({ side, onion }: { side: 'before' | 'after'; onion: OnionSkin }) {
  return (
    <label>
      {side}{' '}
      <NumberField
        min={0}
        max={3}
        integer
        value={onion[side]}
        data-testid={`scene.onion.${side}`}
        onCommit={(n) => setSceneOptions({ onion: { ...onion, [side]: n } })}
      />
    </label>
  );
}

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
  const viewer = useRef<HTMLDivElement>(null);
  const timeline = useRef<HTMLOListElement>(null);
  const rerollButton = useRef<HTMLButtonElement>(null);

  // The holds as set now, for playback: an exposure changed while playing applies at once.
  const holds = useRef<number[]>([]);
  useEffect(() => {
    holds.current = cells.map((c) => c.hold);
  }, [cells]);

  useEffect(() => {
    if (!playing || cells.length < 2) return;
    let pos = Math.max(0, order.indexOf(current));
    let held = 0;
    const id = setInterval(() => {
      held++;
      if (held < (holds.current[order[pos]!] ?? 1)) return;
      held = 0;
      pos = (pos + 1) % order.length;
      setSceneOptions({ current: order[pos]! });
    }, 1000 / sc.fps);
    return () => clearInterval(id);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- restart only when these change
  }, [playing, order, sc.fps, cells.length]);

  // The current frame's place on the timeline stays in sight. Only the strip scrolls, as
  // scrollIntoView({ inline: 'nearest' }) would but without also scrolling the page to it on
  // every frame played.
  useEffect(() => {
    const strip = timeline.current;
    const item = strip?.children[current];
    if (!strip || !item) return;
    const s = strip.getBoundingClientRect();
    const b = item.getBoundingClientRect();
    if (b.left < s.left) strip.scrollLeft -= s.left - b.left;
    else if (b.right > s.right) strip.scrollLeft += b.right - s.right;
  }, [current, cells.length]);

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
    // F and f alike (Shift, Caps Lock); named keys (ArrowLeft…) as they are.
    const act = keys[e.key.length === 1 ? e.key.toLowerCase() : e.key];
    if (act) {
      e.preventDefault();
      act();
    }
  }

  const onion = sc.onion;
  const layers: { url: string; side: 'before' | 'after'; opacity: number }[] = [];
  if (onion.on && flipTo === null) {
    for (let d = onion.before; d >= 1; d--) {
      const c = cells[current - d];
      if (c?.url) layers.push({ url: c.url, side: 'before', opacity: onion.opacity / d });
    }
    for (let d = 1; d <= onion.after; d++) {
      const c = cells[current + d];
      if (c?.url) layers.push({ url: c.url, side: 'after', opacity: onion.opacity / d });
    }
  }
  const reroll = sc.reroll;
  function settle(keep: boolean) {
    settleReroll(keep);
    // The comparison and its buttons go: the focus goes to Re-roll (again), else the viewer.
    const next = rerollButton.current;
    (next && !next.disabled ? next : viewer.current)?.focus();
  }
  return (
    <div
      ref={viewer}
      className="scene-viewer"
      tabIndex={0}
      onKeyDown={onKey}
      role="group"
      aria-label="Scene viewer"
      aria-describedby="scene-viewer-keys"
      aria-keyshortcuts="ArrowLeft ArrowRight Home End Space F"
      data-testid="scene.viewer"
    >
      <OnionFilters />
      <p className="hint" id="scene-viewer-keys" data-testid="scene.viewer.keys">
        Keys: ← → step · Home / End · Space plays · F flips
      </p>
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
            data-side={l.side}
            style={{ opacity: l.opacity, filter: `url(#${ONION_FILTERS[l.side]})` }}
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
        <OnionCount side="before" onion={onion} />
        <OnionCount side="after" onion={onion} />
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
            ref={rerollButton}
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
          <button type="button" onClick={() => settle(true)} data-testid="scene.keepNew">
            Keep new
          </button>
          <button type="button" onClick={() => settle(false)} data-testid="scene.keepOld">
            Keep before
          </button>
        </div>
      )}
      <ol className="timeline" ref={timeline} data-testid="scene.timeline">
        {cells.map((c, i) => (
          <li key={i} className={`${c.kind}${i === current ? ' current' : ''}`}>
            <button
              type="button"
              onClick={() => step(i)}
              aria-label={`Frame ${i + 1}: ${c.label}`}
              aria-current={i === current ? 'true' : undefined}
            >
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
