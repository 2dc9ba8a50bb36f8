/** The run settings slice: what the next run uses. */
import type { SamplerName } from '../../core/samplers';
import type { BackendPreference } from '../../shared/protocol';

export interface SettingsState {
  steps: number;
  seed: number;
  count: number;
  loraScale: number | null;
  /** Re-run (same seed, keyframes and loaded model) whenever the LoRA scale or guidance scale moves. */
  liveLora: boolean;
  backend: BackendPreference;
  /** Format-2 packs with guidance: the classifier-free guidance scale (null: the pack has none). */
  guidanceScale: number | null;
  /** Format-2 packs: the scalar conditioning inputs by name (ToonCrafter's fs). */
  scalars: Record<string, number>;
  /** Format-2 packs with prompts: the chosen prompt's id. */
  promptId: string | null;
  /** Format-2 packs with a text encoder: the typed prompt ('' uses the chosen prompt). */
  promptText: string;
  /** Another sampler of the pack's family (EDM packs); null runs the pack's own. */
  sampler: SamplerName | null;
}

export const initialSettings: SettingsState = {
  steps: 8,
  seed: 42,
  count: 3,
  loraScale: null,
  liveLora: true,
  backend: 'auto',
  guidanceScale: null,
  scalars: {},
  promptId: null,
  promptText: '',
  sampler: null,
};
