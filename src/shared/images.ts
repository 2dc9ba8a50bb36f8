/** Image helpers for workers and the page: ImageBitmap → RGBA pixels, RGBA → PNG, via OffscreenCanvas. */
import type { RgbaImage } from '../core/image';
import {
  checkImageFile,
  checkPixelBudget,
  formatName,
  HEADER_PROBE_BYTES,
  readImageHeader,
  type ImageHeader,
} from '../core/imageHeader';
import { hasAlpha } from '../core/sequence/alpha';
import { encodePng } from '../core/sequence/export';
import UPNG from 'upng-js';

/** Pixels of a bitmap, as 8-bit RGBA. */
export function bitmapToRgba(bmp: ImageBitmap): RgbaImage {
  const canvas = new OffscreenCanvas(bmp.width, bmp.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx)
    throw new Error('This browser cannot read image pixels in a worker (no OffscreenCanvas 2D).');
  ctx.drawImage(bmp, 0, 0);
  const img = ctx.getImageData(0, 0, bmp.width, bmp.height);
  return { width: img.width, height: img.height, data: img.data };
}

/**
 * Encodes RGBA pixels as a PNG Blob. Images with transparency go through UPNG.js (exact: a canvas
 * premultiplies alpha and rounds the colour of half-covered pixels); opaque ones through the
 * browser's own encoder (faster).
 */
export async function rgbaToPng(img: RgbaImage): Promise<Blob> {
  if (hasAlpha(img))
    return new Blob([encodePng(img) as Uint8Array<ArrayBuffer>], { type: 'image/png' });
  const canvas = new OffscreenCanvas(img.width, img.height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('This browser cannot draw images in a worker (no OffscreenCanvas 2D).');
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  return canvas.convertToBlob({ type: 'image/png' });
}

/**
 * Decodes an image Blob to RGBA with exact stored values (no colour conversion). A canvas keeps its
 * pixels premultiplied — the colour of a half-covered pixel comes back rounded, a clear pixel's as
 * black — so a PNG with transparency is read again by UPNG.js, as pngjs reads it on the command line.
 */
export async function blobToRgba(blob: Blob): Promise<RgbaImage> {
  const bmp = await createImageBitmap(blob, {
    premultiplyAlpha: 'none',
    colorSpaceConversion: 'none',
  });
  let img: RgbaImage;
  try {
    img = bitmapToRgba(bmp);
  } finally {
    bmp.close();
  }
  if (!hasAlpha(img)) return img;
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (readImageHeader(bytes.subarray(0, HEADER_PROBE_BYTES))?.format !== 'png') return img;
  const png = UPNG.decode(bytes.buffer);
  if (png.width !== img.width || png.height !== img.height) return img;
  return {
    width: png.width,
    height: png.height,
    data: new Uint8ClampedArray(UPNG.toRGBA8(png)[0]!),
  };
}

export interface CheckedDecode<T extends { width: number; height: number }> {
  /** Decodes the file (throws if it cannot). */
  decode: (file: Blob) => Promise<T>;
  /** The message when decoding fails: `format` is the format its header showed, if any. */
  undecodable: (format: string | null) => string;
  /** Frees a decoded image the pixel budget refused. */
  release?: (image: T) => void;
  /** Runs between the header check and the decode (a caller's own refusal, e.g. by MIME type). */
  beforeDecode?: (header: ImageHeader | null) => void;
}

/**
 * Decodes an image file the way every reader of user images does: its header first, so that an
 * over-large image (a small PNG can declare 16000×16000 pixels) is refused before anything is
 * decoded; then the decode, whose failure gets the caller's message; then the pixel budget on the
 * decoded size (formats whose header was not read). `what` names the file in messages.
 */
export async function decodeCheckedImage<T extends { width: number; height: number }>(
  file: Blob,
  what: string,
  how: CheckedDecode<T>,
): Promise<T> {
  const header = checkImageFile(
    new Uint8Array(await file.slice(0, HEADER_PROBE_BYTES).arrayBuffer()),
    what,
  );
  how.beforeDecode?.(header);
  let image: T;
  try {
    image = await how.decode(file);
  } catch {
    throw new Error(how.undecodable(header ? formatName(header.format) : null));
  }
  try {
    checkPixelBudget(image.width, image.height, what);
  } catch (e) {
    how.release?.(image);
    throw e;
  }
  return image;
}
