/**
 * Datasets for evaluation (issue 19): what a folder's file list holds, as items to score. Pure: it
 * reads a list of relative paths (from Node's file system or a folder the page was given), so the
 * CLI and the page find the same items in the same order.
 *
 * - **Triplet folders**: a folder whose images are `frame1`, `frame2`, `frame3` and no others
 *   (.png, or another image type) is one item — keyframes frame1 and frame3, ground truth frame2 at
 *   τ = ½. ATD-12K's layout `<split>/<clip>/frame{1,2,3}.png` and a flat folder of triplet folders
 *   are both this; the folder above a clip is its split (`test_2k_540p`), and `split` keeps one.
 * - **Sequences**: any other folder of three or more images is a run of consecutive frames, in
 *   natural name order (frame2 before frame10) — `frame1.png … frameN.png` as
 *   `ffmpeg -i clip.mp4 frame%d.png` writes them included. `sequence: 'triplets'` makes every window
 *   of three (i, i+1, i+2) an item; `{ keyframesEvery: k }` takes keyframes every k frames, the
 *   k − 1 frames between them the ground truth for k − 1 in-betweens (τ = j/k).
 *
 * Problems found in the listing (a triplet folder missing a frame, two files for one frame, frame1–3
 * beside images of other names) are reported per folder and never stop the others; problems in the
 * files themselves (not an image, sizes that differ) are found when an item is read
 * (src/node/dataset.ts).
 */

/** Image files a dataset may hold (the CLI decodes PNG; see src/node/dataset.ts). */
export const DATASET_IMAGE = /\.(png|jpe?g|webp|bmp)$/i;
const TRIPLET_NAME = /^frame([123])\.(png|jpe?g|webp|bmp)$/i;
/** A numbered frame as ffmpeg's `frame%d.png` names it. */
const FRAME_NAME = /^frame\d+\.(png|jpe?g|webp|bmp)$/i;

/** One thing to score: keyframes, the ground-truth frames between them, and where they sit. */
export interface DatasetItem {
  /** Unique and stable: the folder's path (`split/clip`), with `#<first>-<last>` for sequences. */
  id: string;
  /** The folder above a triplet folder (ATD-12K's split), or null at the top level. */
  split: string | null;
  /** The clip's source where the dataset names one (ATD-12K: `Disney_…`, `Japan_…`), else null. */
  category: string | null;
  /** Paths relative to the dataset's root. */
  start: string;
  end: string;
  truth: string[];
  /** τ of each ground-truth frame: j / (truth.length + 1). */
  tau: number[];
}

/** A folder (or file) that gives no item, and why. */
export interface DatasetProblem {
  id: string;
  message: string;
}

export type SequenceMode = 'triplets' | { keyframesEvery: number };

export interface DatasetOptions {
  /** Keep only the triplet folders under this split (its path, or its last component). */
  split?: string;
  /** How a folder of consecutive frames becomes items (default: every triplet). */
  sequence?: SequenceMode;
}

export interface DatasetDescription {
  items: DatasetItem[];
  problems: DatasetProblem[];
  /** Every split seen (before `split` filtered), sorted. */
  splits: string[];
  /** The categories of the items, when every item has one and there are at least two. */
  categories: string[];
  /** 'triplets', 'sequence', or 'mixed' when both kinds of folder are there; 'empty' for none. */
  layout: 'triplets' | 'sequence' | 'mixed' | 'empty';
}

/** Compares names as people read them: digit runs as numbers (frame2 < frame10). */
export function naturalCompare(a: string, b: string): number {
  const re = /(\d+)|(\D+)/g;
  const pa = a.match(re) ?? [];
  const pb = b.match(re) ?? [];
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = /^\d/.test(x);
    const ny = /^\d/.test(y);
    if (nx && ny) {
      const d = Number(x) - Number(y);
      if (d !== 0) return d;
      return x.length - y.length;
    }
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

const dirname = (p: string) => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);
const join = (dir: string, name: string) => (dir ? `${dir}/${name}` : name);

/** ATD-12K's clip names start with their source: `Disney_v4_0_000024_s2` → `Disney`. */
function categoryOf(folder: string): string | null {
  const m = /^([A-Za-z]+)_/.exec(basename(folder));
  return m ? m[1]! : null;
}

/**
 * The items of a dataset from its files' paths (relative to its root, `/`-separated; files that
 * are not images are ignored). Items are sorted by id.
 */
export function describeDataset(
  files: readonly string[],
  opts: DatasetOptions = {},
): DatasetDescription {
  const mode = opts.sequence ?? 'triplets';
  if (mode !== 'triplets') {
    const k = mode.keyframesEvery;
    if (!Number.isInteger(k) || k < 2) {
      throw new Error(`keyframes every k frames needs a whole k ≥ 2, got ${k}`);
    }
  }
  const byDir = new Map<string, string[]>();
  for (const f of files) {
    const d = dirname(f);
    let list = byDir.get(d);
    if (!list) byDir.set(d, (list = []));
    list.push(basename(f));
  }
  const items: DatasetItem[] = [];
  const problems: DatasetProblem[] = [];
  const splits = new Set<string>();
  let triplets = 0;
  let sequences = 0;
  for (const [dir, names] of [...byDir.entries()].sort((a, b) => naturalCompare(a[0], b[0]))) {
    const id = dir || '.';
    const images = names.filter((n) => DATASET_IMAGE.test(n)).sort(naturalCompare);
    const frames = new Map<string, string[]>();
    for (const n of images) {
      const m = TRIPLET_NAME.exec(n);
      if (m) frames.set(m[1]!, [...(frames.get(m[1]!) ?? []), n]);
    }
    // frame1–3 and nothing else is a triplet; beside frame4… they are a sequence's first frames.
    const others = images.filter((n) => !TRIPLET_NAME.test(n));
    const sequence = others.length > 0 && images.every((n) => FRAME_NAME.test(n));
    if (frames.size > 0 && !sequence) {
      const split = dir.includes('/') ? dirname(dir) : null;
      if (split !== null) splits.add(split);
      if (
        opts.split !== undefined &&
        split !== opts.split &&
        (split === null || basename(split) !== opts.split)
      )
        continue;
      const missing = ['1', '2', '3'].filter((k) => !frames.has(k)).map((k) => `frame${k}`);
      const doubled = [...frames.values()].filter((v) => v.length > 1);
      if (others.length > 0) {
        const named = others.slice(0, 3).join(', ') + (others.length > 3 ? ', …' : '');
        problems.push({
          id,
          message: `${[...frames.keys()]
            .sort()
            .map((k) => `frame${k}`)
            .join(
              ', ',
            )} beside ${others.length} other image${others.length > 1 ? 's' : ''} (${named}): a triplet folder holds frame1, frame2 and frame3 only, a sequence of frameN files no other names; move the others out or rename them`,
        });
      } else if (missing.length > 0) {
        problems.push({
          id,
          message: `missing ${missing.join(' and ')} (a triplet needs frame1, frame2 and frame3)`,
        });
      } else if (doubled.length > 0) {
        problems.push({
          id,
          message: `two files for one frame: ${doubled[0]!.sort().join(' and ')}`,
        });
      } else {
        triplets++;
        const path = (k: string) => join(dir, frames.get(k)![0]!);
        items.push({
          id,
          split,
          category: categoryOf(dir),
          start: path('1'),
          end: path('3'),
          truth: [path('2')],
          tau: [0.5],
        });
      }
      continue;
    }
    if (opts.split !== undefined) continue;
    if (images.length < 3) continue;
    sequences++;
    const gaps: number[][] = [];
    if (mode === 'triplets') {
      for (let i = 0; i + 2 < images.length; i++) gaps.push([i, i + 1, i + 2]);
    } else {
      const k = mode.keyframesEvery;
      for (let i = 0; i + k < images.length; i += k) {
        gaps.push(Array.from({ length: k + 1 }, (_, j) => i + j));
      }
      if (gaps.length === 0) {
        problems.push({
          id,
          message: `${images.length} frames: too few for keyframes every ${k} frames (${k + 1} needed)`,
        });
      }
    }
    for (const g of gaps) {
      const n = g.length - 1;
      items.push({
        id: `${id}#${g[0]! + 1}-${g[n]! + 1}`,
        split: null,
        category: null,
        start: join(dir, images[g[0]!]!),
        end: join(dir, images[g[n]!]!),
        truth: g.slice(1, n).map((i) => join(dir, images[i]!)),
        tau: Array.from({ length: n - 1 }, (_, j) => (j + 1) / n),
      });
    }
  }
  const cats = new Set(items.map((i) => i.category));
  const categories =
    cats.size >= 2 && !cats.has(null) ? [...(cats as Set<string>)].sort(naturalCompare) : [];
  if (categories.length === 0) for (const i of items) i.category = null;
  return {
    items: items.sort((a, b) => naturalCompare(a.id, b.id)),
    problems,
    splits: [...splits].sort(naturalCompare),
    categories,
    layout:
      triplets && sequences ? 'mixed' : triplets ? 'triplets' : sequences ? 'sequence' : 'empty',
  };
}

/** FNV-1a (32-bit) of a string's UTF-16 code units. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * The shard (0 … n−1) an item belongs to: a hash of its id, so the assignment is the same on every
 * machine and does not move when other items are added or removed.
 */
export function shardOf(id: string, shards: number): number {
  return fnv1a(id) % shards;
}

/**
 * Parses `i/n` to a shard: 0 ≤ i < n, 0-based as a Slurm array `--array=0-3` and a Kubernetes
 * Indexed Job's JOB_COMPLETION_INDEX count.
 */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const i = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || i >= n) {
    throw new Error(`--shard takes i/n with 0 ≤ i < n (e.g. 0/4 … 3/4), got "${text}"`);
  }
  return { index: i, count: n };
}
