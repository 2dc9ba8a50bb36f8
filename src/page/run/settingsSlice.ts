/** The run settings slice: what the next run uses. */
import type { BackendPreference } from '../../shared/protocol';

export interface SettingsState {
  steps: number;
  seed: number;
  count: number;
  loraScale: number | null;
  /** Re-run (same seed, keyframes and loaded model) whenever the LoRA scale moves. */
  liveLora: boolean;
  backend: BackendPreference;
}

export const initialSettings: SettingsState = {
  steps: 8,
  seed: 42,
  count: 3,
  loraScale: null,
  liveLora: true,
  backend: 'auto',
};
