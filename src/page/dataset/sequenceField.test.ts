/** The "keyframes every" field: only a whole K ≥ 2 describes a folder as sequences. */
import { describe, expect, it } from 'vitest';
import { describeDataset } from '../../core/evaluation/dataset';
import { sequenceModeOf } from './sequenceField';

describe('sequenceModeOf', () => {
  it('is triplets when the field is empty', () => {
    expect(sequenceModeOf('')).toBe('triplets');
    expect(sequenceModeOf('  ')).toBe('triplets');
  });

  it('takes a whole number of frames, 2 or more', () => {
    expect(sequenceModeOf('2')).toEqual({ keyframesEvery: 2 });
    expect(sequenceModeOf('12')).toEqual({ keyframesEvery: 12 });
  });

  it('is null (no description) for what describeDataset would refuse by throwing', () => {
    const files = ['seq/f1.png', 'seq/f2.png', 'seq/f3.png'];
    for (const typed of ['1', '0', '-3', '2.5', 'e', '1e', '.', 'NaN', 'Infinity']) {
      expect(sequenceModeOf(typed), typed).toBeNull();
      // What the panel passed before: Number(typed) as K.
      expect(() => describeDataset(files, { sequence: { keyframesEvery: Number(typed) } })).toThrow(
        'keyframes every k frames needs a whole k ≥ 2',
      );
    }
  });
});
