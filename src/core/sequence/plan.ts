/**
 * The settings of a scene and what the page and the command line do with each gap's results, so
 * that both write the same frames: positions from the timing, the model's in-betweens restored to
 * the keys' size, alpha carried for transparent keys, then the drawings in order with their holds.
 */
import type { RgbaImage } from '../image';
import { restoreFrame, type InterpolationResult, type PreparedKeyframes } from '../pipeline';
import { alphaMotion, carryAlpha, hasAlpha } from './alpha';
import type { ExportDrawing } from './export';
import { assembleSequence, type PlayMode } from './sequence';
import { checkExposure, timingPositions, type Exposure, type GapTiming } from './timing';

export interface GapSettings {
  count: number;
  timing: GapTiming;
  exposure: Exposure;
  /** This gap's seed (default: the scene's). */
  seed?: number;
  /** This gap's variant (default: the scene's). */
  variantId?: string;
}

export interface SceneSettings {
  gaps: GapSettings[];
  seed: number;
  variantId: string;
  steps: number;
  fps: number;
  mode: PlayMode;
}

/** Checks that keys can make one scene: at least two, all the same size. */
export function checkKeys(keys: readonly RgbaImage[], names?: readonly string[]): void {
  if (keys.length < 2) throw new Error(`a scene needs two keys or more, got ${keys.length}`);
  const { width, height } = keys[0]!;
  keys.forEach((k, i) => {
    if (k.width !== width || k.height !== height) {
      const name = (j: number) => names?.[j] ?? `key ${j + 1}`;
      throw new Error(
        `${name(i)} is ${k.width}×${k.height} but ${name(0)} is ${width}×${height}; every key of a scene has one size`,
      );
    }
  });
}

/** τ of each gap's in-betweens. */
export function gapPositions(gaps: readonly GapSettings[]): number[][] {
  return gaps.map((g, i) => {
    try {
      checkExposure(g.exposure);
      return timingPositions(g.count, g.timing);
    } catch (e) {
      throw new Error(`gap ${i + 1} (keys ${i + 1}–${i + 2}): ${(e as Error).message}`, {
        cause: e,
      });
    }
  });
}

/**
 * A gap's in-betweens at the keys' size, from an interpolation of its fitted keys: each model frame
 * restored from the pack's frame (and, when either key has alpha, given alpha carried along the
 * pack's motion output, else Farnebäck between the fitted keys; `src/core/sequence/alpha.ts`).
 */
export function gapFrames(
  result: Pick<InterpolationResult, 'modelFrames' | 'positions' | 'encoded'>,
  prepared: PreparedKeyframes,
  start: RgbaImage,
  end: RgbaImage,
): RgbaImage[] {
  const { modelFrames, positions } = result;
  const motion = result.encoded.motion;
  const transparent = hasAlpha(start) || hasAlpha(end);
  const flows = transparent ? (motion ?? alphaMotion(prepared.start, prepared.end)) : undefined;
  return modelFrames.map((frame, i) => {
    const withAlpha = flows
      ? carryAlpha(frame, prepared.start, prepared.end, positions[i]!, flows)
      : frame;
    // Crop fits are pasted over the start key (what lies outside the crop); alpha is kept.
    return restoreFrame(
      withAlpha,
      prepared.plan,
      prepared.plan.mode === 'crop' ? start : undefined,
    );
  });
}

/** The scene's drawings in order with their holds, from the keys and each gap's in-betweens. */
export function sceneDrawings(
  keys: readonly RgbaImage[],
  gaps: readonly GapSettings[],
  inbetweens: readonly (readonly RgbaImage[])[],
): ExportDrawing[] {
  const positions = gapPositions(gaps);
  return assembleSequence(
    keys.length,
    gaps.map((g, i) => ({ positions: positions[i]!, exposure: g.exposure })),
  ).map((d) => {
    const image = d.kind === 'key' ? keys[d.key]! : inbetweens[d.gap]?.[d.index];
    if (!image) {
      throw new Error(
        d.kind === 'inbetween'
          ? `gap ${d.gap + 1} has not been made yet (in-between ${d.index + 1} missing)`
          : `key ${d.key + 1} is missing`,
      );
    }
    return { image, hold: d.hold };
  });
}
