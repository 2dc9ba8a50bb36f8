/**
 * Pixels in and out of the models, without the DOM: keyframes arrive as RGBA of any size, the
 * encoder wants a CHW float tensor at the pack's size, and the decoder's tensor has to go back to
 * RGBA at the keyframes' size. This module converts between the two, resizes (bilinear, with an
 * area prefilter for large reductions so line art does not alias) and plans how a keyframe is
 * letterboxed, cropped or padded into the model's frame and back. It runs in workers, Node and tests.
 */

/** Largest width or height any image may have. */
export const MAX_IMAGE_SIDE_PX = 16384;

const WHITE: readonly [number, number, number, number] = [255, 255, 255, 255];

/** 8-bit RGBA pixels, row-major, like DOM ImageData (but no DOM dependency). */
export interface RgbaImage {
  width: number;
  height: number;
  data: Uint8ClampedArray;
}

/**
 * Size rules: throws an Error with a clear message when width/height are not positive integers
 * or exceed 16384. `what` names the image in the message ("start keyframe").
 */
export function assertImageSize(width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(
      `${what}: width and height must be positive whole numbers of pixels, got ${width}×${height}`,
    );
  }
  if (width > MAX_IMAGE_SIDE_PX || height > MAX_IMAGE_SIDE_PX) {
    throw new Error(
      `${what} is ${width}×${height} pixels; the largest side allowed is ${MAX_IMAGE_SIDE_PX} pixels`,
    );
  }
}

/** Throws a clear error unless `img` is a well-formed RGBA image (size rules, 4 bytes a pixel). */
export function assertRgbaImage(img: RgbaImage, what: string): void {
  assertImageSize(img.width, img.height, what);
  if (img.data.length !== img.width * img.height * 4) {
    throw new Error(
      `${what} has ${img.data.length} bytes of pixel data, expected ${img.width * img.height * 4} for ${img.width}×${img.height} RGBA`,
    );
  }
}

/** A new width×height image, every pixel `fill` (default transparent black, like ImageData). */
export function createRgbaImage(
  width: number,
  height: number,
  fill?: [number, number, number, number],
): RgbaImage {
  assertImageSize(width, height, 'image');
  const data = new Uint8ClampedArray(width * height * 4);
  if (fill && (fill[0] || fill[1] || fill[2] || fill[3])) {
    for (let i = 0; i < data.length; i += 4) {
      data[i] = fill[0];
      data[i + 1] = fill[1];
      data[i + 2] = fill[2];
      data[i + 3] = fill[3];
    }
  }
  return { width, height, data };
}

function assertRange(range: readonly [number, number]): void {
  const [lo, hi] = range;
  if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
    throw new Error(`value range must be [low, high] with finite low < high, got [${lo}, ${hi}]`);
  }
}

/**
 * RGBA → CHW float32 RGB in `range` ([lo,hi], e.g. [-1,1]); alpha is composited onto white first.
 * Writes into `out` at `offset` if given (it must hold 3·width·height values from there) and
 * returns the array written to.
 */
export function rgbaToTensor(
  img: RgbaImage,
  range: readonly [number, number],
  out?: Float32Array,
  offset = 0,
): Float32Array {
  assertRgbaImage(img, 'image');
  assertRange(range);
  const plane = img.width * img.height;
  const target = out ?? new Float32Array(3 * plane + offset);
  if (!Number.isInteger(offset) || offset < 0 || offset + 3 * plane > target.length) {
    throw new Error(
      `tensor of ${target.length} values cannot hold 3×${img.width}×${img.height} values at offset ${offset}`,
    );
  }
  const [lo, hi] = range;
  const span = hi - lo;
  const { data } = img;
  for (let p = 0; p < plane; p++) {
    const a = data[p * 4 + 3]!;
    const whiteShare = 255 * (255 - a);
    for (let c = 0; c < 3; c++) {
      // Composite onto white in exact integers (units of 1/65025), then map to the range.
      const unit = (data[p * 4 + c]! * a + whiteShare) / 65025;
      target[offset + c * plane + p] = lo + unit * span;
    }
  }
  return target;
}

/**
 * CHW float32 (3 channels) in `range` → RGBA (alpha 255), clamped and rounded to nearest.
 * Reads from `offset`. NaN becomes 0.
 */
export function tensorToRgba(
  tensor: Float32Array,
  width: number,
  height: number,
  range: readonly [number, number],
  offset = 0,
): RgbaImage {
  assertImageSize(width, height, 'decoded image');
  assertRange(range);
  const plane = width * height;
  if (!Number.isInteger(offset) || offset < 0 || offset + 3 * plane > tensor.length) {
    throw new Error(
      `tensor of ${tensor.length} values has no 3×${width}×${height} image at offset ${offset}`,
    );
  }
  const [lo, hi] = range;
  const toByte = 255 / (hi - lo);
  const img = createRgbaImage(width, height);
  const { data } = img;
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round((tensor[offset + c * plane + p]! - lo) * toByte);
      data[p * 4 + c] = v > 255 ? 255 : v > 0 ? v : 0;
    }
    data[p * 4 + 3] = 255;
  }
  return img;
}

/** Per output index along one axis: a contiguous run of source indices and their weights. */
interface AxisTaps {
  start: Int32Array;
  count: Int32Array;
  /** Where output i's weights begin in `weights`. */
  at: Int32Array;
  weights: Float64Array;
}

/**
 * Sampling weights for resizing one axis from srcLen to dstLen: pixel-centre-aligned linear
 * interpolation, or the exact area average of the covered source span when reducing by more
 * than 2× (the box prefilter; at exactly 2× the two coincide).
 */
function makeAxisTaps(srcLen: number, dstLen: number): AxisTaps {
  const scale = srcLen / dstLen;
  const start = new Int32Array(dstLen);
  const count = new Int32Array(dstLen);
  const at = new Int32Array(dstLen);
  const weights: number[] = [];
  for (let i = 0; i < dstLen; i++) {
    at[i] = weights.length;
    if (scale > 2) {
      const lo = i * scale;
      const hi = Math.min(srcLen, (i + 1) * scale);
      const first = Math.floor(lo);
      const end = Math.min(srcLen, Math.ceil(hi));
      let sum = 0;
      const w: number[] = [];
      for (let j = first; j < end; j++) {
        const overlap = Math.max(0, Math.min(hi, j + 1) - Math.max(lo, j));
        w.push(overlap);
        sum += overlap;
      }
      start[i] = first;
      count[i] = w.length;
      for (const v of w) weights.push(v / sum);
    } else {
      const centre = Math.min(srcLen - 1, Math.max(0, (i + 0.5) * scale - 0.5));
      const i0 = Math.floor(centre);
      const frac = centre - i0;
      start[i] = i0;
      if (frac > 0 && i0 + 1 < srcLen) {
        count[i] = 2;
        weights.push(1 - frac, frac);
      } else {
        count[i] = 1;
        weights.push(1);
      }
    }
  }
  return { start, count, at, weights: Float64Array.from(weights) };
}

/** Resamples the rows of a width×height 4-channel float image to newWidth columns. */
function resampleRows(
  src: Float32Array,
  width: number,
  height: number,
  newWidth: number,
): Float32Array<ArrayBuffer> {
  const taps = makeAxisTaps(width, newWidth);
  const out = new Float32Array(newWidth * height * 4);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < newWidth; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      const s = taps.start[x]!;
      const n = taps.count[x]!;
      const w0 = taps.at[x]!;
      for (let k = 0; k < n; k++) {
        const w = taps.weights[w0 + k]!;
        const p = (row + s + k) * 4;
        r += w * src[p]!;
        g += w * src[p + 1]!;
        b += w * src[p + 2]!;
        a += w * src[p + 3]!;
      }
      const q = (y * newWidth + x) * 4;
      out[q] = r;
      out[q + 1] = g;
      out[q + 2] = b;
      out[q + 3] = a;
    }
  }
  return out;
}

/** Resamples the columns of a width×height 4-channel float image to newHeight rows. */
function resampleColumns(
  src: Float32Array,
  width: number,
  height: number,
  newHeight: number,
): Float32Array<ArrayBuffer> {
  const taps = makeAxisTaps(height, newHeight);
  const out = new Float32Array(width * newHeight * 4);
  const stride = width * 4;
  for (let y = 0; y < newHeight; y++) {
    const s = taps.start[y]!;
    const n = taps.count[y]!;
    const w0 = taps.at[y]!;
    const q0 = y * stride;
    for (let k = 0; k < n; k++) {
      const w = taps.weights[w0 + k]!;
      const p0 = (s + k) * stride;
      for (let i = 0; i < stride; i++) out[q0 + i] = out[q0 + i]! + w * src[p0 + i]!;
    }
  }
  return out;
}

/**
 * Resize with pixel-centre-aligned bilinear sampling; when shrinking by more than 2× apply a box
 * prefilter (area average) so line art does not alias. Identity when the size is unchanged
 * (exact copy). Each axis is treated separately, in premultiplied alpha so transparent pixels do
 * not bleed their (meaningless) colour into edges; fully transparent results are (0, 0, 0, 0).
 */
export function resizeImage(img: RgbaImage, width: number, height: number): RgbaImage {
  assertRgbaImage(img, 'image');
  assertImageSize(width, height, 'resize target');
  if (width === img.width && height === img.height) {
    return { width, height, data: new Uint8ClampedArray(img.data) };
  }
  const { data } = img;
  let buf = new Float32Array(data.length);
  for (let i = 0; i < data.length; i += 4) {
    const a = data[i + 3]!;
    const k = a / 255;
    buf[i] = data[i]! * k;
    buf[i + 1] = data[i + 1]! * k;
    buf[i + 2] = data[i + 2]! * k;
    buf[i + 3] = a;
  }
  // Do the axis pass that shrinks the intermediate image most first.
  const rowsFirst = width * img.height <= img.width * height;
  if (rowsFirst) {
    if (width !== img.width) buf = resampleRows(buf, img.width, img.height, width);
    if (height !== img.height) buf = resampleColumns(buf, width, img.height, height);
  } else {
    if (height !== img.height) buf = resampleColumns(buf, img.width, img.height, height);
    if (width !== img.width) buf = resampleRows(buf, img.width, height, width);
  }
  const out = createRgbaImage(width, height);
  const od = out.data;
  for (let i = 0; i < od.length; i += 4) {
    const a = buf[i + 3]!;
    const alpha = Math.round(a);
    if (alpha <= 0) continue; // stays (0, 0, 0, 0)
    const k = 255 / a;
    od[i] = Math.round(buf[i]! * k);
    od[i + 1] = Math.round(buf[i + 1]! * k);
    od[i + 2] = Math.round(buf[i + 2]! * k);
    od[i + 3] = alpha;
  }
  return out;
}

/**
 * How a keyframe is fitted to the model's frame: scaled to fit inside (bars), scaled to cover
 * (cropped), or kept at its own pixels and padded out to the next multiple of the pack's
 * `multipleOf` (native: nothing is resampled, so what does not move comes back exact).
 */
export type FitMode = 'letterbox' | 'crop' | 'native';

/** The fit modes, in the order the studio offers them. */
export const FIT_MODES: readonly FitMode[] = ['letterbox', 'crop', 'native'];

/**
 * What a person picks: a fit mode, or `auto` — native size for keyframes whose native frame is no
 * bigger than the pack's default frame (small drawings are not scaled up and back down), letterbox
 * otherwise (`resolveFit` in pipeline.ts decides; the run's plan records the mode it chose).
 */
export type FitChoice = FitMode | 'auto';

/** The studio's and the CLI's choices, in the order offered; `auto` is the default. */
export const FIT_CHOICES: readonly FitChoice[] = ['auto', 'letterbox', 'crop', 'native'];

/** The model frame for `native`: each side rounded up to a multiple of `multipleOf`. */
export function nativeFrameSize(
  srcWidth: number,
  srcHeight: number,
  multipleOf: number,
): [number, number] {
  assertImageSize(srcWidth, srcHeight, 'source image');
  if (!Number.isInteger(multipleOf) || multipleOf < 1) {
    throw new Error(`multipleOf must be a positive whole number, got ${multipleOf}`);
  }
  return [
    Math.ceil(srcWidth / multipleOf) * multipleOf,
    Math.ceil(srcHeight / multipleOf) * multipleOf,
  ];
}

/**
 * How a source image maps into the model's frame: the source is scaled by `scale` and placed with
 * its top-left at (offsetX, offsetY) in the destination (negative offsets = cropped).
 * contentRect = the part of the destination covered by source pixels. `scale` is the nominal
 * factor; the pixels are resized to exactly scaledWidth×scaledHeight (rounded).
 */
export interface FitPlan {
  mode: FitMode;
  srcWidth: number;
  srcHeight: number;
  dstWidth: number;
  dstHeight: number;
  scale: number;
  scaledWidth: number;
  scaledHeight: number;
  offsetX: number;
  offsetY: number;
  contentRect: { x: number; y: number; width: number; height: number };
}

/**
 * Plans fitting a srcWidth×srcHeight image into dstWidth×dstHeight. letterbox: scaled to fit
 * inside and centred, sizes rounded to whole pixels (at least 1) and the bar offset rounded down
 * (an odd spare pixel goes to the right/bottom bar). crop: scaled to cover and centre-cropped,
 * the crop offset rounded down likewise (an odd spare pixel is cut from the right/bottom).
 * native: scale 1, centred in a destination at least as large as the source (see
 * `nativeFrameSize`), the spare pixels split the same way.
 */
export function planFit(
  srcWidth: number,
  srcHeight: number,
  dstWidth: number,
  dstHeight: number,
  mode: FitMode,
): FitPlan {
  assertImageSize(srcWidth, srcHeight, 'source image');
  assertImageSize(dstWidth, dstHeight, 'model frame');
  const sx = dstWidth / srcWidth;
  const sy = dstHeight / srcHeight;
  // Letterbox and native both centre a scaledWidth×scaledHeight picture inside the frame.
  const centred = (scale: number, scaledWidth: number, scaledHeight: number): FitPlan => {
    const offsetX = Math.floor((dstWidth - scaledWidth) / 2);
    const offsetY = Math.floor((dstHeight - scaledHeight) / 2);
    return {
      mode,
      srcWidth,
      srcHeight,
      dstWidth,
      dstHeight,
      scale,
      scaledWidth,
      scaledHeight,
      offsetX,
      offsetY,
      contentRect: { x: offsetX, y: offsetY, width: scaledWidth, height: scaledHeight },
    };
  };
  if (mode === 'letterbox') {
    const scale = Math.min(sx, sy);
    return centred(
      scale,
      Math.min(dstWidth, Math.max(1, Math.round(srcWidth * scale))),
      Math.min(dstHeight, Math.max(1, Math.round(srcHeight * scale))),
    );
  }
  if (mode === 'crop') {
    const scale = Math.max(sx, sy);
    const scaledWidth = Math.max(dstWidth, Math.round(srcWidth * scale));
    const scaledHeight = Math.max(dstHeight, Math.round(srcHeight * scale));
    return {
      mode,
      srcWidth,
      srcHeight,
      dstWidth,
      dstHeight,
      scale,
      scaledWidth,
      scaledHeight,
      offsetX: 0 - Math.floor((scaledWidth - dstWidth) / 2),
      offsetY: 0 - Math.floor((scaledHeight - dstHeight) / 2),
      contentRect: { x: 0, y: 0, width: dstWidth, height: dstHeight },
    };
  }
  if (mode === 'native') {
    if (dstWidth < srcWidth || dstHeight < srcHeight) {
      throw new Error(
        `native fit: the model frame ${dstWidth}×${dstHeight} is smaller than the source ${srcWidth}×${srcHeight}`,
      );
    }
    return centred(1, srcWidth, srcHeight);
  }
  throw new Error(`unknown fit mode "${String(mode)}"`);
}

/** Copies `src` into `dst` with src's top-left at (dx, dy), clipped to dst. */
function pasteImage(dst: RgbaImage, src: RgbaImage, dx: number, dy: number): void {
  const x0 = Math.max(0, dx);
  const x1 = Math.min(dst.width, dx + src.width);
  const y0 = Math.max(0, dy);
  const y1 = Math.min(dst.height, dy + src.height);
  if (x1 <= x0 || y1 <= y0) return;
  for (let y = y0; y < y1; y++) {
    const from = ((y - dy) * src.width + (x0 - dx)) * 4;
    dst.data.set(src.data.subarray(from, from + (x1 - x0) * 4), (y * dst.width + x0) * 4);
  }
}

/** The width×height region of `img` whose top-left is (x, y) (must lie inside `img`). */
export function cropImage(
  img: RgbaImage,
  x: number,
  y: number,
  width: number,
  height: number,
): RgbaImage {
  const out = createRgbaImage(width, height);
  pasteImage(out, img, -x, -y);
  return out;
}

function assertPlanSize(img: RgbaImage, width: number, height: number, what: string): void {
  assertRgbaImage(img, what);
  if (img.width !== width || img.height !== height) {
    throw new Error(
      `${what} is ${img.width}×${img.height} but the fit plan expects ${width}×${height}`,
    );
  }
}

/**
 * `img` placed at (offsetX, offsetY) in a width×height image whose other pixels repeat the
 * nearest edge pixel of `img` (no new edges for the model to see; `img` must fit inside).
 */
function padReplicate(
  img: RgbaImage,
  width: number,
  height: number,
  offsetX: number,
  offsetY: number,
): RgbaImage {
  const out = createRgbaImage(width, height);
  const row = new Uint8ClampedArray(width * 4);
  for (let y = 0; y < height; y++) {
    const sy = Math.min(img.height - 1, Math.max(0, y - offsetY));
    const src = img.data.subarray(sy * img.width * 4, (sy + 1) * img.width * 4);
    row.set(src, offsetX * 4);
    for (let x = 0; x < offsetX; x++) row.set(src.subarray(0, 4), x * 4);
    const last = src.subarray(src.length - 4);
    for (let x = offsetX + img.width; x < width; x++) row.set(last, x * 4);
    out.data.set(row, y * width * 4);
  }
  return out;
}

/**
 * Source → model frame. Letterbox bars are filled with `padColor` (default white
 * [255,255,255,255]); in crop mode the parts outside the frame are cut off; native pads by
 * repeating the edge pixels (the source pixels are copied unchanged).
 */
export function fitImage(
  img: RgbaImage,
  plan: FitPlan,
  padColor: [number, number, number, number] = [...WHITE],
): RgbaImage {
  assertPlanSize(img, plan.srcWidth, plan.srcHeight, 'source image');
  if (plan.mode === 'native') {
    return padReplicate(img, plan.dstWidth, plan.dstHeight, plan.offsetX, plan.offsetY);
  }
  const scaled = resizeImage(img, plan.scaledWidth, plan.scaledHeight);
  if (plan.scaledWidth === plan.dstWidth && plan.scaledHeight === plan.dstHeight) return scaled;
  const out = createRgbaImage(plan.dstWidth, plan.dstHeight, padColor);
  pasteImage(out, scaled, plan.offsetX, plan.offsetY);
  return out;
}

/**
 * Model frame → source size: letterbox takes the contentRect and resizes it back (native takes
 * it as it is, no resampling); crop maps the whole frame back to source scale (the frame covers
 * the source region starting at −offset / scale, rounded to whole pixels) and pastes it over a
 * copy of `background` (if given, same size as the source; the keyframe-blend region outside the
 * crop — pass the start keyframe) or white.
 */
export function unfitImage(img: RgbaImage, plan: FitPlan, background?: RgbaImage): RgbaImage {
  assertPlanSize(img, plan.dstWidth, plan.dstHeight, 'model frame');
  if (plan.mode === 'letterbox' || plan.mode === 'native') {
    const r = plan.contentRect;
    return resizeImage(cropImage(img, r.x, r.y, r.width, r.height), plan.srcWidth, plan.srcHeight);
  }
  let out: RgbaImage;
  if (background) {
    assertPlanSize(background, plan.srcWidth, plan.srcHeight, 'background');
    out = {
      width: background.width,
      height: background.height,
      data: new Uint8ClampedArray(background.data),
    };
  } else {
    out = createRgbaImage(plan.srcWidth, plan.srcHeight, [...WHITE]);
  }
  // Source pixels per scaled pixel, per axis (the scaled size was rounded).
  const kx = plan.srcWidth / plan.scaledWidth;
  const ky = plan.srcHeight / plan.scaledHeight;
  const width = Math.min(plan.srcWidth, Math.max(1, Math.round(plan.dstWidth * kx)));
  const height = Math.min(plan.srcHeight, Math.max(1, Math.round(plan.dstHeight * ky)));
  const x = Math.min(plan.srcWidth - width, Math.max(0, Math.round(-plan.offsetX * kx)));
  const y = Math.min(plan.srcHeight - height, Math.max(0, Math.round(-plan.offsetY * ky)));
  pasteImage(out, resizeImage(img, width, height), x, y);
  return out;
}
