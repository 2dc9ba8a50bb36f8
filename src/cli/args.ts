/** Argument parsing shared by every `inbetween` command: one error type, one parser. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** An error whose message is the whole one-line reason shown to the person (exit code 2). */
export class UsageError extends Error {}

/**
 * `--frames -1` as `--frames=-1`: node's parseArgs takes a value that starts with a dash for an
 * option and calls the argument "ambiguous"; a negative number is a value (and is then refused
 * by its range, with a message that says so).
 */
function joinNegativeValues(
  args: readonly string[],
  options: ParseArgsConfig['options'],
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const next = args[i + 1];
    const opt = a.startsWith('--') ? options?.[a.slice(2)] : undefined;
    if (opt?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * node:util parseArgs with its errors as one-line `UsageError`s. An option that takes one value
 * given twice is refused (parseArgs keeps the last: `--steps 2 --steps 3` ran 3 steps without a
 * word, and a leftover flag in a script went unnoticed).
 */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T) {
  const args = joinNegativeValues(config.args ?? [], config.options);
  let parsed;
  try {
    parsed = parseArgs({ ...config, args, tokens: true });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
  const seen = new Set<string>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || config.options?.[t.name]?.multiple) continue;
    if (seen.has(t.name)) throw new UsageError(`--${t.name} is given more than once`);
    seen.add(t.name);
  }
  return parsed;
}
