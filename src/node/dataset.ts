/**
 * A dataset folder on disk (issue 19): its files listed safely (symbolic links followed once, a
 * link back into a folder already being walked reported as a loop, hidden files skipped, a cap on
 * depth and count), described by src/core/evaluation/dataset.ts, and each item's frames read and
 * checked — a file that is not a PNG, frames whose sizes differ — with a message that names the
 * file, so the caller records the item as a problem and goes on.
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  describeDataset,
  type DatasetDescription,
  type DatasetItem,
  type DatasetOptions,
  type DatasetProblem,
} from '../core/evaluation/dataset';
import { assembleItem, type LoadedItem } from '../core/evaluation/datasetEval';
import type { RgbaImage } from '../core/image';
import { readPng } from './nodeRuntime';

/** Walk limits: ATD-12K's test split is 2,000 folders of 3 files; its train split 10,000. */
export const MAX_DATASET_FILES = 1_000_000;
export const MAX_DATASET_DEPTH = 12;

/**
 * Every file under `root` as a `/`-separated relative path, with what could not be walked. Throws
 * only when `root` itself is not a readable folder.
 */
export async function listDatasetFiles(
  root: string,
): Promise<{ files: string[]; problems: DatasetProblem[] }> {
  const info = await stat(root).catch((e: NodeJS.ErrnoException) => {
    throw new Error(
      `the dataset folder ${root} ${e.code === 'ENOENT' ? 'does not exist' : `cannot be read (${e.code})`}`,
      { cause: e },
    );
  });
  if (!info.isDirectory()) throw new Error(`the dataset ${root} is not a folder`);
  const files: string[] = [];
  const problems: DatasetProblem[] = [];
  const walk = async (dir: string, rel: string, ancestors: Set<string>, depth: number) => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (e) {
      problems.push({
        id: rel || '.',
        message: `cannot be read (${(e as NodeJS.ErrnoException).code})`,
      });
      return;
    }
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (e.name.startsWith('.')) continue;
      const path = join(dir, e.name);
      const relPath = rel ? `${rel}/${e.name}` : e.name;
      let isDir = e.isDirectory();
      let isFile = e.isFile();
      if (e.isSymbolicLink()) {
        const target = await stat(path).catch(() => null);
        if (!target) {
          problems.push({ id: relPath, message: 'is a broken symbolic link' });
          continue;
        }
        isDir = target.isDirectory();
        isFile = target.isFile();
      }
      if (isFile) {
        if (files.length >= MAX_DATASET_FILES) {
          throw new Error(`the dataset ${root} holds more than ${MAX_DATASET_FILES} files`);
        }
        files.push(relPath);
      } else if (isDir) {
        const real = await realpath(path);
        if (ancestors.has(real)) {
          problems.push({
            id: relPath,
            message: 'is a symbolic link loop (a link back to a folder above it); skipped',
          });
        } else if (depth >= MAX_DATASET_DEPTH) {
          problems.push({
            id: relPath,
            message: `is more than ${MAX_DATASET_DEPTH} folders deep; skipped`,
          });
        } else {
          await walk(path, relPath, new Set([...ancestors, real]), depth + 1);
        }
      }
    }
  };
  await walk(root, '', new Set([await realpath(root)]), 0);
  return { files, problems };
}

export type { LoadedItem };

/** The items of the dataset folder `root` (see `describeDataset`), with the walk's problems. */
export async function openDataset(
  root: string,
  opts: DatasetOptions = {},
): Promise<DatasetDescription> {
  const { files, problems } = await listDatasetFiles(root);
  const d = describeDataset(files, opts);
  return { ...d, problems: [...problems, ...d.problems] };
}

/**
 * Reads an item's frames. Throws a one-line message naming the file when one is not a readable
 * PNG, or naming the sizes when they differ within the item.
 */
export async function loadDatasetItem(root: string, item: DatasetItem): Promise<LoadedItem> {
  const paths = [item.start, ...item.truth, item.end];
  const images: RgbaImage[] = [];
  for (const p of paths) {
    try {
      images.push(await readPng(join(root, p)));
    } catch (e) {
      // readPng names the file by its full path; the item's relative path reads better.
      throw new Error((e as Error).message.split(join(root, p)).join(p), { cause: e });
    }
  }
  return assembleItem(paths, images);
}
