import { describe, expect, it } from 'vitest';
import { pickClipFrames } from './clip';
import {
  GROUND_TRUTH_TAU,
  groundTruthIndex,
  inbetweenPositions,
  scoredFrameIndex,
} from './pipeline';

describe('in-between positions and the ground truth', () => {
  it('puts N in-betweens at i/(N+1)', () => {
    expect(inbetweenPositions(3)).toEqual([0.25, 0.5, 0.75]);
    expect(() => inbetweenPositions(0)).toThrow(/from 1 to/);
  });

  it('finds the τ = ½ frame of an odd count, and none of an even one', () => {
    expect(GROUND_TRUTH_TAU).toBe(0.5);
    expect(groundTruthIndex(inbetweenPositions(1))).toBe(0);
    expect(groundTruthIndex(inbetweenPositions(7))).toBe(3);
    expect(groundTruthIndex(inbetweenPositions(15))).toBe(7);
    expect(groundTruthIndex(inbetweenPositions(2))).toBe(-1);
  });

  it('scores an even clip by its frame nearest ½, and only that frame', () => {
    // A 16-frame clip has frames at k/15: one in-between asked at ½ gives frame 7 (τ 7/15).
    const one = pickClipFrames(16, 1).map((p) => p.position);
    expect(scoredFrameIndex(one, 16)).toBe(0);
    // Both neighbours of ½ returned: the earlier, as the dataset evaluation takes.
    expect(scoredFrameIndex([6 / 15, 7 / 15, 8 / 15], 16)).toBe(1);
    // Frames at ⅓ and ⅔ are not the middle: nothing is scored.
    expect(
      scoredFrameIndex(
        pickClipFrames(16, 2).map((p) => p.position),
        16,
      ),
    ).toBe(-1);
    // Position packs (no clip length) need τ = ½ exactly.
    expect(scoredFrameIndex([7 / 15], null)).toBe(-1);
    expect(scoredFrameIndex(inbetweenPositions(3), null)).toBe(1);
  });

  it('takes a timing chart’s positions, checked', () => {
    expect(inbetweenPositions(2, [0.1, 0.7])).toEqual([0.1, 0.7]);
    expect(() => inbetweenPositions(2, [0.7, 0.1])).toThrow(/must increase/);
    expect(() => inbetweenPositions(2, [0.5])).toThrow(/need 2 positions/);
    // A clip pack takes the nearest of its frames (τ = k/15 for a 16-frame clip), each once.
    const picked = pickClipFrames(16, 3, [0.05, 0.07, 0.9]);
    expect(picked.map((p) => p.index)).toEqual([1, 2, 13]);
    expect(picked.map((p) => p.asked)).toEqual([0.05, 0.07, 0.9]);
  });
});
