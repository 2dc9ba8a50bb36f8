/**
 * `npm run pack:int8` (scripts/quantize-int8.ts) refuses what would quietly give other int8 graphs:
 * a missing calibration folder (it used to calibrate on the sample drawings alone) and a --limit
 * that is not a whole number. Real processes; both stop before any graph is loaded.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const TSX = join(REPO, 'node_modules/.bin/tsx');
const tmp = mkdtempSync(join(tmpdir(), 'pack-int8-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const packInt8 = (...args: string[]) =>
  spawnSync(TSX, ['scripts/quantize-int8.ts', '--pack', 'models/tiny', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('npm run pack:int8 refuses input that would change its graphs', () => {
  it('stops at once without calibration clips and says how to make them', () => {
    const missing = join(tmp, 'calib');
    const r = packInt8('--data', missing);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`no calibration clips in ${join(missing, 'train')}`);
    expect(r.stderr).toContain(
      `python3 -m models.training.data.procedural --out ${missing} --train 40 --val 0`,
    );
  });

  it('refuses a --limit that is not a whole number', () => {
    const r = packInt8('--limit', 'forty');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('--limit must be a whole number, got "forty"');
  });
});
