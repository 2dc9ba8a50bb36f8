import { describe, expect, it } from 'vitest';
import { throttleProgress, type JobProgress } from './progress';

describe('throttleProgress', () => {
  it('passes about 10 updates a second, and every change of kind, decode and last step', () => {
    let t = 0;
    const sent: JobProgress[] = [];
    const send = throttleProgress(
      (p) => sent.push(p),
      () => t,
    );
    const step = (s: number): JobProgress => ({
      kind: 'denoise',
      step: s,
      totalSteps: 50,
      batch: 0,
      totalBatches: 1,
    });
    send({ kind: 'encode', done: 0, total: 2 });
    for (let s = 1; s <= 50; s++) {
      t += 10; // a step every 10 ms: 500 ms in all
      send(step(s));
    }
    send({ kind: 'decode', frame: 0, total: 2 });
    send({ kind: 'decode', frame: 1, total: 2 });
    const steps = sent.filter((p) => p.kind === 'denoise').map((p) => (p as { step: number }).step);
    expect(steps[0]).toBe(1); // a new kind passes at once
    expect(steps.at(-1)).toBe(50); // the last step always passes
    expect(steps.length).toBeGreaterThanOrEqual(5);
    expect(steps.length).toBeLessThanOrEqual(7);
    expect(sent.filter((p) => p.kind === 'decode')).toHaveLength(2);
    expect(sent[0]).toEqual({ kind: 'encode', done: 0, total: 2 });
  });

  it('lets a forced event and warnings through at any rate', () => {
    const sent: JobProgress[] = [];
    const send = throttleProgress(
      (p) => sent.push(p),
      () => 0,
    );
    send({ kind: 'verify', file: 'a' });
    send({ kind: 'verify', file: 'b' });
    send({ kind: 'verify', file: 'c' }, true);
    send({ kind: 'warning', message: 'x' });
    send({ kind: 'warning', message: 'y' });
    expect(sent.map((p) => ('file' in p ? p.file : p.kind))).toEqual([
      'a',
      'c',
      'warning',
      'warning',
    ]);
  });
});
