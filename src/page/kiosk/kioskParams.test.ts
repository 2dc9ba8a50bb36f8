import { describe, expect, it } from 'vitest';
import { kioskParams } from './kioskParams';

describe('kioskParams', () => {
  it('is off without ?kiosk and on with it, with the defaults', () => {
    expect(kioskParams('').enabled).toBe(false);
    expect(kioskParams('?kiosk=0').enabled).toBe(false);
    const p = kioskParams('?kiosk');
    expect(p).toEqual({
      enabled: true,
      idleMs: 60_000,
      stallMs: 30_000,
      dwellMs: 6000,
      frames: 3,
      acts: ['compare', 'lora'],
      seed: 7,
      heapLimitBytes: null,
    });
    expect(kioskParams('?pack=cel&kiosk=1').enabled).toBe(true);
  });

  it('reads seconds, clamps them, and falls back on nonsense', () => {
    const p = kioskParams('?kiosk&idle=2.5&stall=1&dwell=abc&frames=12&seed=-3');
    expect(p.idleMs).toBe(2500);
    expect(p.stallMs).toBe(2000); // at least 2 s
    expect(p.dwellMs).toBe(6000); // default
    expect(p.frames).toBe(7); // at most 7
    expect(p.seed).toBe(0);
    expect(kioskParams('?kiosk&idle=0').idleMs).toBe(2000);
    expect(kioskParams('?kiosk&frames=2.5').frames).toBe(3);
  });

  it('reads a WASM heap limit in MiB, clamped to 16–4096', () => {
    const MiB = 1024 * 1024;
    expect(kioskParams('?kiosk&heap=1024').heapLimitBytes).toBe(1024 * MiB);
    expect(kioskParams('?kiosk&heap=8').heapLimitBytes).toBe(16 * MiB);
    expect(kioskParams('?kiosk&heap=99999').heapLimitBytes).toBe(4096 * MiB);
    expect(kioskParams('?kiosk&heap=lots').heapLimitBytes).toBeNull();
    expect(kioskParams('?kiosk&heap=').heapLimitBytes).toBeNull();
  });

  it('keeps only known attract acts, in the order given', () => {
    expect(kioskParams('?kiosk&acts=student').acts).toEqual(['student']);
    expect(kioskParams('?kiosk&acts=lora,bogus,compare').acts).toEqual(['lora', 'compare']);
    expect(kioskParams('?kiosk&acts=bogus').acts).toEqual(['compare', 'lora']);
  });
});
