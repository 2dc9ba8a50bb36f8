/**
 * Builds the synthetic pack of real size (models/training/synthetic_large_pack.py: flow-tiny's
 * student with weight tables of the asked size in external-data files) into a temporary folder,
 * for the Node and browser tests of streaming, caching, the memory estimate and loading.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

export function buildSyntheticPack(opts: { bytes: number; files: number; declareOnly?: boolean }): {
  dir: string;
  cleanup: () => void;
} {
  const parent = mkdtempSync(join(tmpdir(), 'synthetic-pack-'));
  const dir = join(parent, 'flow-big');
  execFileSync(
    '/usr/bin/python3',
    [
      '-m',
      'models.training.synthetic_large_pack',
      '--out',
      dir,
      '--bytes',
      String(opts.bytes),
      '--files',
      String(opts.files),
      ...(opts.declareOnly ? ['--declare-only'] : []),
    ],
    { cwd: ROOT, stdio: 'pipe' },
  );
  return { dir, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}
