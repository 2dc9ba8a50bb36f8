/**
 * For tests of commands that print: in every test of the file, `console.log` and `console.error`
 * are caught (not shown) and what they were given is collected in `out` and `errors`, emptied
 * before each test.
 */
import { afterEach, beforeEach, vi } from 'vitest';

export function captureConsole(): { out: string[]; errors: string[] } {
  const printed = { out: [] as string[], errors: [] as string[] };
  beforeEach(() => {
    printed.out.length = 0;
    printed.errors.length = 0;
    vi.spyOn(console, 'log').mockImplementation((msg: string) => void printed.out.push(msg));
    vi.spyOn(console, 'error').mockImplementation((msg: string) => void printed.errors.push(msg));
  });
  afterEach(() => vi.restoreAllMocks());
  return printed;
}
