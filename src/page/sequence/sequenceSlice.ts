/** The scene slice: a row of keys, each gap's settings and in-betweens, and the scene viewer. */
import type { KeyframeInfo } from '../keyframes/keyframesSlice';
import type { PlayMode } from '../../core/sequence/sequence';
import type { Exposure, TimingPreset } from '../../core/sequence/timing';

/** What a gap asks for; `null` seed / variant take the scene's. */
export interface GapSpec {
  count: number;
  timing: TimingPreset;
  /** The typed positions as typed (used when `timing` is `typed`). */
  typed: string;
  exposure: Exposure;
  seed: number | null;
  /** The pack variant that makes this gap (null: the one chosen in the Model panel). */
  variantId: string | null;
}

/** A gap's in-between as made: its image and how it was made. */
export interface SceneFrame {
  url: string;
  position: number;
  seed: number;
}

export interface GapResult {
  /** `gapSignature` of the settings the frames were made with. */
  signature: string;
  frames: SceneFrame[];
}

export interface GapStatus {
  state: 'queued' | 'running' | 'done' | 'error' | 'cancelled';
  detail?: string;
}

/** A re-rolled in-between waiting to be kept or dropped. */
export interface Reroll {
  gapKey: string;
  index: number;
  frame: SceneFrame;
}

/** What the viewer's onion skin shows: how many drawings before and after, and how strongly. */
export interface OnionSkin {
  on: boolean;
  /** Drawings shown before the current one (0–3), tinted red. */
  before: number;
  /** Drawings shown after the current one (0–3), tinted green. */
  after: number;
  /** Opacity of the nearest ghost (0.05–0.8); the next ones fade with their distance. */
  opacity: number;
}

export interface SceneState {
  keys: KeyframeInfo[];
  /**
   * Gap settings changed from `defaults`, by `gapKey` (the ids of its two keys): only the fields a
   * person set, so the defaults still apply to the others. Reordering keeps what still applies.
   */
  specs: Record<string, Partial<GapSpec>>;
  results: Record<string, GapResult>;
  status: Record<string, GapStatus>;
  defaults: GapSpec;
  seed: number;
  fps: number;
  mode: PlayMode;
  running: boolean;
  /** Cancel was pressed and the gap in progress has not stopped yet. */
  stopping: boolean;
  /** Cancel has not taken effect for a while: the panel offers Force stop. */
  stuck: boolean;
  /** The frame of the scene's timeline on screen (an index into its drawings). */
  current: number;
  onion: OnionSkin;
  reroll: Reroll | null;
  /** Restored from IndexedDB after a reload (the page says so once). */
  restored: boolean;
}

export const initialScene: SceneState = {
  keys: [],
  specs: {},
  results: {},
  status: {},
  defaults: { count: 3, timing: 'even', typed: '', exposure: 1, seed: null, variantId: null },
  seed: 42,
  fps: 12,
  mode: 'loop',
  running: false,
  stopping: false,
  stuck: false,
  current: 0,
  onion: { on: false, before: 1, after: 1, opacity: 0.35 },
  reroll: null,
  restored: false,
};
