/**
 * Timing of a gap between two keys, as on an animator's timing chart: where its in-betweens fall
 * between the keys (τ in (0, 1), the keys themselves at 0 and 1 excluded) and how long each frame
 * is held (exposure: on ones, twos, threes).
 *
 * Presets map the even chart x_i = i/(N+1) through a curve τ = f(x), so spacing follows the
 * curve and positions stay strictly increasing:
 * - `even`: τ = x.
 * - `ease-in`: slow out of the first key, τ = x² (drawings bunch up near the first key).
 * - `ease-out`: slow into the last key, τ = 1 − (1 − x)².
 * - `ease-in-out`: slow out and slow in, τ = (1 − cos πx)/2.
 * - `favour-first` / `favour-last`: a gentler pull towards one key: the middle drawing lands at ⅓
 *   (or ⅔) of the way instead of ½ — τ = x^log₂3 (or its mirror), the animator's "favouring".
 * - `typed`: positions typed by the person, checked (strictly increasing, inside (0, 1)).
 */

/** Most in-betweens one gap may have (the pipeline's limit). */
export const MAX_GAP_INBETWEENS = 15;

export const TIMING_PRESETS = [
  'even',
  'ease-in',
  'ease-out',
  'ease-in-out',
  'favour-first',
  'favour-last',
  'typed',
] as const;
export type TimingPreset = (typeof TIMING_PRESETS)[number];

/** Labels for menus, in an animator's words. */
export const TIMING_LABELS: Record<TimingPreset, string> = {
  even: 'Even',
  'ease-in': 'Ease in (slow out of the first key)',
  'ease-out': 'Ease out (slow into the last key)',
  'ease-in-out': 'Ease in-out (slow at both keys)',
  'favour-first': 'Favour the first key',
  'favour-last': 'Favour the last key',
  typed: 'Typed positions',
};

export interface GapTiming {
  preset: TimingPreset;
  /** Only for `typed`: the positions, one per in-between. */
  positions?: number[];
}

export const EXPOSURES = [1, 2, 3] as const;
export type Exposure = (typeof EXPOSURES)[number];

const FAVOUR = Math.log2(3); // x^FAVOUR at x = ½ is ⅓

function curve(preset: Exclude<TimingPreset, 'typed'>, x: number): number {
  switch (preset) {
    case 'even':
      return x;
    case 'ease-in':
      return x * x;
    case 'ease-out':
      return 1 - (1 - x) * (1 - x);
    case 'ease-in-out':
      return (1 - Math.cos(Math.PI * x)) / 2;
    case 'favour-first':
      return Math.pow(x, FAVOUR);
    case 'favour-last':
      return 1 - Math.pow(1 - x, FAVOUR);
  }
}

/** Checks typed positions: `count` finite numbers, strictly increasing, each strictly between 0 and 1. */
export function checkTypedPositions(positions: readonly number[], count: number): void {
  if (positions.length !== count) {
    throw new Error(
      `typed timing: ${count} in-between${count === 1 ? '' : 's'} need${count === 1 ? 's' : ''} ${count} position${count === 1 ? '' : 's'}, got ${positions.length}`,
    );
  }
  positions.forEach((p, i) => {
    if (!Number.isFinite(p) || p <= 0 || p >= 1) {
      throw new Error(
        `typed timing: position ${i + 1} must be between 0 and 1 (the keys), got ${p}`,
      );
    }
    if (i > 0 && p <= positions[i - 1]!) {
      throw new Error(
        `typed timing: positions must increase from the first key to the last; ${p} follows ${positions[i - 1]}`,
      );
    }
  });
}

/** τ of each of a gap's `count` in-betweens under `timing`. */
export function timingPositions(count: number, timing: GapTiming): number[] {
  if (!Number.isInteger(count) || count < 1 || count > MAX_GAP_INBETWEENS) {
    throw new Error(`a gap takes 1 to ${MAX_GAP_INBETWEENS} in-betweens, got ${count}`);
  }
  if (timing.preset === 'typed') {
    const typed = timing.positions ?? [];
    checkTypedPositions(typed, count);
    return [...typed];
  }
  if (!TIMING_PRESETS.includes(timing.preset)) {
    throw new Error(`unknown timing "${String(timing.preset)}" (${TIMING_PRESETS.join(', ')})`);
  }
  const preset = timing.preset;
  return Array.from({ length: count }, (_, i) => curve(preset, (i + 1) / (count + 1)));
}

/**
 * Typed positions from text as a person types them: numbers separated by commas or spaces, each
 * a fraction (0.25) or a ratio (1/4). Throws with the reason when they are not valid for `count`.
 */
export function parseTypedPositions(text: string, count: number): number[] {
  const parts = text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const values = parts.map((s) => {
    const ratio = /^(\d+(?:\.\d+)?)\s*\/\s*(\d+(?:\.\d+)?)$/.exec(s);
    const v = ratio
      ? Number(ratio[1]) / Number(ratio[2])
      : /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(s)
        ? Number(s)
        : NaN;
    if (!Number.isFinite(v))
      throw new Error(`typed timing: "${s}" is not a number such as 0.25 or 1/4`);
    return v;
  });
  checkTypedPositions(values, count);
  return values;
}

/** Checks an exposure (frames each drawing is held). */
export function checkExposure(exposure: number): asserts exposure is Exposure {
  if (!(EXPOSURES as readonly number[]).includes(exposure)) {
    throw new Error(`exposure must be on ones, twos or threes (1, 2 or 3), got ${exposure}`);
  }
}
