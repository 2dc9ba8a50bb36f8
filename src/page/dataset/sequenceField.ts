/**
 * The Evaluate-dataset panel's "Sequences: keyframes every K frames" field as typed. A folder is
 * described only with a valid K: describeDataset refuses any other by throwing, and a value on its
 * way to a valid one ("1" before "12") or a slip ("2.5", "e") must show a hint, not fail.
 */
import type { SequenceMode } from '../../core/evaluation/dataset';

/** What the field asks for while its value is not a valid K. */
export const EVERY_HINT = 'a whole number of frames, 2 or more';

/** The sequence mode the field asks for: triplets when it is empty, null while it is not valid. */
export function sequenceModeOf(every: string): SequenceMode | null {
  if (!every.trim()) return 'triplets';
  const k = Number(every);
  return Number.isInteger(k) && k >= 2 ? { keyframesEvery: k } : null;
}
