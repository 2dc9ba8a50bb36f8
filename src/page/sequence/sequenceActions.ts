/**
 * The scene: a row of keys (2–64), each gap made by the chosen variant with its own count, timing
 * and seed, joined end to end. Run all makes every gap whose settings changed since it was made;
 * Cancel keeps the gaps already made. One in-between can be re-rolled with a new seed and kept or
 * dropped. The scene autosaves to IndexedDB and comes back after a reload; it also exports to one
 * project file (a zip) and imports from one.
 */
import { strFromU8, strToU8, unzipSync, zipSync, type Zippable } from 'fflate';
import { createStore, del, get, set, type UseStore } from 'idb-keyval';
import {
  cancelRun,
  isVariantLoaded,
  loadVariant,
  nextJobId,
  runInterpolation,
} from '../clients/inferenceClient';
import { checkImageFile } from '../../core/imageHeader';
import { safeBaseName, MAX_KEYS, type PlayMode } from '../../core/sequence/sequence';
import {
  parseTypedPositions,
  TIMING_PRESETS,
  timingPositions,
  type Exposure,
  type TimingPreset,
} from '../../core/sequence/timing';
import type { ExportDrawing } from '../../core/sequence/export';
import {
  decodeKeyframe,
  describeImage,
  keyframeBlob,
  releaseImage,
} from '../keyframes/keyframeActions';
import type { KeyframeInfo } from '../keyframes/keyframesSlice';
import { packSource } from '../packs/packActions';
import { runSettingsOf } from '../run/runActions';
import { downloadBlob } from '../common/download';
import {
  FORCE_STOPPED_MESSAGE,
  offerForceStopLater,
  stopWorkersByForce,
} from '../common/forceStop';
import { clearMessages, patch, refuseWhileWorkerBusy, say, useStudio } from '../state/store';
import { exportDrawings, framesFromUrls, type ExportFormat } from '../viewer/exportActions';
import {
  initialScene,
  type GapSpec,
  type OnionSkin,
  type SceneFrame,
  type SceneState,
} from './sequenceSlice';

/** In-between Blobs by object URL (the store holds URLs; autosave and project files need bytes). */
const frameBlobs = new Map<string, Blob>();

function frameFromBlob(png: Blob, position: number, seed: number): SceneFrame {
  const url = URL.createObjectURL(png);
  frameBlobs.set(url, png);
  return { url, position, seed };
}

function releaseFrame(f: SceneFrame): void {
  URL.revokeObjectURL(f.url);
  frameBlobs.delete(f.url);
}

/** The gap between two keys, named by their ids (reordering keeps what still applies). */
export function gapKey(a: KeyframeInfo, b: KeyframeInfo): string {
  return `${a.id}>${b.id}`;
}

export interface SceneGap {
  key: string;
  index: number;
  start: KeyframeInfo;
  end: KeyframeInfo;
  spec: GapSpec;
}

/**
 * The scene's gaps in order, each with its settings: the defaults, with the fields set for the gap
 * on top (a gap follows the defaults in every field it has not set).
 */
export function sceneGaps(s: SceneState): SceneGap[] {
  return s.keys.slice(1).map((end, i) => {
    const start = s.keys[i]!;
    const key = gapKey(start, end);
    return { key, index: i, start, end, spec: { ...s.defaults, ...s.specs[key] } };
  });
}

/** Whether a gap has settings of its own (any field not taken from the defaults). */
export function gapHasOwnSpec(s: SceneState, key: string): boolean {
  return Object.keys(s.specs[key] ?? {}).length > 0;
}

/** τ of a gap's in-betweens; throws with the reason when typed positions are not valid. */
export function gapPositionsOf(spec: GapSpec): number[] {
  return timingPositions(
    spec.count,
    spec.timing === 'typed'
      ? { preset: 'typed', positions: parseTypedPositions(spec.typed, spec.count) }
      : { preset: spec.timing },
  );
}

type Studio = ReturnType<typeof useStudio.getState>;

/**
 * The run settings past steps and LoRA scale that a gap's frames depend on (guidance, conditioning,
 * prompt and sampler, where a pack has them).
 */
function sceneRunSettings(s: Studio): Record<string, unknown> {
  const { guidanceScale, scalars, promptId, promptText, sampler } = runSettingsOf(s.settings);
  return { guidanceScale, scalars, promptId, promptText, sampler };
}

/** Everything a gap's frames depend on: when it changes, Run all makes the gap again. */
function gapSignature(gap: SceneGap, s: Studio): string {
  return JSON.stringify({
    pack: s.packs.selectedKey,
    variant: gap.spec.variantId ?? s.packs.variantId,
    fit: s.keyframes.fitMode,
    steps: s.settings.steps,
    lora: s.settings.loraScale,
    positions: gapPositionsOf(gap.spec),
    seed: gap.spec.seed ?? s.scene.seed,
    // Absent for packs without these settings (JSON leaves undefined out): signatures made
    // before they counted stay valid.
    ...sceneRunSettings(s),
  });
}

/**
 * What `gapSignature` reads outside the scene, as one string: the panel watches it to show the
 * gaps to make again when a setting above changes.
 */
export function sceneSettingsKey(s: Studio): string {
  return JSON.stringify({
    pack: s.packs.selectedKey,
    variant: s.packs.variantId,
    fit: s.keyframes.fitMode,
    steps: s.settings.steps,
    lora: s.settings.loraScale,
    ...sceneRunSettings(s),
  });
}

/** Whether a gap's frames are missing or were made with other settings. */
export function gapIsStale(gap: SceneGap): boolean {
  const s = useStudio.getState();
  const made = s.scene.results[gap.key];
  if (!made) return true;
  try {
    return made.signature !== gapSignature(gap, s);
  } catch {
    return true;
  }
}

function scene(): SceneState {
  return useStudio.getState().scene;
}

function patchScene(value: Partial<SceneState>): void {
  patch('scene', value);
  scheduleSave();
}

// ---- keys ---------------------------------------------------------------------------------------

/** Whether Run all or a re-roll is under way (keys stay as they are until it ends); says so. */
function refuseWhileRunning(): boolean {
  if (!scene().running) return false;
  say('error', 'scene', 'Wait for Run all to finish (or cancel it) before changing the keys.');
  return true;
}

/** Adds keys (dropped, picked, or a numbered sequence: sorted by name, numbers as numbers). */
export async function addSceneKeys(files: readonly File[], at?: number): Promise<void> {
  clearMessages('scene');
  if (refuseWhileRunning()) return;
  const sorted = [...files].sort((a, b) =>
    a.name.localeCompare(b.name, undefined, { numeric: true }),
  );
  const room = MAX_KEYS - scene().keys.length;
  if (sorted.length > room) {
    say(
      'error',
      'scene',
      `A scene holds ${MAX_KEYS} keys; ${sorted.length - room} were not added.`,
    );
  }
  const added: KeyframeInfo[] = [];
  for (const f of sorted.slice(0, Math.max(0, room))) {
    try {
      const info = await describeImage(f, f.name);
      const first = scene().keys[0] ?? added[0];
      if (first && (info.width !== first.width || info.height !== first.height)) {
        releaseImage(info);
        say(
          'error',
          'scene',
          `"${f.name}" is ${info.width}×${info.height} but the scene's keys are ${first.width}×${first.height}; every key of a scene has one size.`,
        );
        continue;
      }
      added.push(info);
    } catch (e) {
      say('error', 'scene', (e as Error).message);
    }
  }
  // A run may have started while the files were read.
  if (scene().running) {
    added.forEach((k) => releaseImage(k));
    refuseWhileRunning();
    return;
  }
  const keys = [...scene().keys];
  keys.splice(at ?? keys.length, 0, ...added);
  patchScene({ keys });
}

/** Whether a gap key (`a>b`) names only keys in `ids`. */
const gapOf = (key: string, ids: Set<string>) => key.split('>').every((id) => ids.has(id));

export function removeSceneKey(id: string): void {
  if (refuseWhileRunning()) return;
  const s = scene();
  const key = s.keys.find((k) => k.id === id);
  if (!key) return;
  releaseImage(key);
  // The gaps that named the key go with it (their frames too): a key added later may get its id.
  const ids = new Set(s.keys.filter((k) => k.id !== id).map((k) => k.id));
  const keep = <T>(m: Record<string, T>) =>
    Object.fromEntries(Object.entries(m).filter(([k]) => gapOf(k, ids)));
  Object.entries(s.results).forEach(([k, r]) => {
    if (!gapOf(k, ids)) r.frames.forEach(releaseFrame);
  });
  if (s.reroll && !gapOf(s.reroll.gapKey, ids)) releaseFrame(s.reroll.frame);
  patchScene({
    keys: s.keys.filter((k) => k.id !== id),
    specs: keep(s.specs),
    results: keep(s.results),
    status: keep(s.status),
    reroll: s.reroll && gapOf(s.reroll.gapKey, ids) ? s.reroll : null,
    current: 0,
  });
}

/** Moves the key at `from` to `to` (drag and drop, or the arrow buttons). */
export function moveSceneKey(from: number, to: number): void {
  if (refuseWhileRunning()) return;
  const keys = [...scene().keys];
  if (from < 0 || from >= keys.length || to < 0 || to >= keys.length || from === to) return;
  const [k] = keys.splice(from, 1);
  keys.splice(to, 0, k!);
  patchScene({ keys, current: 0 });
}

/**
 * The gaps' statuses less the finished ones of `keys` (of every gap when omitted): after a change
 * of settings, "done" or "error" is old news.
 */
function statusWithout(keys?: string[]): SceneState['status'] {
  const st = scene().status;
  return Object.fromEntries(
    Object.entries(st).filter(
      ([k, v]) => v.state === 'running' || v.state === 'queued' || (keys && !keys.includes(k)),
    ),
  );
}

/**
 * Sets fields of one gap's settings; only those become the gap's own, the others keep following
 * the defaults. A seed or variant set back to the scene's (null) is no longer the gap's own.
 */
export function setGapSpec(key: string, change: Partial<GapSpec>): void {
  const s = scene();
  const own: Partial<GapSpec> = { ...s.specs[key], ...change };
  for (const f of ['seed', 'variantId'] as const)
    if (own[f] === null && s.defaults[f] === null) delete own[f];
  const specs = { ...s.specs };
  if (Object.keys(own).length) specs[key] = own;
  else delete specs[key];
  patchScene({ specs, status: statusWithout([key]) });
}

/** Drops a gap's own settings: it follows the defaults ("Every gap") again in every field. */
export function resetGapSpec(key: string): void {
  const s = scene();
  if (!(key in s.specs)) return;
  const specs = { ...s.specs };
  delete specs[key];
  patchScene({ specs, status: statusWithout([key]) });
}

export function setSceneDefaults(change: Partial<GapSpec>): void {
  patchScene({ defaults: { ...scene().defaults, ...change }, status: statusWithout() });
}

export function setSceneOptions(
  change: Partial<Pick<SceneState, 'seed' | 'fps' | 'mode' | 'current' | 'onion'>>,
): void {
  // Stepping is the viewer's state: not worth a save of every image. The onion skin's options are
  // kept with the scene (saved, like every other change, 300 ms after the last).
  if (Object.keys(change).every((k) => k === 'current')) patch('scene', change);
  else patchScene(change);
}

// ---- running ------------------------------------------------------------------------------------

let cancelRequested = false;
let currentJob: number | null = null;
/** Set by Force stop: the call that then fails was stopped, it did not fail. */
let forced = false;
/** Counts runs (Run all, re-roll), so that a late "stuck" check concerns the run that asked. */
let runCount = 0;

/** What a gap's or re-roll's failure means: stopped by Cancel or Force stop, or a real failure. */
const wasStopped = (e: unknown) => (e as Error).name === 'RunCancelledError' || forced;

/** Marks the start of a run (Run all or a re-roll). */
function beginRun(): void {
  cancelRequested = false;
  forced = false;
  runCount += 1;
  patch('scene', { running: true, stopping: false, stuck: false });
}

/** Runs one gap's keys through the worker; returns the in-betweens' PNGs. */
async function runGapJob(gap: SceneGap, positions: number[], seed: number) {
  const s = useStudio.getState();
  const { manifest, selectedKey } = s.packs;
  const source = selectedKey ? packSource(selectedKey) : undefined;
  const variantId = gap.spec.variantId ?? s.packs.variantId;
  if (!manifest || !variantId || !source) throw new Error('Choose a model pack first.');
  if (!manifest.variants.some((v) => v.id === variantId))
    throw new Error(`this pack has no variant "${variantId}" (choose another for the gap)`);
  const jobId = nextJobId();
  currentJob = jobId;
  if (!isVariantLoaded(manifest, variantId, s.settings.backend)) {
    await loadVariant(
      { jobId, manifest, source, variantId, backend: s.settings.backend },
      () => undefined,
    );
  }
  const [a, b] = await Promise.all([
    decodeKeyframe(keyframeBlob(gap.start.id)!),
    decodeKeyframe(keyframeBlob(gap.end.id)!),
  ]);
  const result = await runInterpolation(
    {
      jobId,
      variantId,
      start: a,
      end: b,
      fitMode: s.keyframes.fitMode,
      settings: { ...runSettingsOf(s.settings), count: positions.length, positions, seed },
    },
    (p) => {
      if (p.kind === 'denoise')
        patchStatus(gap.key, { state: 'running', detail: `step ${p.step} of ${p.totalSteps}` });
    },
  );
  return result;
}

function patchStatus(key: string, st: SceneState['status'][string]): void {
  patch('scene', { status: { ...scene().status, [key]: st } });
}

/** Makes every gap whose in-betweens are missing or out of date, one after another. */
export async function runScene(): Promise<void> {
  const s = useStudio.getState();
  clearMessages('scene');
  if (refuseWhileWorkerBusy('scene')) return;
  if (s.scene.keys.length < 2) {
    say('error', 'scene', 'Add two keys or more to make a scene.');
    return;
  }
  if (!s.packs.manifest) {
    say('error', 'scene', 'Choose a model pack first.');
    return;
  }
  const gaps = sceneGaps(s.scene);
  for (const g of gaps) {
    try {
      gapPositionsOf(g.spec);
    } catch (e) {
      say('error', 'scene', `Gap ${g.index + 1}: ${(e as Error).message}`);
      return;
    }
  }
  const todo = gaps.filter(gapIsStale);
  beginRun();
  patch('scene', {
    status: Object.fromEntries(todo.map((g) => [g.key, { state: 'queued' as const }])),
  });
  try {
    for (const gap of todo) {
      if (cancelRequested) break;
      patchStatus(gap.key, { state: 'running' });
      const seed = gap.spec.seed ?? scene().seed;
      const signature = gapSignature(gap, useStudio.getState());
      try {
        const result = await runGapJob(gap, gapPositionsOf(gap.spec), seed);
        const old = scene().results[gap.key];
        old?.frames.forEach(releaseFrame);
        // A re-roll waiting to be kept was of the frames made before: it goes with them.
        const reroll = scene().reroll;
        if (reroll?.gapKey === gap.key) releaseFrame(reroll.frame);
        const frames = result.frames.map((f) => frameFromBlob(f.png, f.position, seed));
        patchScene({
          results: { ...scene().results, [gap.key]: { signature, frames } },
          reroll: reroll?.gapKey === gap.key ? null : reroll,
        });
        patchStatus(gap.key, {
          state: 'done',
          // Clip packs take the nearest clip frames to the timing's positions: say which.
          detail: `${(result.timings.totalMs / frames.length).toFixed(0)} ms per in-between${result.clip ? ` · ${result.clip.pickedText}` : ''}`,
        });
      } catch (e) {
        if (wasStopped(e)) {
          patchStatus(gap.key, { state: 'cancelled' });
          break;
        }
        patchStatus(gap.key, { state: 'error', detail: (e as Error).message });
        say('error', 'scene', `Gap ${gap.index + 1} failed: ${(e as Error).message}`);
        break;
      }
    }
  } finally {
    currentJob = null;
    const st = scene().status;
    patch('scene', {
      running: false,
      stopping: false,
      stuck: false,
      status: Object.fromEntries(
        Object.entries(st).map(([k, v]) => [
          k,
          v.state === 'queued' ? { state: 'cancelled' as const } : v,
        ]),
      ),
    });
  }
}

/** Stops Run all (or a re-roll) after the current step; gaps already made stay. */
export function cancelScene(): void {
  if (!scene().running) return;
  cancelRequested = true;
  patch('scene', { stopping: true });
  if (currentJob !== null) cancelRun(currentJob);
  const which = runCount;
  offerForceStopLater(
    () => which === runCount && scene().running && scene().stopping,
    () => patch('scene', { stuck: true }),
  );
}

/** Stops the worker by force (a gap that does not answer Cancel); gaps already made stay. */
export function forceStopScene(): void {
  if (!scene().stopping) return;
  forced = true;
  stopWorkersByForce(false);
  say('info', 'scene', FORCE_STOPPED_MESSAGE);
}

/** Makes one in-between again with a new seed; the result waits to be kept or dropped. */
export async function rerollFrame(key: string, index: number): Promise<void> {
  const s = scene();
  const gap = sceneGaps(s).find((g) => g.key === key);
  const made = s.results[key]?.frames[index];
  if (!gap || !made || refuseWhileWorkerBusy('scene')) return;
  const seed = (made.seed + 1 + Math.floor(Math.random() * 0xfffffe)) >>> 0;
  beginRun();
  patchStatus(key, { state: 'running', detail: `re-rolling in-between ${index + 1}` });
  try {
    const result = await runGapJob(gap, [made.position], seed);
    const f = result.frames[0]!;
    const pending = scene().reroll; // a re-roll not yet kept or dropped gives way to this one
    if (pending) releaseFrame(pending.frame);
    patch('scene', {
      reroll: { gapKey: key, index, frame: frameFromBlob(f.png, f.position, seed) },
    });
    patchStatus(key, { state: 'done', detail: `re-rolled with seed ${seed}` });
  } catch (e) {
    if (wasStopped(e)) patchStatus(key, { state: 'cancelled', detail: 're-roll cancelled' });
    else {
      patchStatus(key, { state: 'error', detail: (e as Error).message });
      say('error', 'scene', `Re-roll failed: ${(e as Error).message}`);
    }
  } finally {
    currentJob = null;
    patch('scene', { running: false, stopping: false, stuck: false });
  }
}

/** Keeps the re-rolled in-between (true) in place of the one before, or drops it (false). */
export function settleReroll(keep: boolean): void {
  const s = scene();
  const r = s.reroll;
  if (!r) return;
  if (!keep) {
    releaseFrame(r.frame);
    patchScene({ reroll: null });
    return;
  }
  const made = s.results[r.gapKey];
  if (!made?.frames[r.index]) {
    // The gap's frames are gone (its key was removed): nothing to put the new one in place of.
    releaseFrame(r.frame);
    patchScene({ reroll: null });
    return;
  }
  const frames = [...made.frames];
  releaseFrame(frames[r.index]!);
  frames[r.index] = r.frame;
  patchScene({ reroll: null, results: { ...s.results, [r.gapKey]: { ...made, frames } } });
}

// ---- the scene as drawings ----------------------------------------------------------------------

export interface SceneCell {
  url: string | null;
  label: string;
  kind: 'key' | 'inbetween';
  hold: number;
  gapKey?: string;
  index?: number;
}

/** Every drawing in order: keys once, each gap's in-betweens (null URL where not made yet). */
export function sceneCells(s: SceneState): SceneCell[] {
  const cells: SceneCell[] = [];
  const gaps = sceneGaps(s);
  s.keys.forEach((k, i) => {
    const gap = gaps[i] ?? gaps[i - 1];
    cells.push({ url: k.url, label: `key ${i + 1}`, kind: 'key', hold: gap?.spec.exposure ?? 1 });
    const g = gaps[i];
    if (!g) return;
    let positions: number[];
    try {
      positions = gapPositionsOf(g.spec);
    } catch {
      positions = []; // typed positions not valid yet: the gap row says why
    }
    const made = s.results[g.key];
    positions.forEach((tau, j) => {
      const frame = made?.frames[j];
      cells.push({
        url: frame && !gapIsStaleFor(s, g) ? frame.url : null,
        label: `τ ${tau.toFixed(2)}`,
        kind: 'inbetween',
        hold: g.spec.exposure,
        gapKey: g.key,
        index: j,
      });
    });
  });
  return cells;
}

function gapIsStaleFor(s: SceneState, g: SceneGap): boolean {
  const made = s.results[g.key];
  return !made || made.frames.length !== g.spec.count;
}

/**
 * Why the scene cannot be exported as its gaps are set now, or null: a gap whose typed timing is not
 * valid, or whose in-betweens are missing or were made with other settings (the viewer still shows
 * those, but the file must match the timing on screen).
 */
function sceneExportProblem(): string | null {
  const reasons: string[] = [];
  let invalid = false;
  for (const g of sceneGaps(scene())) {
    try {
      gapPositionsOf(g.spec);
    } catch (e) {
      reasons.push(`gap ${g.index + 1}: ${(e as Error).message}`);
      invalid = true;
      continue;
    }
    if (gapIsStale(g))
      reasons.push(
        `gap ${g.index + 1} is ${scene().results[g.key] ? 'out of date (its settings changed since it was made)' : 'not made yet'}`,
      );
  }
  if (!reasons.length) return null;
  return `${reasons.join('; ')}. ${invalid ? 'Correct the timing, press Run all' : 'Press Run all'}, then export.`;
}

/** The scene's drawings with holds, for exports; throws when a gap is not made as set now. */
async function sceneExportDrawings(): Promise<ExportDrawing[]> {
  const problem = sceneExportProblem();
  if (problem) throw new Error(problem);
  const cells = sceneCells(scene());
  const images = await framesFromUrls(cells.map((c) => c.url!));
  return images.map((image, i) => ({ image, hold: cells[i]!.hold }));
}

/** Exports the whole scene (exposure applied) as `format`. */
export async function exportScene(
  format: ExportFormat,
  onProgress: (done: number, total: number) => void,
  isCancelled: () => boolean,
): Promise<{ file: string; bytes: number }> {
  const s = scene();
  const drawings = await sceneExportDrawings();
  const name = safeBaseName(
    s.keys[0]?.name.replace(/\.[^.]+$/, '').replace(/[_-]?\d+$/, '') || 'scene',
  );
  return exportDrawings(format, drawings, {
    fps: s.fps,
    mode: s.mode,
    name,
    onProgress,
    isCancelled,
  });
}

// ---- saving -------------------------------------------------------------------------------------

export interface SavedScene {
  version: 1;
  keys: { id: string; name: string; png: Blob }[];
  /** Each gap's own settings: whole in scenes saved before gaps kept only the fields set. */
  specs: Record<string, Partial<GapSpec>>;
  results: Record<
    string,
    { signature: string; frames: { png: Blob; position: number; seed: number }[] }
  >;
  defaults: GapSpec;
  seed: number;
  fps: number;
  mode: PlayMode;
  /** The viewer's onion skin; absent from scenes saved before it was kept (the defaults then). */
  onion?: OnionSkin;
}

let store: UseStore | null = null;
function sceneStore(): UseStore {
  store ??= createStore('inbetween-scene', 'scene');
  return store;
}

function toSaved(s: SceneState): SavedScene {
  return {
    version: 1,
    keys: s.keys.map((k) => ({ id: k.id, name: k.name, png: keyframeBlob(k.id)! })),
    specs: s.specs,
    results: Object.fromEntries(
      Object.entries(s.results).map(([k, r]) => [
        k,
        {
          signature: r.signature,
          frames: r.frames.map((f) => ({
            png: frameBlobs.get(f.url)!,
            position: f.position,
            seed: f.seed,
          })),
        },
      ]),
    ),
    defaults: s.defaults,
    seed: s.seed,
    fps: s.fps,
    mode: s.mode,
    onion: s.onion,
  };
}

let saveTimer: ReturnType<typeof setTimeout> | null = null;
/** Saves the scene to IndexedDB shortly after it changes. */
function scheduleSave(): void {
  if (saveTimer) clearTimeout(saveTimer);
  saveTimer = setTimeout(() => void saveScene(), 300);
}

/** Saves a change still waiting for its autosave now (before the page reloads or goes). */
export async function flushSceneSave(): Promise<void> {
  if (saveTimer === null) return;
  clearTimeout(saveTimer);
  await saveScene();
}

export async function saveScene(): Promise<void> {
  saveTimer = null;
  try {
    const s = scene();
    if (s.keys.length === 0) await del('current', sceneStore());
    else await set('current', toSaved(s), sceneStore());
  } catch (e) {
    say(
      'warning',
      'scene',
      `The scene could not be saved in this browser (${(e as Error).message}); export it as a project file to keep it.`,
    );
  }
}

/** Checks a saved or imported scene's shape (it comes from disk or another machine). */
export function checkSaved(x: unknown): SavedScene {
  const v = x as Partial<SavedScene> | null;
  if (
    !v ||
    v.version !== 1 ||
    !Array.isArray(v.keys) ||
    typeof v.specs !== 'object' ||
    !v.defaults
  ) {
    throw new Error('not an Inbetween Studio scene (version 1)');
  }
  const defaults = checkSpec(v.defaults, 'defaults');
  if (['count', 'timing', 'typed', 'exposure', 'seed'].some((f) => !(f in defaults)))
    throw new Error('defaults: settings missing');
  const specs = Object.fromEntries(
    Object.entries(v.specs ?? {}).map(([k, g]) => [k, checkSpec(g, `gap ${k}`)]),
  );
  if (v.keys.length > MAX_KEYS) throw new Error(`more than ${MAX_KEYS} keys`);
  if (!(typeof v.fps === 'number' && v.fps >= 1 && v.fps <= 60))
    throw new Error('frame rate out of range');
  if (!(Number.isInteger(v.seed) && v.seed! >= 0 && v.seed! <= 0xffffffff))
    throw new Error('seed out of range');
  return {
    ...(v as SavedScene),
    // Scenes saved before variants had no variantId: the one chosen in the Model panel.
    defaults: { variantId: null, ...defaults } as GapSpec,
    specs,
    onion: checkOnion(v.onion),
  };
}

/** A gap's settings as saved, each field present checked (a gap's own are any of them). */
function checkSpec(x: unknown, where: string): Partial<GapSpec> {
  if (typeof x !== 'object' || x === null) throw new Error(`${where}: settings out of range`);
  const g = x as Record<keyof GapSpec, unknown>;
  const ok: Record<keyof GapSpec, (v: unknown) => boolean> = {
    count: (c) => Number.isInteger(c) && (c as number) >= 1 && (c as number) <= 15,
    timing: (t) => TIMING_PRESETS.includes(t as TimingPreset),
    typed: (t) => typeof t === 'string',
    exposure: (e) => [1, 2, 3].includes(e as number),
    seed: (n) =>
      n === null || (Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff),
    variantId: (id) => id === null || typeof id === 'string',
  };
  const spec: Record<string, unknown> = {};
  // Only the known fields are kept; a field left out (or undefined) follows the defaults.
  for (const f of Object.keys(ok) as (keyof GapSpec)[]) {
    if (g[f] === undefined) continue;
    if (!ok[f](g[f])) throw new Error(`${where}: settings out of range`);
    spec[f] = g[f];
  }
  return spec as Partial<GapSpec>;
}

/** The onion skin as saved; the defaults for scenes saved before it was kept. */
function checkOnion(x: unknown): OnionSkin {
  if (x === undefined) return initialScene.onion;
  const o = x as Partial<OnionSkin> | null;
  const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 3;
  if (
    !o ||
    typeof o.on !== 'boolean' ||
    !count(o.before) ||
    !count(o.after) ||
    !(typeof o.opacity === 'number' && o.opacity >= 0.05 && o.opacity <= 0.8)
  )
    throw new Error('onion skin settings out of range');
  return { on: o.on, before: o.before!, after: o.after!, opacity: o.opacity };
}

/** Puts a saved scene on the page: keys re-registered, in-betweens as they were. Every key is decoded
 * before the scene on the page is let go: a key that fails (a PNG cut short passes the header check)
 * leaves that scene as it was. */
async function loadSaved(saved: SavedScene, restored: boolean): Promise<void> {
  const ids = new Map<string, string>();
  const keys: KeyframeInfo[] = [];
  try {
    for (const k of saved.keys) {
      const info = await describeImage(k.png, k.name);
      ids.set(k.id, info.id);
      keys.push(info);
    }
  } catch (e) {
    keys.forEach((k) => releaseImage(k));
    throw e;
  }
  const s = scene();
  s.keys.forEach((k) => releaseImage(k));
  Object.values(s.results).forEach((r) => r.frames.forEach(releaseFrame));
  // Gaps that name a key the scene no longer has are left out (a new key may get that id).
  const known = new Set(ids.keys());
  const rename = (key: string) =>
    key
      .split('>')
      .map((id) => ids.get(id))
      .join('>');
  const results: SceneState['results'] = {};
  for (const [k, r] of Object.entries(saved.results ?? {})) {
    if (!gapOf(k, known)) continue;
    results[rename(k)] = {
      // Ids changed: a signature is kept as it was (settings, not ids).
      signature: r.signature,
      frames: r.frames.map((f) => frameFromBlob(f.png, f.position, f.seed)),
    };
  }
  patch('scene', {
    ...s,
    keys,
    specs: Object.fromEntries(
      Object.entries(saved.specs)
        .filter(([k]) => gapOf(k, known))
        .map(([k, v]) => [rename(k), v]),
    ),
    results,
    status: {},
    defaults: saved.defaults,
    seed: saved.seed,
    fps: saved.fps,
    mode: saved.mode === 'pingpong' ? 'pingpong' : 'loop',
    onion: saved.onion ?? initialScene.onion,
    current: 0,
    reroll: null,
    restored,
  });
}

/** Brings back the scene autosaved in this browser, if any. */
export async function restoreScene(): Promise<void> {
  try {
    const saved = await get('current', sceneStore());
    if (saved) await loadSaved(checkSaved(saved), true);
  } catch (e) {
    say('warning', 'scene', `The saved scene could not be restored: ${(e as Error).message}`);
  }
}

/** The scene as one file (a zip: scene.json and the PNGs of keys and in-betweens). */
export function exportProject(): void {
  const saved = toSaved(scene());
  void (async () => {
    const files: Zippable = {};
    const json = {
      ...saved,
      keys: await Promise.all(
        saved.keys.map(async (k, i) => {
          const file = `keys/${String(i + 1).padStart(2, '0')}.png`;
          files[file] = new Uint8Array(await k.png.arrayBuffer());
          return { id: k.id, name: k.name, file };
        }),
      ),
      results: Object.fromEntries(
        await Promise.all(
          Object.entries(saved.results).map(async ([k, r], gi) => [
            k,
            {
              signature: r.signature,
              frames: await Promise.all(
                r.frames.map(async (f, i) => {
                  const file = `frames/${gi + 1}-${i + 1}.png`;
                  files[file] = new Uint8Array(await f.png.arrayBuffer());
                  return { file, position: f.position, seed: f.seed };
                }),
              ),
            },
          ]),
        ),
      ),
    };
    files['scene.json'] = strToU8(JSON.stringify(json, null, 1));
    const bytes = zipSync(files, { level: 0 });
    downloadBlob(
      'scene.inbetween.zip',
      new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/zip' }),
    );
  })().catch((e: unknown) =>
    say('error', 'scene', `The project file could not be made: ${(e as Error).message}`),
  );
}

/** The largest file a project may hold (a PNG at the pixel budget, uncompressible), in bytes. */
const PROJECT_FILE_MOST_BYTES = 80 * 2 ** 20;
/** The most a project may unpack to in all, in bytes. */
const PROJECT_MOST_BYTES = 2 * 2 ** 30;
/** The files a project holds: its scene.json and the PNGs of keys and in-betweens. */
const PROJECT_ENTRY = /^(scene\.json|(keys|frames)\/[^/]+\.png)$/;

/**
 * Unpacks a project file: only the entries a project holds, each refused when it declares more than
 * PROJECT_FILE_MOST_BYTES and all together more than PROJECT_MOST_BYTES (a zip bomb is refused from
 * its directory, before anything is inflated).
 */
function unpackProject(bytes: Uint8Array): Record<string, Uint8Array> {
  let total = 0;
  return unzipSync(bytes, {
    filter: (f) => {
      if (!PROJECT_ENTRY.test(f.name)) return false;
      if (f.originalSize > PROJECT_FILE_MOST_BYTES)
        throw new Error(
          `${f.name} would unpack to ${(f.originalSize / 2 ** 20).toFixed(0)} MB, more than a project's image can be`,
        );
      total += f.originalSize;
      if (total > PROJECT_MOST_BYTES)
        throw new Error(`it would unpack to more than ${PROJECT_MOST_BYTES / 2 ** 30} GB`);
      return true;
    },
  });
}

/** Opens a project file made by `exportProject` (here or on another machine). */
export async function importProject(file: Blob): Promise<void> {
  clearMessages('scene');
  if (scene().running) {
    say('error', 'scene', 'Wait for Run all to finish (or cancel it) before opening a project.');
    return;
  }
  try {
    const files = unpackProject(new Uint8Array(await file.arrayBuffer()));
    const jsonBytes = files['scene.json'];
    if (!jsonBytes) throw new Error('it has no scene.json');
    const json = JSON.parse(strFromU8(jsonBytes)) as Record<string, unknown>;
    const png = (name: unknown): Blob => {
      const bytes = typeof name === 'string' ? files[name] : undefined;
      if (!bytes || checkImageFile(bytes.subarray(0, 64), String(name))?.format !== 'png')
        throw new Error(`${String(name)} is missing or not a PNG`);
      return new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'image/png' });
    };
    const keys = (json.keys as { id: string; name: string; file: string }[] | undefined) ?? [];
    const saved = checkSaved({
      ...json,
      keys: keys.map((k) => ({ id: String(k.id), name: String(k.name), png: png(k.file) })),
      results: Object.fromEntries(
        Object.entries(
          (json.results as Record<
            string,
            { signature: string; frames: { file: string; position: number; seed: number }[] }
          >) ?? {},
        ).map(([k, r]) => [
          k,
          {
            signature: String(r.signature),
            frames: r.frames.map((f) => ({
              png: png(f.file),
              position: Number(f.position),
              seed: Number(f.seed),
            })),
          },
        ]),
      ),
    });
    await loadSaved(saved, false);
    scheduleSave();
  } catch (e) {
    say('error', 'scene', `This project file could not be opened: ${(e as Error).message}`);
  }
}

/** Exposure choices for menus. */
export const EXPOSURE_LABELS: Record<Exposure, string> = {
  1: 'on ones',
  2: 'on twos',
  3: 'on threes',
};
