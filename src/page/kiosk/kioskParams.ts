/**
 * The kiosk's settings, read from the page's URL so a booth is set up by one link:
 * `?kiosk&idle=45&frames=3&pack=cel`. Every value is checked and clamped; a bad value falls back to
 * its default (a booth link with a typo still starts).
 */

/** What the attract loop shows for each sample pair, in order. */
export type AttractAct = 'compare' | 'lora' | 'student';

export const ATTRACT_ACTS: readonly AttractAct[] = ['compare', 'lora', 'student'];

export interface KioskParams {
  /** Whether the page opens as a kiosk at all (`?kiosk`, `?kiosk=1`; `?kiosk=0` does not). */
  enabled: boolean;
  /** Idle time after a visitor's last touch before the attract loop returns, ms (`idle=` s, at least 2, default 60). The loop starts at once when the page opens. */
  idleMs: number;
  /** A run with no progress for this long is stuck: the worker is restarted (`stall=` s, default 30). */
  stallMs: number;
  /** How long each result stays on screen in the attract loop, ms (`dwell=` s, default 6). */
  dwellMs: number;
  /** In-betweens per run (`frames=`, 1–7, default 3). */
  frames: number;
  /** The attract loop's acts (`acts=compare,lora`; default compare then lora). */
  acts: AttractAct[];
  /** The seed of every kiosk run (`seed=`, default 7): the same pair always gives the same frames. */
  seed: number;
  /**
   * A fresh worker once ONNX Runtime's WASM heap passes this many bytes (`heap=` MiB, 16–4096),
   * for laptops with little memory; null: only the growth rule and the 3 GiB WASM limit.
   */
  heapLimitBytes: number | null;
}

function seconds(v: string | null, def: number, min: number, max: number): number {
  if (v === null || v.trim() === '') return def * 1000;
  const n = Number(v);
  if (!Number.isFinite(n)) return def * 1000;
  return Math.round(Math.min(max, Math.max(min, n)) * 1000);
}

function integer(v: string | null, def: number, min: number, max: number): number {
  const n = v === null ? NaN : Number(v);
  return Number.isInteger(n) ? Math.min(max, Math.max(min, n)) : def;
}

/** A size in MiB, clamped, as bytes; null when absent or not a number. */
function mebibytes(v: string | null, min: number, max: number): number | null {
  if (v === null || v.trim() === '' || !Number.isFinite(Number(v))) return null;
  return Math.round(Math.min(max, Math.max(min, Number(v)))) * 1024 * 1024;
}

export function kioskParams(search: string): KioskParams {
  const q = new URLSearchParams(search);
  const flag = q.get('kiosk');
  const acts = (q.get('acts') ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a): a is AttractAct => (ATTRACT_ACTS as readonly string[]).includes(a));
  return {
    enabled: flag !== null && flag !== '0' && flag !== 'false',
    idleMs: seconds(q.get('idle'), 60, 2, 24 * 3600),
    stallMs: seconds(q.get('stall'), 30, 2, 600),
    dwellMs: seconds(q.get('dwell'), 6, 0, 600),
    frames: integer(q.get('frames'), 3, 1, 7),
    acts: acts.length ? acts : ['compare', 'lora'],
    seed: integer(q.get('seed'), 7, 0, 2 ** 31 - 1),
    heapLimitBytes: mebibytes(q.get('heap'), 16, 4096),
  };
}
