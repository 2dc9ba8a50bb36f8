import { unzipSync } from 'fflate';
import { GifReader } from 'omggif';
import UPNG from 'upng-js';
import { describe, expect, it } from 'vitest';
import { createRgbaImage, type RgbaImage } from '../image';
import {
  encodeApng,
  encodeGif,
  GIF_LEAST_DELAY_CS,
  encodePng,
  encodeZip,
  ExportCancelledError,
  roundedDelays,
  type ExportDrawing,
} from './export';
import { assembleSequence, playOrder, safeBaseName, sequenceFileName, timeline } from './sequence';
import { parseTypedPositions, TIMING_PRESETS, timingPositions, type TimingPreset } from './timing';

describe('timing presets', () => {
  const presets = TIMING_PRESETS.filter((p) => p !== 'typed') as Exclude<TimingPreset, 'typed'>[];

  it('give increasing positions strictly between the keys, for every count', () => {
    for (const preset of presets) {
      for (let n = 1; n <= 15; n++) {
        const p = timingPositions(n, { preset });
        expect(p).toHaveLength(n);
        expect(p[0]!).toBeGreaterThan(0);
        expect(p[n - 1]!).toBeLessThan(1);
        for (let i = 1; i < n; i++) expect(p[i]!).toBeGreaterThan(p[i - 1]!);
      }
    }
  });

  it('space the drawings as a timing chart does', () => {
    expect(timingPositions(3, { preset: 'even' })).toEqual([0.25, 0.5, 0.75]);
    // Ease in bunches drawings near the first key, ease out near the last, in-out near both.
    expect(timingPositions(3, { preset: 'ease-in' })).toEqual([0.0625, 0.25, 0.5625]);
    expect(timingPositions(3, { preset: 'ease-out' })).toEqual([0.4375, 0.75, 0.9375]);
    const io = timingPositions(3, { preset: 'ease-in-out' });
    expect(io[1]).toBeCloseTo(0.5, 12);
    expect(io[0]).toBeLessThan(0.25);
    expect(io[2]).toBeGreaterThan(0.75);
    // A favoured breakdown lands at a third of the way instead of half.
    expect(timingPositions(1, { preset: 'favour-first' })[0]).toBeCloseTo(1 / 3, 12);
    expect(timingPositions(1, { preset: 'favour-last' })[0]).toBeCloseTo(2 / 3, 12);
  });

  it('mirror: ease out is ease in seen from the other key', () => {
    const a = timingPositions(5, { preset: 'ease-in' });
    const b = timingPositions(5, { preset: 'ease-out' });
    a.forEach((t, i) => expect(t).toBeCloseTo(1 - b[4 - i]!, 12));
  });

  it('take typed positions as typed, and refuse bad ones with the reason', () => {
    expect(timingPositions(2, { preset: 'typed', positions: [0.2, 0.9] })).toEqual([0.2, 0.9]);
    expect(parseTypedPositions('1/4, 0.5  3/4', 3)).toEqual([0.25, 0.5, 0.75]);
    expect(() => parseTypedPositions('0.2 0.1', 2)).toThrow(/must increase/);
    expect(() => parseTypedPositions('0 0.5', 2)).toThrow(/between 0 and 1/);
    expect(() => parseTypedPositions('0.5 1', 2)).toThrow(/between 0 and 1/);
    expect(() => parseTypedPositions('0.5', 2)).toThrow(/2 in-betweens need 2 positions, got 1/);
    expect(() => parseTypedPositions('half', 1)).toThrow(/"half" is not a number/);
    expect(() => timingPositions(2, { preset: 'typed' })).toThrow(/need 2 positions, got 0/);
    expect(() => timingPositions(0, { preset: 'even' })).toThrow(/1 to 15 in-betweens/);
    expect(() => timingPositions(16, { preset: 'even' })).toThrow(/1 to 15 in-betweens/);
    expect(() => timingPositions(2, { preset: 'wobbly' as TimingPreset })).toThrow(
      /unknown timing/,
    );
  });
});

describe('sequence assembly', () => {
  it('joins gaps end to end: each key once, in order, with its gap exposure', () => {
    const seq = assembleSequence(3, [
      { positions: [0.25, 0.5, 0.75], exposure: 2 },
      { positions: [0.5], exposure: 1 },
    ]);
    expect(seq).toEqual([
      { kind: 'key', key: 0, hold: 2 },
      { kind: 'inbetween', gap: 0, index: 0, tau: 0.25, hold: 2 },
      { kind: 'inbetween', gap: 0, index: 1, tau: 0.5, hold: 2 },
      { kind: 'inbetween', gap: 0, index: 2, tau: 0.75, hold: 2 },
      { kind: 'key', key: 1, hold: 1 },
      { kind: 'inbetween', gap: 1, index: 0, tau: 0.5, hold: 1 },
      { kind: 'key', key: 2, hold: 1 },
    ]);
    expect(seq.filter((d) => d.kind === 'key').map((d) => d.kind === 'key' && d.key)).toEqual([
      0, 1, 2,
    ]);
  });

  it('refuses a wrong number of gaps, keys or a bad exposure', () => {
    expect(() => assembleSequence(1, [])).toThrow(/2 to 64 keys/);
    expect(() => assembleSequence(65, [])).toThrow(/2 to 64 keys/);
    expect(() => assembleSequence(3, [{ positions: [], exposure: 1 }])).toThrow(
      /3 keys have 2 gaps/,
    );
    expect(() => assembleSequence(2, [{ positions: [], exposure: 4 as 1 }])).toThrow(
      /ones, twos or threes/,
    );
  });

  it('plays a cycle in loop or ping-pong order, holds applied frame by frame', () => {
    expect(playOrder(4, 'loop')).toEqual([0, 1, 2, 3]);
    expect(playOrder(4, 'pingpong')).toEqual([0, 1, 2, 3, 2, 1]);
    expect(playOrder(2, 'pingpong')).toEqual([0, 1]);
    expect(timeline([{ hold: 2 }, { hold: 1 }, { hold: 3 }], 'loop')).toEqual([0, 0, 1, 2, 2, 2]);
    expect(timeline([{ hold: 1 }, { hold: 2 }, { hold: 1 }], 'pingpong')).toEqual([
      0, 1, 1, 2, 1, 1,
    ]);
  });

  it('names files as animation packages import image sequences', () => {
    expect(sequenceFileName('walk', 0, 12)).toBe('walk_0001.png');
    expect(sequenceFileName('walk', 11, 12)).toBe('walk_0012.png');
    expect(sequenceFileName('walk', 0, 12000)).toBe('walk_00001.png');
    expect(safeBaseName('Scène 1 / take#2')).toBe('Sce_ne_1_take_2');
    expect(safeBaseName('../..')).toBe('scene');
  });
});

/** A w×h frame filled with one colour, with a 2×2 marker at (x, 0) so frames differ in place too. */
function frame(w: number, h: number, rgba: [number, number, number, number], x = 0): RgbaImage {
  const img = createRgbaImage(w, h, rgba);
  for (const [dx, dy] of [
    [0, 0],
    [1, 0],
    [0, 1],
    [1, 1],
  ] as const) {
    const p = (dy * w + x + dx) * 4;
    img.data.set([0, 0, 0, 255], p);
  }
  return img;
}

const COLOURS: [number, number, number, number][] = [
  [255, 0, 0, 255],
  [0, 200, 0, 255],
  [0, 0, 255, 255],
];

describe('exports read back by decoders', () => {
  const drawings: ExportDrawing[] = COLOURS.map((c, i) => ({
    image: frame(8, 6, c, i * 2),
    hold: i + 1,
  }));

  it('zip: numbered PNGs of one cycle, holds repeated, pixels exact', async () => {
    const progress: number[] = [];
    const zip = await encodeZip(drawings, {
      fps: 12,
      mode: 'loop',
      name: 'walk',
      onProgress: (d) => progress.push(d),
    });
    const files = unzipSync(zip);
    const names = Object.keys(files).sort();
    expect(names).toEqual([1, 2, 3, 4, 5, 6].map((i) => `walk/walk_000${i}.png`));
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    const expected = [0, 1, 1, 2, 2, 2];
    names.forEach((n, f) => {
      const png = UPNG.decode(files[n]!.buffer as ArrayBuffer);
      const rgba = new Uint8Array(UPNG.toRGBA8(png)[0]!);
      expect([png.width, png.height]).toEqual([8, 6]);
      expect(Array.from(rgba)).toEqual(Array.from(drawings[expected[f]!]!.image.data));
    });
    // Same input, same bytes (the page and the CLI write identical files).
    expect(await encodeZip(drawings, { fps: 12, mode: 'loop', name: 'walk' })).toEqual(zip);
  });

  it('GIF: one image per drawing in play order, delays on the frame rate, loops forever', async () => {
    const gif = await encodeGif(drawings, { fps: 12, mode: 'pingpong' });
    const reader = new GifReader(gif);
    expect([reader.width, reader.height, reader.numFrames()]).toEqual([8, 6, 4]);
    expect(reader.loopCount()).toBe(0);
    // Holds 1, 2, 3, 2 at 12 fps end at 1/12, 3/12, 6/12, 8/12 s: 8, 25, 50, 67 cs, so delays 8, 17, 25, 17.
    const delays = [0, 1, 2, 3].map((i) => reader.frameInfo(i).delay);
    expect(delays).toEqual([8, 17, 25, 17]);
    expect(delays.reduce((a, b) => a + b)).toBe(Math.round((8 / 12) * 100));
    const order = [0, 1, 2, 1];
    const px = new Uint8Array(8 * 6 * 4);
    order.forEach((d, i) => {
      reader.decodeAndBlitFrameRGBA(i, px);
      const c = COLOURS[d]!;
      expect(Array.from(px.slice(4 * 7, 4 * 7 + 3))).toEqual(c.slice(0, 3)); // a plain pixel
      const marker = d * 2 * 4; // the marker is black, in its place
      expect(Array.from(px.slice(marker, marker + 3))).toEqual([0, 0, 0]);
    });
  });

  it('APNG: full RGBA frames in play order with millisecond delays', async () => {
    const apng = await encodeApng(drawings, { fps: 24, mode: 'loop' });
    const png = UPNG.decode(apng.buffer as ArrayBuffer);
    const frames = UPNG.toRGBA8(png);
    expect(frames).toHaveLength(3);
    expect(png.frames.map((f) => f.delay)).toEqual([42, 83, 125]);
    frames.forEach((f, i) =>
      expect(Array.from(new Uint8Array(f))).toEqual(Array.from(drawings[i]!.image.data)),
    );
  });

  it('keeps alpha: PNG and APNG exactly, GIF as a transparent colour', async () => {
    const clear = createRgbaImage(6, 4); // transparent
    const cel = createRgbaImage(6, 4);
    cel.data.set([10, 20, 30, 255, 10, 20, 30, 128], 0); // an opaque and a half-covered pixel
    const cels = [
      { image: cel, hold: 1 },
      { image: clear, hold: 1 },
    ];
    const png = UPNG.decode(encodePng(cel).buffer as ArrayBuffer);
    expect(Array.from(new Uint8Array(UPNG.toRGBA8(png)[0]!))).toEqual(Array.from(cel.data));
    const apng = UPNG.decode(
      (await encodeApng(cels, { fps: 8, mode: 'loop' })).buffer as ArrayBuffer,
    );
    expect(Array.from(new Uint8Array(UPNG.toRGBA8(apng)[0]!)).slice(0, 12)).toEqual([
      10, 20, 30, 255, 10, 20, 30, 128, 0, 0, 0, 0,
    ]);
    const reader = new GifReader(await encodeGif(cels, { fps: 8, mode: 'loop' }));
    const px = new Uint8Array(6 * 4 * 4);
    reader.decodeAndBlitFrameRGBA(0, px);
    expect(px[3]).toBe(255); // opaque stays opaque
    expect(px[4 * 5 + 3]).toBe(0); // transparent stays transparent
    expect(reader.frameInfo(0).disposal).toBe(2);
  });

  it('refuses frames of different sizes and stops when cancelled', async () => {
    const mixed = [drawings[0]!, { image: frame(4, 4, COLOURS[1]!), hold: 1 }];
    await expect(encodeGif(mixed, { fps: 12, mode: 'loop' })).rejects.toThrow(
      /frame 2 is 4×4 but frame 1 is 8×6/,
    );
    await expect(encodeZip([], { fps: 12, mode: 'loop' })).rejects.toThrow(/nothing to export/);
    await expect(encodeZip(drawings, { fps: 0, mode: 'loop' })).rejects.toThrow(/frame rate/);
    let n = 0;
    await expect(
      encodeZip(drawings, { fps: 12, mode: 'loop', isCancelled: () => ++n > 2 }),
    ).rejects.toBeInstanceOf(ExportCancelledError);
  });

  it('rounds delays so that the cycle stays on time', () => {
    expect(roundedDelays([1, 1, 1], 24, 100)).toEqual([4, 4, 5]);
    expect(roundedDelays([2, 2], 24, 1000)).toEqual([83, 84]);
    // Never under the least delay: 60 fps on ones would need 1/100 s delays, which browsers show for
    // 1/10 s; at 2/100 s each the GIF plays at 50 fps. On twos 60 fps stays on time (3, 4, 3).
    expect(roundedDelays([1, 1, 1, 1, 1, 1], 60, 100, 2)).toEqual([2, 2, 2, 2, 2, 2]);
    expect(roundedDelays([2, 2, 2], 60, 100, 2)).toEqual([3, 4, 3]);
  });

  it('GIF at 60 fps: no delay a browser would stretch to 1/10 s', async () => {
    const onOnes = drawings.map((d) => ({ ...d, hold: 1 }));
    const reader = new GifReader(await encodeGif(onOnes, { fps: 60, mode: 'loop' }));
    const delays = Array.from({ length: reader.numFrames() }, (_, i) => reader.frameInfo(i).delay);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(GIF_LEAST_DELAY_CS);
  });
});
