/** The evaluate slice: the ground truth, LPIPS availability and the scores. */
import type { BackendName } from '../../shared/protocol';
import type { KeyframeInfo } from '../keyframes/keyframesSlice';

/** The scores of one run's τ = 0.5 in-between against the ground truth. */
export interface ScoreRow {
  jobId: number;
  variantId: string;
  loraScale: number | null;
  steps: number;
  seed: number;
  backend: BackendName;
  /** dB; Infinity when identical. */
  psnr: number;
  ssim: number;
  ssimLuma: number;
  lpipsAlex: number | null;
  lpipsSqueeze: number | null;
  lpipsNote: string | null;
  resultUrl: string;
  heatmapUrl: string;
  lpipsMapUrl: string | null;
}

export interface EvaluateState {
  groundTruth: KeyframeInfo | null;
  lpips: {
    /** `found`: the graphs' manifest was read; the graphs load before the first score. */
    state: 'loading' | 'found' | 'ready' | 'unavailable';
    available: string[];
    message: string | null;
  };
  scoring: boolean;
  /** Newest first. */
  scores: ScoreRow[];
}

export const initialEvaluate: EvaluateState = {
  groundTruth: null,
  lpips: { state: 'loading', available: [], message: null },
  scoring: false,
  scores: [],
};
