/**
 * Exports of what the viewer shows (the keys and the in-betweens in order) as one file: a zip of
 * numbered PNGs, an animated GIF or APNG (src/core/sequence/export.ts, the same bytes as the
 * CLI's), or a video — WebM (VP9, alpha kept) or MP4 (the first codec the browser encodes) —
 * through WebCodecs with Mediabunny, where the browser has them.
 */
import { encodeApngInWorker } from '../clients/apngClient';
import { blobToRgba } from '../../shared/images';
import type { RgbaImage } from '../../core/image';
import { hasAlpha, overWhite } from '../../core/sequence/alpha';
import {
  encodeGif,
  encodeZip,
  ExportCancelledError,
  type ExportDrawing,
  type ExportOptions,
} from '../../core/sequence/export';
import { timeline } from '../../core/sequence/sequence';
import { downloadBlob } from '../common/download';

export type ExportFormat = 'zip' | 'gif' | 'apng' | 'webm' | 'mp4';

export const EXPORT_LABELS: Record<ExportFormat, string> = {
  zip: 'PNG sequence (zip)',
  gif: 'GIF',
  apng: 'APNG',
  webm: 'WebM video',
  mp4: 'MP4 video',
};

const MIME: Record<ExportFormat, string> = {
  zip: 'application/zip',
  gif: 'image/gif',
  apng: 'image/apng',
  webm: 'video/webm',
  mp4: 'video/mp4',
};

/** The pixels behind each frame's object URL. */
export async function framesFromUrls(urls: readonly string[]): Promise<RgbaImage[]> {
  const out: RgbaImage[] = [];
  for (const url of urls) out.push(await blobToRgba(await (await fetch(url)).blob()));
  return out;
}

/** True when this browser can write `format` (video needs WebCodecs' VideoEncoder). */
export function formatAvailable(format: ExportFormat): boolean {
  if (format === 'webm' || format === 'mp4') return typeof VideoEncoder !== 'undefined';
  return true;
}

/**
 * A video of one cycle of the timeline. Sizes are rounded up to even numbers (what H.264 and VP9
 * encoders take), the frame placed top-left on white (or transparent for WebM with alpha).
 */
async function encodeVideo(
  format: 'webm' | 'mp4',
  drawings: readonly ExportDrawing[],
  opts: ExportOptions,
): Promise<Uint8Array> {
  const mb = await import('mediabunny');
  const { width, height } = drawings[0]!.image;
  const w = width + (width % 2);
  const h = height + (height % 2);
  const container = format === 'webm' ? new mb.WebMOutputFormat() : new mb.Mp4OutputFormat();
  const codec = await mb.getFirstEncodableVideoCodec(container.getSupportedVideoCodecs(), {
    width: w,
    height: h,
  });
  if (!codec) {
    throw new Error(
      `this browser cannot encode ${format === 'webm' ? 'WebM' : 'MP4'} video (no codec for it in WebCodecs); export a GIF, an APNG or the PNG sequence instead`,
    );
  }
  const alpha = format === 'webm' && drawings.some((d) => hasAlpha(d.image));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('this browser cannot draw video frames (no OffscreenCanvas 2D)');
  const output = new mb.Output({ format: container, target: new mb.BufferTarget() });
  const source = new mb.CanvasSource(canvas, {
    codec,
    quality: mb.QUALITY_HIGH,
    ...(alpha ? { alpha: 'keep' as const } : {}),
  });
  output.addVideoTrack(source, { frameRate: opts.fps });
  await output.start();
  const frames = timeline(drawings, opts.mode);
  try {
    for (let f = 0; f < frames.length; f++) {
      const image = drawings[frames[f]!]!.image;
      ctx.clearRect(0, 0, w, h);
      if (!alpha) {
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, w, h);
      }
      const shown = alpha ? image : overWhite(image);
      ctx.putImageData(new ImageData(new Uint8ClampedArray(shown.data), width, height), 0, 0);
      await source.add(f / opts.fps, 1 / opts.fps);
      opts.onProgress?.(f + 1, frames.length);
      if (opts.isCancelled?.()) throw new ExportCancelledError();
    }
    await output.finalize();
  } catch (e) {
    await output.cancel();
    throw e;
  }
  return new Uint8Array(output.target.buffer!);
}

/** Encodes the drawings as `format` and hands the file to the person as `name.ext`. */
export async function exportDrawings(
  format: ExportFormat,
  drawings: readonly ExportDrawing[],
  opts: ExportOptions & { name: string },
): Promise<{ file: string; bytes: number }> {
  const bytes =
    format === 'zip'
      ? await encodeZip(drawings, opts)
      : format === 'gif'
        ? await encodeGif(drawings, opts)
        : format === 'apng'
          ? // In a worker: UPNG.js compresses every frame in one synchronous call.
            await encodeApngInWorker(drawings, opts)
          : await encodeVideo(format, drawings, opts);
  const file = `${opts.name}.${format}`;
  downloadBlob(file, new Blob([bytes as Uint8Array<ArrayBuffer>], { type: MIME[format] }));
  return { file, bytes: bytes.length };
}
