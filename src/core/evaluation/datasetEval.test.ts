/**
 * The pure parts of a dataset evaluation's work, without graphs: the KDQ protocol's clip frame for
 * odd and even clip lengths, a run's description refusing keyframes further apart than the pack
 * makes in-betweens for, the flow anchor for a pack without a motion graph, and a line's item value
 * when one of its frames is exact. The runs on real graphs are src/node/evalDataset.test.ts.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { chosenClipFrames, describePick } from '../clip';
import { createRgbaImage, type RgbaImage } from '../image';
import { parseManifest, type PackManifest } from '../manifest';
import type { VariantGraphs } from '../pipeline';
import { describeDataset, type SequenceMode } from './dataset';
import { describeRun, generateItem, kdqClipFrame, scoreColumn } from './datasetEval';

const REPO = resolve(import.meta.dirname, '..', '..', '..');

function tinyManifest(): PackManifest {
  const r = parseManifest(readFileSync(join(REPO, 'models', 'tiny', 'manifest.json'), 'utf8'));
  if (!r.ok) throw new Error(r.errors.join('; '));
  return r.manifest;
}

/** A box at (x, 12) on a light ground. */
function box(x: number, w = 64, h = 48): RgbaImage {
  const img = createRgbaImage(w, h);
  for (let y = 0; y < h; y++)
    for (let i = 0; i < w; i++) {
      const inside = Math.abs(i - x) < 8 && Math.abs(y - 20) < 8;
      img.data.set(inside ? [40, 60, 200, 255] : [230, 220, 200, 255], (y * w + i) * 4);
    }
  return img;
}

describe('the KDQ clip frame', () => {
  it('is index T/2 of an even clip and the exact middle of an odd one, which a clip run takes', () => {
    expect(kdqClipFrame(16)).toBe(8);
    expect(kdqClipFrame(9)).toBe(4);
    expect(kdqClipFrame(3)).toBe(1);
    expect(describePick(chosenClipFrames(9, [kdqClipFrame(9)]), 9)).toBe(
      'frame 5 of the 9-frame clip (τ 0.50)',
    );
    expect(describePick(chosenClipFrames(16, [kdqClipFrame(16)]), 16)).toBe(
      'frame 9 of the 16-frame clip (τ 0.53)',
    );
  });
});

describe('describeRun', () => {
  const manifest = tinyManifest();
  const files = Array.from({ length: 40 }, (_, i) => `shot/f${i + 1}.png`);
  const runOf = (m: PackManifest, sequence: SequenceMode) =>
    describeRun(m, describeDataset(files, { sequence }), {
      protocol: 'studio',
      fit: 'letterbox',
      split: null,
      sequence,
      shard: null,
      packDir: 'pack',
      datasetDir: 'data',
      steps: [2],
    });

  it('refuses keyframes further apart than the pack makes in-betweens for, before any work', () => {
    expect(runOf(manifest, { keyframesEvery: 16 }).items[0]!.truth).toHaveLength(15);
    expect(() => runOf(manifest, { keyframesEvery: 17 })).toThrow(
      'keyframes every 17 frames asks for 16 in-betweens per item, and a pack makes at most 15: take keyframes every 16 frames or fewer',
    );
    const clip = { ...manifest, frames: { mode: 'clip', clipLength: 9 } } as PackManifest;
    expect(runOf(clip, { keyframesEvery: 8 }).items[0]!.truth).toHaveLength(7);
    expect(() => runOf(clip, { keyframesEvery: 9 })).toThrow(
      'keyframes every 9 frames asks for 8 in-betweens per item, and a 9-frame clip pack makes at most 7: take keyframes every 8 frames or fewer',
    );
  });

  it('plans the flow anchor for a pack without a motion graph', () => {
    expect(manifest.graphs.motion).toBeUndefined();
    expect(runOf(manifest, 'triplets').info.anchors).toEqual([
      'anchor:blend',
      'anchor:repeat',
      'anchor:flow',
    ]);
  });
});

describe('generateItem and scoreColumn', () => {
  const manifest = tinyManifest();

  it('make the flow anchor with no graph at all: OpenCV-style Farnebäck in TypeScript', async () => {
    const [start, end] = [box(28), box(36)];
    const columns = await generateItem({
      manifest,
      graphs: {} as VariantGraphs,
      item: { tau: [0.5] },
      loaded: { start: start!, end: end! },
      fit: 'letterbox',
      protocol: 'studio',
      configs: [],
      anchors: ['anchor:flow', 'anchor:blend'],
      flowConfig: {
        id: 'variant=baseline;steps=2;seed=1',
        variant: 'baseline',
        loraScale: null,
        guidanceScale: null,
        steps: 2,
        seed: 1,
      },
    });
    expect(columns.map((c) => c.config)).toEqual(['anchor:flow', 'anchor:blend']);
    const [flow, blend] = columns.map((c) => c.frames[0]!);
    expect([flow!.width, flow!.height]).toEqual([64, 48]);
    // The warp found the motion: its frame is not the blend's.
    expect(flow!.data.some((v, i) => Math.abs(v - blend!.data[i]!) > 40)).toBe(true);
  });

  it("average a sequence item's finite frames, counting an exact one, in the line", async () => {
    const frames = [box(20), box(28), box(36), box(44)];
    const line = await scoreColumn(
      { id: 'shot#1-4', split: null, category: null, tau: [1 / 3, 2 / 3] },
      { config: 'anchor:repeat', frames: [frames[1]!, frames[1]!] },
      { start: frames[0]!, truth: [frames[1]!, frames[2]!], end: frames[3]! },
      'studio',
      { studio: {}, vgg: null, vggMissing: '' },
    );
    expect(line.frames.map((f) => f.metrics['psnr'])).toEqual([
      Infinity,
      line.frames[1]!.metrics['psnr'],
    ]);
    expect(line.metrics['psnr']).toBe(line.frames[1]!.metrics['psnr']);
    expect(Number.isFinite(line.metrics['psnr'])).toBe(true);
    expect(line.exactFrames).toEqual({ psnr: 1 });
  });
});
