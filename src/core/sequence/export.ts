/**
 * Exports of a whole sequence, the same bytes in the page and on the command line: a zip of
 * numbered PNGs (fflate), an animated GIF (gifenc) and an APNG (UPNG.js). Video (WebM, MP4) needs
 * WebCodecs and lives with the page (src/page/sequence/videoExport.ts).
 *
 * Every export takes the drawings in scene order with their holds (exposure), the frame rate and
 * loop or ping-pong. The zip writes one file per frame of the timeline (a drawing held on twos is
 * written twice, as an image-sequence import expects); GIF and APNG write one image per drawing and
 * show it for hold/fps seconds. Alpha is kept where the format holds it: PNG and APNG fully, GIF as
 * one transparent colour (alpha below ½ is transparent).
 */
import { zipSync, type Zippable } from 'fflate';
import * as gifencModule from 'gifenc';
import UPNG from 'upng-js';
import { assertRgbaImage, type RgbaImage } from '../image';
import { yieldToEventLoop } from '../runChecks';
import { hasAlpha } from './alpha';
import { checkFps, playOrder, sequenceFileName, timeline, type PlayMode } from './sequence';

// Node loads gifenc's CommonJS build (its exports under `default`); bundlers load its ES module.
const { GIFEncoder, applyPalette, quantize } =
  'GIFEncoder' in gifencModule
    ? gifencModule
    : (gifencModule as unknown as { default: typeof gifencModule }).default;

export interface ExportDrawing {
  image: RgbaImage;
  /** Frames it is held for (exposure). */
  hold: number;
}

export interface ExportOptions {
  fps: number;
  mode: PlayMode;
  /** File name stem of the numbered PNGs (see `safeBaseName`). */
  name?: string;
  /** Called after each frame is encoded: frames done, frames in all. */
  onProgress?: (done: number, total: number) => void;
  /** Checked between frames; true stops the export with an Error. */
  isCancelled?: () => boolean;
}

export class ExportCancelledError extends Error {
  constructor() {
    super('export cancelled');
    this.name = 'ExportCancelledError';
  }
}

function checkDrawings(drawings: readonly ExportDrawing[]): { width: number; height: number } {
  if (drawings.length === 0) throw new Error('nothing to export: the sequence has no frames');
  const { width, height } = drawings[0]!.image;
  drawings.forEach((d, i) => {
    assertRgbaImage(d.image, `frame ${i + 1}`);
    if (d.image.width !== width || d.image.height !== height) {
      throw new Error(
        `frame ${i + 1} is ${d.image.width}×${d.image.height} but frame 1 is ${width}×${height}; every frame of an export has one size`,
      );
    }
    if (!Number.isInteger(d.hold) || d.hold < 1) {
      throw new Error(`frame ${i + 1}: hold must be a whole number of frames ≥ 1, got ${d.hold}`);
    }
  });
  return { width, height };
}

async function step(opts: ExportOptions, done: number, total: number): Promise<void> {
  opts.onProgress?.(done, total);
  await yieldToEventLoop();
  if (opts.isCancelled?.()) throw new ExportCancelledError();
}

/** RGBA bytes in a fresh buffer of their own (the encoders read `.buffer` whole). */
function ownBytes(image: RgbaImage): Uint8Array {
  return new Uint8Array(image.data);
}

/** A PNG of one image, RGBA, lossless (UPNG.js: the same bytes wherever it runs). */
export function encodePng(image: RgbaImage): Uint8Array {
  assertRgbaImage(image, 'image');
  const bytes = ownBytes(image);
  return new Uint8Array(UPNG.encode([bytes.buffer as ArrayBuffer], image.width, image.height, 0));
}

/**
 * The numbered PNGs of one cycle of the timeline (exposure applied): `name_0001.png`… in order,
 * each drawing encoded once however long it is held. What the zip holds and the CLI writes.
 */
export async function numberedPngs(
  drawings: readonly ExportDrawing[],
  opts: ExportOptions,
): Promise<{ file: string; png: Uint8Array }[]> {
  checkDrawings(drawings);
  checkFps(opts.fps);
  const name = opts.name ?? 'scene';
  const frames = timeline(drawings, opts.mode);
  const pngs = new Map<number, Uint8Array>();
  const out = [];
  for (let f = 0; f < frames.length; f++) {
    const d = frames[f]!;
    let png = pngs.get(d);
    if (!png) {
      png = encodePng(drawings[d]!.image);
      pngs.set(d, png);
    }
    out.push({ file: sequenceFileName(name, f, frames.length), png });
    await step(opts, f + 1, frames.length);
  }
  return out;
}

/** The numbered PNGs zipped in a folder `name/` (stored: PNGs are compressed already). */
export async function encodeZip(
  drawings: readonly ExportDrawing[],
  opts: ExportOptions,
): Promise<Uint8Array> {
  const name = opts.name ?? 'scene';
  const files: Zippable = {};
  for (const { file, png } of await numberedPngs(drawings, opts)) {
    files[`${name}/${file}`] = [png, { level: 0 }];
  }
  // A fixed date keeps the bytes the same from run to run (zip stores local time otherwise).
  return zipSync(files, { mtime: new Date(2000, 0, 1) });
}

/**
 * Delays of a cycle in the units a format counts (GIF: 1/100 s), rounded so that the total stays
 * on the frame rate: the k-th drawing ends at round(end time), not after k rounded delays. No delay
 * is shorter than `least` units; where the rate asks for shorter ones the cycle plays slower.
 */
export function roundedDelays(
  holds: readonly number[],
  fps: number,
  perSecond: number,
  least = 1,
): number[] {
  let frames = 0;
  let shown = 0;
  return holds.map((h) => {
    frames += h;
    const end = Math.round((frames / fps) * perSecond);
    const delay = Math.max(least, end - shown);
    shown += delay;
    return delay;
  });
}

/**
 * The shortest GIF delay browsers honour, in 1/100 s: Chromium, Firefox and Safari show a frame with
 * a delay of 1/100 s or less for 1/10 s. A GIF therefore shows at most 50 drawings a second; a
 * faster scene (above 50 fps on ones) plays slower as a GIF.
 */
export const GIF_LEAST_DELAY_CS = 2;

/** An animated GIF that loops forever: one image per drawing, shown for its hold. */
export async function encodeGif(
  drawings: readonly ExportDrawing[],
  opts: ExportOptions,
): Promise<Uint8Array> {
  const { width, height } = checkDrawings(drawings);
  checkFps(opts.fps);
  const order = playOrder(drawings.length, opts.mode);
  const delaysCs = roundedDelays(
    order.map((i) => drawings[i]!.hold),
    opts.fps,
    100,
    GIF_LEAST_DELAY_CS,
  );
  const gif = GIFEncoder();
  const quantized = new Map<number, { index: Uint8Array; palette: number[][]; clear: number }>();
  for (let f = 0; f < order.length; f++) {
    const d = order[f]!;
    let q = quantized.get(d);
    if (!q) {
      const rgba = ownBytes(drawings[d]!.image);
      const alpha = hasAlpha(drawings[d]!.image);
      const format = alpha ? 'rgba4444' : 'rgb565';
      const palette = quantize(rgba, 256, alpha ? { format, oneBitAlpha: true } : { format });
      q = {
        index: applyPalette(rgba, palette, format),
        palette,
        clear: alpha ? palette.findIndex((c) => c[3] === 0) : -1,
      };
      quantized.set(d, q);
    }
    gif.writeFrame(q.index, width, height, {
      palette: q.palette,
      delay: delaysCs[f]! * 10,
      repeat: 0,
      // Transparent frames replace the one before (dispose to background) instead of drawing over it.
      ...(q.clear >= 0 ? { transparent: true, transparentIndex: q.clear, dispose: 2 } : {}),
    });
    await step(opts, f + 1, order.length);
  }
  gif.finish();
  return gif.bytes();
}

/** An APNG that loops forever: one full RGBA image per drawing, delays in milliseconds. */
export async function encodeApng(
  drawings: readonly ExportDrawing[],
  opts: ExportOptions,
): Promise<Uint8Array> {
  const { width, height } = checkDrawings(drawings);
  checkFps(opts.fps);
  // (One image would make UPNG write a still PNG; a sequence has two keys at least.)
  if (drawings.length < 2) throw new Error('an APNG needs two frames or more');
  const order = playOrder(drawings.length, opts.mode);
  const delaysMs = roundedDelays(
    order.map((i) => drawings[i]!.hold),
    opts.fps,
    1000,
  );
  const buffers: ArrayBuffer[] = [];
  for (let f = 0; f < order.length; f++) {
    buffers.push(ownBytes(drawings[order[f]!]!.image).buffer as ArrayBuffer);
    await step(opts, f + 1, order.length + 1);
  }
  const out = new Uint8Array(UPNG.encode(buffers, width, height, 0, delaysMs));
  opts.onProgress?.(order.length + 1, order.length + 1);
  return out;
}
