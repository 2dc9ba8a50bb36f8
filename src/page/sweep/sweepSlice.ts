/** The sweep slice: a sweep's status and rows. */
import type { FrameView } from '../run/runSlice';

/** One row of a sweep: a variant at one LoRA scale and step count, with its frames. */
export interface SweepRow {
  key: string;
  variantId: string;
  loraScale: number | null;
  steps: number;
  /** The guidance scale the row ran at (packs with classifier-free guidance), else null. */
  guidanceScale: number | null;
  frames: FrameView[];
  /** Scores of the τ = 0.5 in-between when a ground truth is set. */
  psnr: number | null;
  ssim: number | null;
  lpipsAlex: number | null;
  /** τ of the in-between those scores are of: 0.5, or a clip pack's frame nearest it (null: not scored). */
  scoredTau: number | null;
  finalStd: number;
}

export interface SweepState {
  status: 'idle' | 'running' | 'cancelling' | 'done' | 'cancelled' | 'error';
  seed: number;
  total: number;
  rows: SweepRow[];
  /** Cancel has not taken effect for a while: the panel offers Force stop. */
  stuck: boolean;
}

export const initialSweep: SweepState = {
  status: 'idle',
  seed: 0,
  total: 0,
  rows: [],
  stuck: false,
};
