/**
 * `inbetween score A.png B.png`: every metric of two images, LPIPS with the graphs of a folder.
 * main.ts imports this module only once onnxruntime-node has loaded.
 */
import { parseCommandArgs, UsageError } from './args';
import { intArg } from './runSettings';
import { loadLpipsGraphs, readPng, type LpipsGraphs } from '../node/nodeRuntime';
import {
  assertSameSize,
  DEFAULT_LPIPS_DIR,
  formatScores,
  missingLpips,
  scoreNamedImages,
} from '../node/score';

/** Releases the sessions of LPIPS graphs that loaded. */
export async function releaseLpips(lpips: LpipsGraphs | undefined): Promise<void> {
  if (!lpips?.available) return;
  for (const g of Object.values(lpips.graphs)) await g.runner.release();
}

/**
 * `inbetween score A.png B.png`: every metric, one line each with its convention (or `--json`).
 * Returns 0, or 1 when `--require-lpips` is given and an LPIPS value could not be measured.
 */
export async function scoreCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    options: {
      json: { type: 'boolean' },
      lpips: { type: 'string' },
      'require-lpips': { type: 'boolean' },
      threads: { type: 'string' },
    },
    strict: true,
    allowPositionals: true,
  });
  if (positionals.length !== 2) {
    throw new UsageError(
      `score needs two PNG files (inbetween score A.png B.png), got ${positionals.length}`,
    );
  }
  const [fileA, fileB] = positionals as [string, string];
  const threads = values.threads ? intArg('threads', values.threads, 0, 1, 64) : undefined;
  const [imageA, imageB] = await Promise.all([readPng(fileA), readPng(fileB)]);
  const a = { file: fileA, image: imageA };
  const b = { file: fileB, image: imageB };
  assertSameSize(a, b); // before loading the graphs
  const lpips = await loadLpipsGraphs(values.lpips ?? DEFAULT_LPIPS_DIR, threads);
  let scores;
  try {
    scores = await scoreNamedImages(a, b, lpips);
  } finally {
    await releaseLpips(lpips);
  }
  if (values.json) console.log(JSON.stringify(scores, null, 2));
  else for (const line of formatScores(scores)) console.log(line);
  const missing = values['require-lpips'] ? missingLpips(scores) : undefined;
  if (missing) {
    console.error(`inbetween: --require-lpips: ${missing}`);
    return 1;
  }
  return 0;
}
