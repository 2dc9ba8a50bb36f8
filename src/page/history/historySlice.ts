/** The history slice: runs listed from IndexedDB and the frames being compared. */
import type { FrameView } from '../run/runSlice';

/** A run as listed in the history panel (the frames themselves stay in IndexedDB). */
export interface HistoryEntry {
  id: string;
  createdAt: number;
  packId: string;
  variantId: string;
  loraScale: number | null;
  steps: number;
  seed: number;
  count: number;
  keyframes: string;
  sizeBytes: number;
  psnr: number | null;
  lpipsAlex: number | null;
}

export interface HistoryState {
  entries: HistoryEntry[];
  compare: FrameView[][] | null;
}

export const initialHistory: HistoryState = { entries: [], compare: null };
