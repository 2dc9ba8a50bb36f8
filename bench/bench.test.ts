/**
 * `npm run bench`'s options: a count that is not a whole number is refused by name before anything
 * is built or launched (it used to become NaN and reach the benchmark).
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '..');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

function bench(...args: string[]) {
  const r = spawnSync(TSX, ['bench/bench.ts', '--no-build', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, err: r.stderr };
}

describe('bench options', () => {
  it('refuses --repeats and --rounds that are not whole numbers, and --repeats 0', () => {
    for (const [option, value, message] of [
      ['--repeats', 'x', '--repeats must be a whole number, got "x"'],
      ['--rounds', '2.5', '--rounds must be a whole number, got "2.5"'],
      ['--rounds', '-1', '--rounds must be a whole number, got "-1"'],
      ['--repeats', '0', '--repeats must be at least 1, got "0"'],
    ] as const) {
      const r = bench(`${option}=${value}`);
      expect(r.code, `${option} ${value}`).toBe(2);
      expect(r.err.trim()).toBe(`bench: ${message}`);
    }
  }, 120_000);
});
