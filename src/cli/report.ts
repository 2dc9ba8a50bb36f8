/**
 * `inbetween report` (issue 19): the tables of one or more `inbetween eval` runs (shards merged),
 * by src/core/evaluation/datasetReport.ts. It runs no graph, so neither this module nor what it
 * imports loads onnxruntime-node: a report is made on any machine the results are copied to.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  mergeRuns,
  renderDatasetReport,
  REPORT_FORMATS,
  summariseRuns,
  type ReportFormat,
} from '../core/evaluation/datasetReport';
import { readRun } from '../node/runFolder';
import { parseCommandArgs, UsageError } from './args';

/** `inbetween report RUN_DIR… [--ref CONFIG] [--format F] [--out FILE]`: returns the exit code. */
export async function reportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { ref: { type: 'string' }, format: { type: 'string' }, out: { type: 'string' } },
  });
  if (positionals.length === 0)
    throw new UsageError('report needs at least one run folder (an eval --out)');
  const format = (values['format'] ?? 'md') as string;
  if (!REPORT_FORMATS.includes(format as ReportFormat))
    throw new UsageError(`--format must be ${REPORT_FORMATS.join(', ')}, got "${format}"`);
  const runs = await Promise.all(positionals.map((d) => readRun(d)));
  const merged = mergeRuns(runs);
  const report = summariseRuns(merged, values['ref'] as string | undefined);
  const text = renderDatasetReport(report, format as ReportFormat);
  if (values['out']) {
    await mkdir(dirname(values['out'] as string), { recursive: true });
    await writeFile(values['out'] as string, text);
  } else process.stdout.write(text);
  if (merged.missingShards.length > 0) {
    console.error(
      `incomplete: shard${merged.missingShards.length > 1 ? 's' : ''} ${merged.missingShards.map((i) => `${i}/${merged.info.shard!.count}`).join(', ')} missing; pass every shard's --out folder`,
    );
    return 1;
  }
  if (merged.missing.length > 0) {
    const some = merged.missing.slice(0, 3).map((m) => `${m.item} × ${m.config}`);
    console.error(
      `incomplete: ${merged.missing.length} item × configuration results are missing (e.g. ${some.join('; ')}); run the missing shards or eval --resume`,
    );
    return 1;
  }
  return 0;
}
