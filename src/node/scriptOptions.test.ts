/**
 * The soak's and the op profiler's numbers are refused by name when they are not numbers (they
 * became NaN: a soak of --runs x ran nothing and passed), before anything is built or launched;
 * and the studio soak, which only reports figures, refuses --assert.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const TSX = join(REPO, 'node_modules', '.bin', 'tsx');

function script(file: string, ...args: string[]) {
  const r = spawnSync(TSX, [file, '--no-build', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, err: r.stderr.trim() };
}

describe('script options', () => {
  it('soak refuses counts that are not whole numbers, hours that are not hours, and --studio --assert', () => {
    for (const [args, message] of [
      [['--runs', 'x'], 'soak: --runs must be a whole number, got "x"'],
      [['--runs', '1'], 'soak: --runs must be at least 2, got "1"'],
      [['--every', '0'], 'soak: --every must be at least 1, got "0"'],
      [['--hours', 'two'], 'soak: --hours must be a number of hours above 0, got "two"'],
      [
        ['--studio', '--assert'],
        'soak: --assert checks the booth (the kiosk soak); --studio only reports figures',
      ],
    ] as const) {
      const r = script('scripts/soak.ts', ...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toBe(message);
    }
  }, 120_000);

  it('profile-ops refuses runs and threads below one', () => {
    const r = spawnSync(TSX, ['scripts/profile-ops.ts', '--threads', '0'], {
      cwd: REPO,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('--threads must be at least 1, got "0"');
  }, 60_000);
});
