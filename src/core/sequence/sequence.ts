/**
 * A scene as an animator lays it out: a row of keys with a gap between each two, every gap with its
 * own in-betweens. Segments join end to end with no cross-fade: each key appears once, exactly as
 * drawn, followed by its gap's in-betweens, then the next key.
 *
 * Exposure holds each drawing for 1, 2 or 3 frames of the frame rate ("on ones, twos, threes"). A
 * gap's exposure applies to its in-betweens and to the key that opens it; the last key takes the
 * last gap's.
 */
import { checkExposure, type Exposure } from './timing';

/** Fewest and most keys a sequence has. */
export const MIN_KEYS = 2;
export const MAX_KEYS = 64;

/** The in-betweens a gap has (τ of each, increasing) and the exposure it is shown at. */
export interface GapLayout {
  positions: readonly number[];
  exposure: Exposure;
}

export type Drawing =
  | { kind: 'key'; key: number; hold: number }
  | { kind: 'inbetween'; gap: number; index: number; tau: number; hold: number };

/** Every drawing of the scene in order, with its hold (frames it stays on screen). */
export function assembleSequence(keyCount: number, gaps: readonly GapLayout[]): Drawing[] {
  if (!Number.isInteger(keyCount) || keyCount < MIN_KEYS || keyCount > MAX_KEYS) {
    throw new Error(`a sequence has ${MIN_KEYS} to ${MAX_KEYS} keys, got ${keyCount}`);
  }
  if (gaps.length !== keyCount - 1) {
    throw new Error(`${keyCount} keys have ${keyCount - 1} gaps, got ${gaps.length}`);
  }
  const out: Drawing[] = [];
  gaps.forEach((gap, g) => {
    checkExposure(gap.exposure);
    out.push({ kind: 'key', key: g, hold: gap.exposure });
    gap.positions.forEach((tau, index) => {
      out.push({ kind: 'inbetween', gap: g, index, tau, hold: gap.exposure });
    });
  });
  out.push({ kind: 'key', key: keyCount - 1, hold: gaps[gaps.length - 1]!.exposure });
  return out;
}

export type PlayMode = 'loop' | 'pingpong';
export const PLAY_MODES: readonly PlayMode[] = ['loop', 'pingpong'];

/**
 * The drawings of one cycle, by index: in order for `loop`; for `pingpong` forward and back again
 * without repeating either end (0 1 2 3 2 1), so that looping it never shows a drawing twice running.
 */
export function playOrder(count: number, mode: PlayMode): number[] {
  const forward = Array.from({ length: count }, (_, i) => i);
  if (mode === 'loop' || count < 3) return forward;
  return [...forward, ...forward.slice(1, -1).reverse()];
}

/** One cycle frame by frame: each drawing's index repeated for its hold. */
export function timeline(drawings: readonly { hold: number }[], mode: PlayMode): number[] {
  return playOrder(drawings.length, mode).flatMap((i) =>
    Array.from({ length: drawings[i]!.hold }, () => i),
  );
}

/** Frame rates a person may pick for playback and export. */
export const MIN_FPS = 1;
export const MAX_FPS = 60;

export function checkFps(fps: number): void {
  if (!Number.isFinite(fps) || fps < MIN_FPS || fps > MAX_FPS) {
    throw new Error(`frame rate must be from ${MIN_FPS} to ${MAX_FPS} frames a second, got ${fps}`);
  }
}

/**
 * File name of frame `i` (0-based) of an image sequence as animation packages import them:
 * `name_0001.png`, numbered from 1, zero-padded to 4 digits (more when there are more frames).
 * OpenToonz, Krita, TVPaint and Toon Boom all read the number before the extension.
 */
export function sequenceFileName(base: string, i: number, total: number): string {
  const digits = Math.max(4, String(total).length);
  return `${base}_${String(i + 1).padStart(digits, '0')}.png`;
}

/** A name safe for files and zip entries: letters, digits, `-` and `_` (others become `_`). */
export function safeBaseName(name: string): string {
  const cleaned = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9_-]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, 64);
  return cleaned || 'scene';
}
