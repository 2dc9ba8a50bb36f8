/**
 * Keyframe intake: files dropped, pasted or picked, and the bundled sample pair. Each file is
 * decoded once to check it is an image and to learn its size; the Blob itself stays in this module
 * (the store only holds an object URL) and is decoded again, off the main thread, for every run.
 */
import { decodeCheckedImage } from '../../shared/images';
import { clearMessages, patch, say, useStudio } from '../state/store';
import type { KeyframeInfo, Slot } from './keyframesSlice';

const blobs = new Map<string, Blob>();
let nextId = 1;

/** The original file of a keyframe, for the run. */
export function keyframeBlob(id: string): Blob | undefined {
  return blobs.get(id);
}

/** Decodes a keyframe to an ImageBitmap with exact pixel values (no colour conversion). */
export function decodeKeyframe(blob: Blob): Promise<ImageBitmap> {
  return createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
}

/**
 * Checks a file is an image within the pixel budget and registers it; the store gets its object
 * URL and size. The size is read from the file's header first, so an over-large image (a 30 KB
 * PNG can declare 16000×16000 pixels) is refused before anything is decoded.
 */
export async function describeImage(file: Blob, name: string): Promise<KeyframeInfo> {
  const what = `"${name}"`;
  const bmp = await decodeCheckedImage(file, what, {
    beforeDecode: (header) => {
      if (!header && file.type && !file.type.startsWith('image/'))
        throw new Error(
          `${what} is not an image (${file.type}). Drop a PNG, JPEG or WebP keyframe.`,
        );
    },
    decode: decodeKeyframe,
    undecodable: (format) =>
      format
        ? `${what} starts like a ${format} image but could not be decoded — the file is damaged or cut short. Save it again from your drawing program.`
        : `${what} could not be read as an image — it is not a PNG, JPEG, WebP, GIF or BMP picture.`,
    release: (b) => b.close(),
  });
  const info: KeyframeInfo = {
    id: `kf${nextId++}`,
    name,
    url: URL.createObjectURL(file),
    width: bmp.width,
    height: bmp.height,
  };
  bmp.close();
  blobs.set(info.id, file);
  return info;
}

/** Forgets an image registered by describeImage and revokes its URL. */
export function releaseImage(info: KeyframeInfo | null): void {
  if (!info) return;
  URL.revokeObjectURL(info.url);
  blobs.delete(info.id);
}

/** Puts a keyframe into a slot, replacing what was there, and checks the pair's sizes. */
async function place(slot: Slot, file: Blob, name: string): Promise<void> {
  const info = await describeImage(file, name);
  releaseImage(useStudio.getState().keyframes[slot]);
  patch('keyframes', { [slot]: info });
  checkPair();
}

/** Puts two images already read (describeImage) in the slots, releasing the ones they replace. */
export function setKeyframePair(start: KeyframeInfo, end: KeyframeInfo): void {
  const kf = useStudio.getState().keyframes;
  releaseImage(kf.start);
  releaseImage(kf.end);
  patch('keyframes', { start, end });
  checkPair();
}

function checkPair(): void {
  const { start, end } = useStudio.getState().keyframes;
  if (start && end && (start.width !== end.width || start.height !== end.height)) {
    say(
      'error',
      'keyframes',
      `The keyframes have different sizes: start is ${start.width}×${start.height}, end is ${end.width}×${end.height}. Use two frames of the same size.`,
    );
  } else {
    clearMessages('keyframes');
  }
}

/** Rank of a file name as a start (0) or end (1) frame; names say so more often than their sort order. */
function roleRank(name: string): number | null {
  const n = name.toLowerCase();
  if (/(start|first|begin|frame1\b|frame_?0*1\.|^a\.)/.test(n)) return 0;
  if (/(end|last|finish|frame3\b|^b\.)/.test(n)) return 1;
  return null;
}

/** Orders two or more files as start, end: by names that say which is which, else natural name order. */
export function orderKeyframeFiles<T extends { name: string }>(files: T[]): T[] {
  const natural = [...files].sort((a, b) =>
    a.name.localeCompare(b.name, undefined, { numeric: true }),
  );
  if (natural.length === 2) {
    const [a, b] = natural as [T, T];
    const ra = roleRank(a.name);
    const rb = roleRank(b.name);
    if (ra === 1 && rb === 0) return [b, a];
  }
  return natural;
}

/**
 * Adds files: into `slot` when given (first file), else two files fill start and end (names with
 * "start"/"end" are honoured, otherwise name order),
 * and one file fills the first empty slot (or end, when both are full).
 */
export async function addKeyframeFiles(files: File[], slot?: Slot): Promise<void> {
  if (files.length === 0) return;
  try {
    if (slot) {
      await place(slot, files[0]!, files[0]!.name);
      return;
    }
    const sorted = orderKeyframeFiles(files);
    if (sorted.length >= 2) {
      // Validate both before replacing either, so a bad file loses nothing.
      const [a, b] = await Promise.all([
        describeImage(sorted[0]!, sorted[0]!.name),
        describeImage(sorted[1]!, sorted[1]!.name),
      ]);
      setKeyframePair(a, b);
      if (sorted.length > 2)
        say(
          'info',
          'keyframes',
          `Used the first two of ${sorted.length} files (${a.name}, ${b.name}).`,
        );
      return;
    }
    const kf = useStudio.getState().keyframes;
    const target: Slot = !kf.start ? 'start' : !kf.end ? 'end' : 'end';
    await place(target, sorted[0]!, sorted[0]!.name);
  } catch (e) {
    say('error', 'keyframes', (e as Error).message);
  }
}

/** Loads the project's own sample pair (drawn by scripts/make-samples.ts). */
export async function loadSamplePair(name = 'bounce'): Promise<void> {
  try {
    const base = `${import.meta.env.BASE_URL}samples/${name}`;
    const [a, b] = await Promise.all(
      ['start', 'end'].map(async (which) => {
        const res = await fetch(`${base}-${which}.png`);
        if (!res.ok) throw new Error(`The sample keyframes could not be loaded (${res.status}).`);
        return new File([await res.blob()], `${name}-${which}.png`, { type: 'image/png' });
      }),
    );
    await addKeyframeFiles([a!, b!]);
  } catch (e) {
    say('error', 'keyframes', (e as Error).message);
  }
}

/** Swaps start and end. */
export function swapKeyframes(): void {
  const { start, end } = useStudio.getState().keyframes;
  patch('keyframes', { start: end, end: start });
}

/** Empties a slot. */
export function clearKeyframe(slot: Slot): void {
  releaseImage(useStudio.getState().keyframes[slot]);
  patch('keyframes', { [slot]: null });
  checkPair();
}
