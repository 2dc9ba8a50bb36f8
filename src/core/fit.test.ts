import { describe, expect, it } from 'vitest';
import { createRgbaImage } from './image';
import type { PackManifest } from './manifest';
import { modelFrameSize, prepareKeyframes, resolveFit } from './pipeline';

/** resolveFit and the fits read only the manifest's image block. */
function pack(image: Partial<PackManifest['image']> = {}): PackManifest {
  return {
    image: { defaultSize: [192, 128], multipleOf: 64, valueRange: [-1, 1], channels: 3, ...image },
  } as PackManifest;
}

describe('the auto fit', () => {
  it('runs keyframes at their own size when that frame has no more pixels than the pack frame', () => {
    const m = pack();
    // 150×90 → 192×128: the pack frame itself, nothing resampled.
    expect(resolveFit(m, 150, 90, 'auto')).toBe('native');
    expect(modelFrameSize(m, 150, 90, 'auto')).toEqual([192, 128]);
    // Portrait 100×180 → 128×192 (24 576 px, as many as 192×128): native too.
    expect(resolveFit(m, 100, 180, 'auto')).toBe('native');
    expect(modelFrameSize(m, 100, 180, 'auto')).toEqual([128, 192]);
    // 200×100 → 256×128 would cost more than the pack frame: letterbox.
    expect(resolveFit(m, 200, 100, 'auto')).toBe('letterbox');
    expect(modelFrameSize(m, 200, 100, 'auto')).toEqual([192, 128]);
    expect(resolveFit(m, 1920, 1080, 'auto')).toBe('letterbox');
  });

  it('leaves an explicit choice as it is', () => {
    const m = pack();
    expect(resolveFit(m, 150, 90, 'letterbox')).toBe('letterbox');
    expect(resolveFit(m, 150, 90, 'crop')).toBe('crop');
    expect(resolveFit(m, 200, 100, 'native')).toBe('native');
    expect(modelFrameSize(m, 200, 100, 'native')).toEqual([256, 128]);
  });

  it('letterboxes for a pack whose graphs take one size only', () => {
    const m = pack({ fixedSize: true });
    expect(resolveFit(m, 64, 64, 'auto')).toBe('letterbox');
    expect(modelFrameSize(m, 64, 64, 'auto')).toEqual([192, 128]);
  });

  it('records the mode it chose in the plan, and keeps small keyframes pixel for pixel', () => {
    const m = pack();
    const start = createRgbaImage(150, 90);
    const end = createRgbaImage(150, 90);
    for (let i = 0; i < start.data.length; i += 4) {
      start.data.set([(i / 4) % 251, 40, 90, 255], i);
      end.data.set([30, (i / 4) % 241, 200, 255], i);
    }
    const prepared = prepareKeyframes(m, start, end, 'auto');
    expect(prepared.plan.mode).toBe('native');
    expect([prepared.start.width, prepared.start.height]).toEqual([192, 128]);
    const { offsetX, offsetY } = prepared.plan;
    for (const [x, y] of [
      [0, 0],
      [149, 89],
      [77, 41],
    ] as const) {
      const src = (y * 150 + x) * 4;
      const dst = ((y + offsetY) * 192 + x + offsetX) * 4;
      expect(Array.from(prepared.start.data.subarray(dst, dst + 4))).toEqual(
        Array.from(start.data.subarray(src, src + 4)),
      );
    }
    const big = createRgbaImage(400, 300);
    expect(prepareKeyframes(m, big, big, 'auto').plan.mode).toBe('letterbox');
  });
});
