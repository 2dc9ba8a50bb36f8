/**
 * Image size from the file header, before anything is decoded. A 100 KB PNG can declare
 * 30000×30000 pixels (3.6 GB of RGBA): decoding first and checking afterwards is how a
 * decompression bomb takes minutes and gigabytes. The page and the CLI both read the header
 * here and apply one pixel budget (`checkPixelBudget`) before they decode.
 */
import { MAX_IMAGE_SIDE_PX } from './image';

/**
 * Most pixels a keyframe, ground truth or scored image may have: 4096 × 4096 (16.8 megapixels,
 * room for 4K UHD and 5K frames). Every step of a run holds a few copies of the image as RGBA and
 * as float (about 40 bytes a pixel at the peak of a resize): at this budget that is under 1 GB; a
 * 10000×8000 keyframe took 9 GB of browser memory and half a minute before the budget existed.
 */
export const MAX_IMAGE_PIXELS = 4096 * 4096;

export type ImageFormat = 'png' | 'jpeg' | 'gif' | 'webp' | 'bmp' | 'svg';

export interface ImageHeader {
  format: ImageFormat;
  /** Declared size in pixels; null for SVG (a drawing, not pixels) or when the header lacks it. */
  width: number | null;
  height: number | null;
}

/** How many leading bytes `readImageHeader` needs for every format but a JPEG with a long preamble. */
export const HEADER_PROBE_BYTES = 256 * 1024;

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

function startsWith(b: Uint8Array, sig: readonly number[], at = 0): boolean {
  if (b.length < at + sig.length) return false;
  return sig.every((v, i) => b[at + i] === v);
}

function ascii(b: Uint8Array, at: number, n: number): string {
  return String.fromCharCode(...b.subarray(at, at + n));
}

/** JPEG: walk the segments to the first start-of-frame marker (SOF0…SOF15 but DHT/JPG/DAC). */
function jpegSize(b: Uint8Array, view: DataView): [number, number] | null {
  let p = 2;
  while (p + 4 <= b.length) {
    if (b[p] !== 0xff) return null;
    const marker = b[p + 1]!;
    if (marker === 0xff) {
      p++; // fill byte
      continue;
    }
    if (marker === 0xd8 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
      p += 2; // markers without a length
      continue;
    }
    const len = view.getUint16(p + 2);
    const isSof =
      marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
    if (isSof) {
      if (p + 9 > b.length) return null;
      return [view.getUint16(p + 7), view.getUint16(p + 5)];
    }
    if (len < 2) return null;
    p += 2 + len;
  }
  return null;
}

/**
 * The format and declared size of an image file from its first bytes (`HEADER_PROBE_BYTES` are
 * enough except for a JPEG whose metadata runs longer, which gives a null size). Null when the
 * bytes are none of PNG, JPEG, GIF, WebP, BMP or SVG.
 */
export function readImageHeader(bytes: Uint8Array): ImageHeader | null {
  const b = bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const sized = (format: ImageFormat, wh: [number, number] | null): ImageHeader => ({
    format,
    width: wh ? wh[0] : null,
    height: wh ? wh[1] : null,
  });
  if (startsWith(b, PNG_SIGNATURE)) {
    // The IHDR chunk comes first: length, "IHDR", width, height (big-endian).
    const ok = b.length >= 24 && ascii(b, 12, 4) === 'IHDR';
    return sized('png', ok ? [view.getUint32(16), view.getUint32(20)] : null);
  }
  if (startsWith(b, [0xff, 0xd8, 0xff])) return sized('jpeg', jpegSize(b, view));
  if (ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a') {
    return sized('gif', b.length >= 10 ? [view.getUint16(6, true), view.getUint16(8, true)] : null);
  }
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') {
    const chunk = ascii(b, 12, 4);
    if (chunk === 'VP8X' && b.length >= 30) {
      const w = 1 + (b[24]! | (b[25]! << 8) | (b[26]! << 16));
      const h = 1 + (b[27]! | (b[28]! << 8) | (b[29]! << 16));
      return sized('webp', [w, h]);
    }
    if (chunk === 'VP8 ' && b.length >= 30) {
      return sized('webp', [view.getUint16(26, true) & 0x3fff, view.getUint16(28, true) & 0x3fff]);
    }
    if (chunk === 'VP8L' && b.length >= 25) {
      const bits = view.getUint32(21, true);
      return sized('webp', [1 + (bits & 0x3fff), 1 + ((bits >> 14) & 0x3fff)]);
    }
    return sized('webp', null);
  }
  if (ascii(b, 0, 2) === 'BM' && b.length >= 26) {
    // BITMAPINFOHEADER and later: int32 width, int32 height (negative = top-down).
    return sized('bmp', [Math.abs(view.getInt32(18, true)), Math.abs(view.getInt32(22, true))]);
  }
  const text = new TextDecoder()
    .decode(b.subarray(0, Math.min(b.length, 1024)))
    .replace(/^\uFEFF/, '')
    .trimStart();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg[^>]*>\s*)?<svg[\s>]/i.test(text)) {
    return { format: 'svg', width: null, height: null };
  }
  return null;
}

/** "12.3 megapixels" */
function megapixels(n: number): string {
  return `${(n / 1e6).toFixed(1)} megapixels`;
}

/**
 * The one pixel budget: throws an Error saying what the limit is and what to do when `width`×
 * `height` is over `MAX_IMAGE_PIXELS` or a side is over `MAX_IMAGE_SIDE_PX`. `what` names the
 * image ("\"big.png\"", "the start keyframe").
 */
export function checkPixelBudget(width: number, height: number, what: string): void {
  const pixels = width * height;
  if (pixels <= MAX_IMAGE_PIXELS && width <= MAX_IMAGE_SIDE_PX && height <= MAX_IMAGE_SIDE_PX)
    return;
  // The largest size of the same shape that fits both limits, as a suggestion.
  const k = Math.min(
    Math.sqrt(MAX_IMAGE_PIXELS / pixels),
    MAX_IMAGE_SIDE_PX / width,
    MAX_IMAGE_SIDE_PX / height,
  );
  const w = Math.max(1, Math.floor(width * k));
  const h = Math.max(1, Math.floor(height * k));
  throw new Error(
    `${what} is ${width}×${height} pixels (${megapixels(pixels)}); images may have at most ${megapixels(MAX_IMAGE_PIXELS)} and ${MAX_IMAGE_SIDE_PX} pixels a side. ` +
      `Save it smaller (at most ${w}×${h} for this shape — the model works at a few hundred pixels, and Letterbox scales every keyframe to its frame anyway) or crop it to the part that moves.`,
  );
}

const FORMAT_NAMES: Record<ImageFormat, string> = {
  png: 'PNG',
  jpeg: 'JPEG',
  gif: 'GIF',
  webp: 'WebP',
  bmp: 'BMP',
  svg: 'SVG',
};

/** "PNG", "JPEG", … for messages. */
export function formatName(format: ImageFormat): string {
  return FORMAT_NAMES[format];
}

/**
 * Checks an image file's leading bytes before it is decoded: refuses an empty file, an SVG
 * drawing and a declared size over the pixel budget, each with a message saying what to do.
 * Returns the header, or null when the format is not recognised (the caller decodes and decides).
 */
export function checkImageFile(bytes: Uint8Array, what: string): ImageHeader | null {
  if (bytes.length === 0) throw new Error(`${what} is empty (0 bytes): it holds no picture.`);
  const header = readImageHeader(bytes);
  if (!header) return null;
  if (header.format === 'svg') {
    throw new Error(
      `${what} is an SVG drawing; keyframes must be pixel images (PNG, JPEG, WebP, GIF or BMP). Export it as PNG at the size you animate at.`,
    );
  }
  if (header.width !== null && header.height !== null) {
    if (header.width < 1 || header.height < 1) {
      throw new Error(
        `${what}: its ${formatName(header.format)} header says ${header.width}×${header.height} pixels, so the file is damaged.`,
      );
    }
    checkPixelBudget(header.width, header.height, what);
  }
  return header;
}
