/**
 * An `inbetween eval --out` folder on disk: its file names and how they are read back. It loads no
 * ONNX Runtime, so `inbetween report` runs on any machine the results are copied to.
 */
import { existsSync, readFileSync, truncateSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ResultLine, RunInfo } from '../core/evaluation/datasetRun';

export const RESULTS = 'results.jsonl';
export const PROBLEMS = 'problems.jsonl';
export const RUN = 'run.json';

/**
 * The JSON lines of a file, none when it does not exist. The last line may have been cut short by a
 * kill (no newline after it, or not JSON): it is left out, and with `repair` (a resume, which
 * appends next) cut off the file so the next line starts a line of its own. Any other line that is
 * not JSON is an error naming the file and the line.
 */
export function readJsonLines<T>(
  path: string,
  opts: { repair?: boolean; reviver?: (key: string, value: unknown) => unknown } = {},
): T[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, 'utf8');
  // Complete lines end at `end`; what follows, if anything, was cut short.
  let end = text.lastIndexOf('\n') + 1;
  const lines = text.slice(0, end).split('\n').slice(0, -1);
  const last = lines.findLastIndex((l) => l.trim() !== '');
  const out: T[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      out.push(JSON.parse(line, opts.reviver) as T);
    } catch (e) {
      if (i !== last)
        throw new Error(`${path}, line ${i + 1}, is not a JSON line: ${(e as Error).message}`, {
          cause: e,
        });
      end = lines.slice(0, i).reduce((n, l) => n + l.length + 1, 0);
    }
  }
  if (opts.repair && end < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, end)));
  return out;
}

/** Reads a run folder: run.json, results.jsonl (∞ restored) and problems.jsonl. */
export async function readRun(dir: string): Promise<{
  info: RunInfo;
  lines: ResultLine[];
  itemProblems: { item: string; message: string }[];
}> {
  const runPath = resolve(dir, RUN);
  if (!existsSync(runPath))
    throw new Error(`${dir} holds no run.json: is it an inbetween eval --out folder?`);
  const info = JSON.parse(await readFile(runPath, 'utf8')) as RunInfo;
  const lines = readJsonLines<ResultLine>(resolve(dir, RESULTS), {
    reviver: (_k, v) => (v === 'Infinity' ? Infinity : v),
  });
  const itemProblems = readJsonLines<{ item: string; message: string }>(resolve(dir, PROBLEMS));
  return { info, lines, itemProblems };
}
