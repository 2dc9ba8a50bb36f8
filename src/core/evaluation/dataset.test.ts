/**
 * Datasets from file lists: ATD-12K's layout and flat triplet folders, sequences (every triplet,
 * keyframes every k), per-folder problems, natural order, categories and stable shards.
 */
import { describe, expect, it } from 'vitest';
import { describeDataset, naturalCompare, parseShard, shardOf } from './dataset';

const triplet = (dir: string, ext = 'png') => [1, 2, 3].map((k) => `${dir}/frame${k}.${ext}`);

describe('describeDataset', () => {
  it("reads ATD-12K's <split>/<clip>/frame{1,2,3} layout, keeps one split, and names categories", () => {
    const files = [
      ...triplet('test_2k_540p/Disney_v4_0_000024_s2'),
      ...triplet('test_2k_540p/Japan_v2_1_070321_s3'),
      ...triplet('train_10k/Disney_v1_0_000001_s1'),
      'test_2k_540p/README.txt',
    ];
    const all = describeDataset(files);
    expect(all.layout).toBe('triplets');
    expect(all.splits).toEqual(['test_2k_540p', 'train_10k']);
    expect(all.items.map((i) => i.id)).toEqual([
      'test_2k_540p/Disney_v4_0_000024_s2',
      'test_2k_540p/Japan_v2_1_070321_s3',
      'train_10k/Disney_v1_0_000001_s1',
    ]);
    const test = describeDataset(files, { split: 'test_2k_540p' });
    expect(test.items).toHaveLength(2);
    expect(test.items[0]).toEqual({
      id: 'test_2k_540p/Disney_v4_0_000024_s2',
      split: 'test_2k_540p',
      category: 'Disney',
      start: 'test_2k_540p/Disney_v4_0_000024_s2/frame1.png',
      end: 'test_2k_540p/Disney_v4_0_000024_s2/frame3.png',
      truth: ['test_2k_540p/Disney_v4_0_000024_s2/frame2.png'],
      tau: [0.5],
    });
    expect(test.categories).toEqual(['Disney', 'Japan']);
    expect(describeDataset(files, { split: 'valid' }).items).toEqual([]);
  });

  it('reads a flat folder of triplet folders, in natural order, without categories', () => {
    const files = [...triplet('clip10', 'jpg'), ...triplet('clip2'), ...triplet('clip1')];
    const d = describeDataset(files);
    expect(d.items.map((i) => i.id)).toEqual(['clip1', 'clip2', 'clip10']);
    expect(d.items.map((i) => i.split)).toEqual([null, null, null]);
    expect(d.categories).toEqual([]);
    expect(d.items.every((i) => i.category === null)).toBe(true);
    expect(d.items[2]!.truth).toEqual(['clip10/frame2.jpg']);
  });

  it('reports a triplet folder missing a frame or holding two files for one, and goes on', () => {
    const files = [
      'a/frame1.png',
      'a/frame3.png',
      ...triplet('b'),
      'b/frame2.jpg',
      ...triplet('c'),
      'd/notes.txt',
    ];
    const d = describeDataset(files);
    expect(d.items.map((i) => i.id)).toEqual(['c']);
    expect(d.problems).toEqual([
      { id: 'a', message: 'missing frame2 (a triplet needs frame1, frame2 and frame3)' },
      { id: 'b', message: 'two files for one frame: frame2.jpg and frame2.png' },
    ]);
  });

  it('makes every window of three consecutive frames an item of a sequence', () => {
    const files = [
      'shot/0001.png',
      'shot/0010.png',
      'shot/0002.png',
      'shot/0003.png',
      'shot/x.txt',
    ];
    const d = describeDataset(files);
    expect(d.layout).toBe('sequence');
    expect(d.items.map((i) => [i.id, i.start, i.truth, i.end])).toEqual([
      ['shot#1-3', 'shot/0001.png', ['shot/0002.png'], 'shot/0003.png'],
      ['shot#2-4', 'shot/0002.png', ['shot/0003.png'], 'shot/0010.png'],
    ]);
  });

  it('takes keyframes every k frames with the k − 1 between as ground truth', () => {
    const files = Array.from({ length: 10 }, (_, i) => `seq/f${i + 1}.png`);
    const d = describeDataset(files, { sequence: { keyframesEvery: 4 } });
    expect(d.items.map((i) => i.id)).toEqual(['seq#1-5', 'seq#5-9']);
    expect(d.items[1]!.truth).toEqual(['seq/f6.png', 'seq/f7.png', 'seq/f8.png']);
    expect(d.items[1]!.tau).toEqual([0.25, 0.5, 0.75]);
    const short = describeDataset(files.slice(0, 3), { sequence: { keyframesEvery: 4 } });
    expect(short.items).toEqual([]);
    expect(short.problems[0]!.message).toMatch(/3 frames: too few for keyframes every 4 frames/);
    expect(() => describeDataset(files, { sequence: { keyframesEvery: 1 } })).toThrow(/k ≥ 2/);
  });

  it("reads ffmpeg's frame1 … frameN as a sequence, not as a triplet dropping the rest", () => {
    const files = Array.from({ length: 12 }, (_, i) => `clip/frame${i + 1}.png`);
    const d = describeDataset(files, { sequence: { keyframesEvery: 4 } });
    expect(d.layout).toBe('sequence');
    expect(d.problems).toEqual([]);
    expect(d.items.map((i) => i.id)).toEqual(['clip#1-5', 'clip#5-9']);
    expect(d.items[1]!.truth).toEqual(['clip/frame6.png', 'clip/frame7.png', 'clip/frame8.png']);
    expect(describeDataset(files).items).toHaveLength(10);
    // frame1–3 beside images of other names is neither: a problem says so.
    const odd = describeDataset([...triplet('t', 'jpg'), 't/cover.png', ...triplet('ok')]);
    expect(odd.items.map((i) => i.id)).toEqual(['ok']);
    expect(odd.problems).toEqual([
      {
        id: 't',
        message:
          'frame1, frame2, frame3 beside 1 other image (cover.png): a triplet folder holds frame1, frame2 and frame3 only, a sequence of frameN files no other names; move the others out or rename them',
      },
    ]);
  });

  it('is empty for an empty folder and mixed when it holds both kinds', () => {
    expect(describeDataset([])).toMatchObject({ layout: 'empty', items: [], problems: [] });
    const mixed = describeDataset([...triplet('t'), 's/1.png', 's/2.png', 's/3.png']);
    expect(mixed.layout).toBe('mixed');
    expect(mixed.items.map((i) => i.id)).toEqual(['s#1-3', 't']);
  });
});

describe('shards', () => {
  const ids = Array.from({ length: 300 }, (_, i) => `test/clip_${i}`);

  it('put every item in exactly one shard, the same wherever it runs, roughly evenly', () => {
    const counts = [0, 0, 0];
    for (const id of ids) {
      const s = shardOf(id, 3);
      expect(s).toBe(shardOf(id, 3));
      counts[s]!++;
    }
    expect(counts.reduce((a, b) => a + b)).toBe(300);
    for (const c of counts) expect(c).toBeGreaterThan(70);
    // The hash is FNV-1a 32-bit (its published vector: "a" → 0xe40c292c); a change to it would
    // move items between the shards of a running job.
    expect(shardOf('a', 2 ** 32)).toBe(0xe40c292c);
    expect(shardOf('a', 7)).toBe(0xe40c292c % 7);
  });

  it('parse i/n, 0-based', () => {
    expect(parseShard('0/4')).toEqual({ index: 0, count: 4 });
    expect(parseShard('3/4')).toEqual({ index: 3, count: 4 });
    expect(() => parseShard('4/4')).toThrow(/0 ≤ i < n/);
    expect(() => parseShard('1of4')).toThrow(/i\/n/);
  });
});

describe('naturalCompare', () => {
  it('orders digit runs as numbers', () => {
    expect(['f10', 'f2', 'f1', 'f02'].sort(naturalCompare)).toEqual(['f1', 'f2', 'f02', 'f10']);
  });
});
