/**
 * A dataset folder on disk: listed with symbolic links (a loop reported, not followed forever),
 * hidden files skipped, and each item's frames read with the bad ones named — a file that is not a
 * PNG, sizes that differ — so an evaluation records them and goes on.
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRgbaImage } from '../core/image';
import { listDatasetFiles, loadDatasetItem, openDataset } from './dataset';
import { writePng } from './nodeRuntime';

let root: string;

async function frame(path: string, w = 24, h = 16, shade = 0) {
  const img = createRgbaImage(w, h);
  img.data.fill(255);
  for (let i = 0; i < img.data.length; i += 4) img.data[i] = shade;
  await mkdir(join(path, '..'), { recursive: true });
  await writePng(path, img);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dataset-'));
  for (const clip of ['test/Disney_a_1', 'test/Japan_b_2']) {
    for (const k of [1, 2, 3]) await frame(join(root, clip, `frame${k}.png`), 24, 16, k * 60);
  }
  // Sizes that differ within a triplet.
  for (const k of [1, 2, 3])
    await frame(join(root, 'test/Disney_c_3', `frame${k}.png`), k === 2 ? 12 : 24, 16);
  // A "PNG" that is text.
  for (const k of [1, 3]) await frame(join(root, 'test/Japan_d_4', `frame${k}.png`));
  await writeFile(join(root, 'test/Japan_d_4', 'frame2.png'), 'not an image');
  // A frame missing, a hidden file, a loop back to the root, and an empty folder.
  await frame(join(root, 'test/Japan_e_5', 'frame1.png'));
  await writeFile(join(root, 'test/.DS_Store'), 'x');
  await symlink(root, join(root, 'test/loop'));
  await mkdir(join(root, 'empty'));
}, 30_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('a dataset folder', () => {
  it('lists files, skipping hidden ones and reporting a symbolic link loop', async () => {
    const { files, problems } = await listDatasetFiles(root);
    expect(files).toContain('test/Disney_a_1/frame2.png');
    expect(files.some((f) => f.includes('.DS_Store') || f.startsWith('test/loop'))).toBe(false);
    expect(problems).toEqual([
      {
        id: 'test/loop',
        message: 'is a symbolic link loop (a link back to a folder above it); skipped',
      },
    ]);
  });

  it('describes the items and counts the problems without stopping', async () => {
    const d = await openDataset(root, { split: 'test' });
    expect(d.items.map((i) => i.id)).toEqual([
      'test/Disney_a_1',
      'test/Disney_c_3',
      'test/Japan_b_2',
      'test/Japan_d_4',
    ]);
    expect(d.problems.map((p) => p.id)).toEqual(['test/loop', 'test/Japan_e_5']);
    expect(d.categories).toEqual(['Disney', 'Japan']);
  });

  it('reads an item, and names the file or the sizes when one is bad', async () => {
    const d = await openDataset(root);
    const byId = new Map(d.items.map((i) => [i.id, i]));
    const good = await loadDatasetItem(root, byId.get('test/Disney_a_1')!);
    expect([good.start.width, good.truth.length, good.truth[0]!.data[0], good.end.data[0]]).toEqual(
      [24, 1, 120, 180],
    );
    await expect(loadDatasetItem(root, byId.get('test/Disney_c_3')!)).rejects.toThrow(
      'sizes differ within the item: frame1.png 24×16, frame2.png 12×16, frame3.png 24×16',
    );
    await expect(loadDatasetItem(root, byId.get('test/Japan_d_4')!)).rejects.toThrow(
      /^test\/Japan_d_4\/frame2\.png is not an image file/,
    );
  });

  it('refuses a dataset that is not a folder, and is empty for an empty one', async () => {
    await expect(openDataset(join(root, 'nothing'))).rejects.toThrow(/does not exist/);
    await expect(openDataset(join(root, 'test/Disney_a_1/frame1.png'))).rejects.toThrow(
      /is not a folder/,
    );
    expect(await openDataset(join(root, 'empty'))).toMatchObject({ layout: 'empty', items: [] });
  });
});
