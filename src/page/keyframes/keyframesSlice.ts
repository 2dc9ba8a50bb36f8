/** The keyframes slice: the two keyframes (their Blobs stay in keyframeActions.ts) and the fit. */
import type { FitChoice } from '../../core/image';

export type Slot = 'start' | 'end';

export interface KeyframeInfo {
  id: string;
  name: string;
  /** Object URL of the original file. */
  url: string;
  width: number;
  height: number;
}

export interface KeyframesState {
  start: KeyframeInfo | null;
  end: KeyframeInfo | null;
  /** The person's choice (`auto` by default); each run's plan records the mode it resolved to. */
  fitMode: FitChoice;
}

export const initialKeyframes: KeyframesState = { start: null, end: null, fitMode: 'auto' };
