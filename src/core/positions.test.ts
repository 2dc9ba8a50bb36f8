import { describe, expect, it } from 'vitest';
import { GROUND_TRUTH_TAU, groundTruthIndex, inbetweenPositions } from './pipeline';

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
});
