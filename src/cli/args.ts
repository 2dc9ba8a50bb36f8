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

/** node:util parseArgs with its errors as one-line `UsageError`s. */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T) {
  try {
    return parseArgs({ ...config, args: joinNegativeValues(config.args ?? [], config.options) });
  } catch (e) {
    throw new UsageError((e as Error).message.split('\n')[0]!);
  }
}
