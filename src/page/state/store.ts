/**
 * The studio's one zustand store, composed of typed slices: each feature's folder holds its
 * slice's types and initial value (`keyframes/keyframesSlice.ts`, `run/runSlice.ts`, …); this
 * module puts them together with the page's messages. Only serialisable data lives here: images
 * are object URLs, live handles (the worker, Blobs of keyframes and pack folders) live in the
 * modules that own them. Components read through the small selectors at the bottom.
 */
import { create } from 'zustand';
import { initialKeyframes, type KeyframesState } from '../keyframes/keyframesSlice';
import { initialPacks, type PacksState } from '../packs/packsSlice';
import { initialSettings, type SettingsState } from '../run/settingsSlice';
import { initialRun, type RunState } from '../run/runSlice';
import { initialEfficiency, type EfficiencyState } from '../efficiency/efficiencySlice';
import { initialHistory, type HistoryState } from '../history/historySlice';
import { initialSweep, type SweepState } from '../sweep/sweepSlice';
import { initialScene, type SceneState } from '../sequence/sequenceSlice';
import { initialEvaluate, type EvaluateState } from '../evaluate/evaluateSlice';
import { initialDatasetEval, type DatasetEvalState } from '../dataset/datasetSlice';
import { initialPwa, type PwaState } from '../pwa/pwaSlice';
import { initialKiosk, type KioskState } from '../kiosk/kioskSlice';

export interface Message {
  id: number;
  level: 'error' | 'warning' | 'info';
  /** Which part of the page it is about: "keyframes", "pack", "run", "cache". */
  scope: string;
  text: string;
}

export interface StudioState {
  keyframes: KeyframesState;
  packs: PacksState;
  settings: SettingsState;
  run: RunState;
  efficiency: EfficiencyState;
  history: HistoryState;
  sweep: SweepState;
  scene: SceneState;
  evaluate: EvaluateState;
  datasetEval: DatasetEvalState;
  pwa: PwaState;
  kiosk: KioskState;
  messages: Message[];
}

const initial: StudioState = {
  keyframes: initialKeyframes,
  packs: initialPacks,
  settings: initialSettings,
  run: initialRun,
  efficiency: initialEfficiency,
  history: initialHistory,
  sweep: initialSweep,
  scene: initialScene,
  evaluate: initialEvaluate,
  datasetEval: initialDatasetEval,
  pwa: initialPwa,
  kiosk: initialKiosk,
  messages: [],
};

export const useStudio = create<StudioState>()(() => initial);

/** Shallow-merges into one slice. */
export function patch<K extends keyof StudioState>(slice: K, value: Partial<StudioState[K]>): void {
  useStudio.setState(
    (s) => ({ [slice]: { ...(s[slice] as object), ...value } }) as Partial<StudioState>,
  );
}

let nextMessageId = 1;
/** Shows a message; replaces earlier messages of the same scope and level. */
export function say(level: Message['level'], scope: string, text: string): void {
  useStudio.setState((s) => ({
    messages: [
      ...s.messages.filter((m) => !(m.scope === scope && m.level === level)),
      { id: nextMessageId++, level, scope, text },
    ],
  }));
}

/** Clears messages of a scope (all levels), e.g. when the person fixes the problem. */
export function clearMessages(scope: string): void {
  useStudio.setState((s) => ({ messages: s.messages.filter((m) => m.scope !== scope) }));
}

export function dismissMessage(id: number): void {
  useStudio.setState((s) => ({ messages: s.messages.filter((m) => m.id !== id) }));
}

// ---- selectors ----------------------------------------------------------------------------------
export const selectVariant = (s: StudioState) =>
  s.packs.manifest?.variants.find((v) => v.id === s.packs.variantId) ?? null;
export const selectSelectedPack = (s: StudioState) =>
  s.packs.options.find((o) => o.key === s.packs.selectedKey) ?? null;
export const selectIsBusy = (s: StudioState) =>
  s.run.status === 'loading' || s.run.status === 'running' || s.run.status === 'cancelling';
/** The jobs that use the workers; one runs at a time. */
export type WorkerJob = 'run' | 'sweep' | 'efficiency' | 'dataset' | 'scene';

/** Which job holds the workers now, or null: the others' start buttons wait for it. */
export const selectWorkerJob = (s: StudioState): WorkerJob | null =>
  selectIsBusy(s)
    ? 'run'
    : s.sweep.status === 'running' || s.sweep.status === 'cancelling'
      ? 'sweep'
      : s.efficiency.measuring !== null
        ? 'efficiency'
        : s.datasetEval.status !== 'idle'
          ? 'dataset'
          : s.scene.running
            ? 'scene'
            : null;

/** What a job that wants the workers tells the person while `job` holds them. */
export const WORKER_JOB_BUSY: Record<WorkerJob, string> = {
  run: 'A run is in progress: wait for it or cancel it first.',
  sweep: 'A sweep is in progress: wait for it or cancel it first.',
  efficiency: 'The efficiency table is being measured: wait for it or cancel it first.',
  dataset: 'A dataset evaluation is in progress: pause or cancel it first.',
  scene: "The scene's Run all is in progress: wait for it or cancel it first.",
};

/** Whether another job holds the workers now; if one does, says which under `scope`. */
export function refuseWhileWorkerBusy(scope: string): boolean {
  const job = selectWorkerJob(useStudio.getState());
  if (job === null) return false;
  say('error', scope, WORKER_JOB_BUSY[job]);
  return true;
}

export const selectCanRun = (s: StudioState) =>
  Boolean(s.keyframes.start && s.keyframes.end && s.packs.manifest && s.packs.variantId) &&
  selectWorkerJob(s) === null;
