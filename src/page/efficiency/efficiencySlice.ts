/** The efficiency slice: the measured table. */
import type { BackendName } from '../../shared/protocol';

/** One row of the efficiency table: a variant measured on this machine and backend. */
export interface EfficiencyRow {
  variantId: string;
  precision: string;
  backend: BackendName;
  /** Denoiser file size (bytes). */
  denoiserBytes: number;
  /** All graphs the variant loads (encoder + decoder + denoiser). */
  totalBytes: number;
  /** Denoiser session creation, ms (null when it was already loaded). */
  sessionMs: number | null;
  stepMs: number;
  decodeMs: number;
  inbetweenMs: number;
  steps: number;
  size: [number, number];
  /** WASM linear memory of the worker that loaded and ran only this variant (bytes; null: not exposed). */
  wasmHeapBytes: number | null;
  /** Most WebGPU buffer bytes live at once while it ran (null: no WebGPU buffers here). */
  gpuPeakBytes: number | null;
}

/** The pack the rows were measured on (the table keeps it when another pack is chosen). */
export interface MeasuredPack {
  id: string;
  version: string;
  /** A clip pack's frames per clip (its times are per clip), else null. */
  clipLength: number | null;
}

export interface EfficiencyState {
  measuring: string | null;
  rows: EfficiencyRow[];
  pack: MeasuredPack | null;
}

export const initialEfficiency: EfficiencyState = { measuring: null, rows: [], pack: null };
