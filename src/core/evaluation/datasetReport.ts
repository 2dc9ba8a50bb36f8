/**
 * The report of a dataset evaluation (issue 19, `inbetween report`): the runs (shards) merged and
 * checked — same pack, protocol and plan; every item × configuration present once — then per
 * configuration and metric the mean over items with its 95% confidence interval, the paired
 * difference of each configuration against a reference configuration on the same items (with its
 * interval), anchors as rows, and per-category rows where the dataset names categories; rendered as
 * Markdown, CSV, LaTeX (booktabs) or JSON. Pure: the caller reads the files.
 */
import { pairedDifference, tQuantile975, type PairedDifference } from '../pairedDifference';
import { PROTOCOLS, runIdentity, type ResultLine, type RunInfo } from './datasetRun';

/** A metric's mean over items with its 95% interval (Student's t). */
export interface MeanInterval {
  mean: number | null;
  low: number | null;
  high: number | null;
  /** Items with a finite value. */
  n: number;
  /** Items without one (not measured, or PSNR ∞ for an exact frame). */
  excluded: number;
}

export interface ReportRow {
  config: string;
  kind: 'model' | 'anchor';
  category: string | null;
  metrics: Record<string, MeanInterval>;
}

export interface PairedRow {
  config: string;
  metrics: Record<string, PairedDifference>;
}

export interface DatasetReport {
  protocol: string;
  definition: string;
  metrics: string[];
  pack: RunInfo['pack'];
  dataset: RunInfo['dataset'];
  /** Items scored (in at least one configuration). */
  items: number;
  /** Items the dataset could not give, and items whose frames could not be read. */
  problems: number;
  reference: string;
  rows: ReportRow[];
  paired: PairedRow[];
  categories: string[];
  categoryRows: ReportRow[];
}

/** The 95% interval of a mean from per-item values (non-finite and null values left out). */
export function meanInterval(values: readonly (number | null)[]): MeanInterval {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x));
  const n = v.length;
  const excluded = values.length - n;
  if (n === 0) return { mean: null, low: null, high: null, n, excluded };
  const mean = v.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, low: null, high: null, n, excluded };
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const half = tQuantile975(n - 1) * (sd / Math.sqrt(n));
  return { mean, low: mean - half, high: mean + half, n, excluded };
}

/** Runs merged: one info (they must agree), every line once, and what is missing. */
export interface MergedRuns {
  info: RunInfo;
  lines: ResultLine[];
  /** `item × config` pairs the runs' plans cover but no line holds. */
  missing: { item: string; config: string }[];
  /** Items whose frames could not be read, with why. */
  itemProblems: { item: string; message: string }[];
  /** Shards of a sharded run (0-based) that no given run covers. */
  missingShards: number[];
}

/**
 * Merges runs (shards, or one run): they must share pack, protocol, dataset and plan; a line seen
 * twice must be identical (a shard run twice), and two shards may not both claim an item.
 */
export function mergeRuns(
  runs: readonly {
    info: RunInfo;
    lines: ResultLine[];
    itemProblems?: { item: string; message: string }[];
  }[],
): MergedRuns {
  if (runs.length === 0) throw new Error('no runs to report');
  const first = runs[0]!.info;
  const identity = runIdentity(first);
  const owner = new Map<string, number>();
  runs.forEach((r, i) => {
    if (runIdentity(r.info) !== identity || (r.info.shard === null) !== (first.shard === null)) {
      throw new Error(
        `run ${i + 1} is not part of the same evaluation as run 1 (pack, dataset, protocol or plan differ)`,
      );
    }
    for (const item of r.info.items) {
      const o = owner.get(item);
      if (o !== undefined && o !== i && !sameShard(runs[o]!.info, r.info)) {
        throw new Error(`item ${item} is in two runs (${o + 1} and ${i + 1}) of different shards`);
      }
      owner.set(item, i);
    }
  });
  const byKey = new Map<string, ResultLine>();
  for (const r of runs) {
    for (const line of r.lines) {
      const key = `${line.item}\u0000${line.config}`;
      const seen = byKey.get(key);
      if (seen && JSON.stringify(seen.metrics) !== JSON.stringify(line.metrics)) {
        throw new Error(`${line.item} × ${line.config} has two different results`);
      }
      byKey.set(key, line);
    }
  }
  const itemProblems = runs.flatMap((r) => r.itemProblems ?? []);
  const failed = new Set(itemProblems.map((p) => p.item));
  const columns = [...first.configs.map((c) => c.id), ...first.anchors];
  const missing: { item: string; config: string }[] = [];
  for (const item of owner.keys()) {
    if (failed.has(item)) continue;
    for (const config of columns)
      if (!byKey.has(`${item}\u0000${config}`)) missing.push({ item, config });
  }
  // In key order, so the sums (and the report) do not depend on how the items were split.
  const lines = [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([, l]) => l);
  const shards = first.shard ? first.shard.count : 0;
  const covered = new Set(runs.map((r) => r.info.shard?.index));
  const missingShards = Array.from({ length: shards }, (_, i) => i).filter((i) => !covered.has(i));
  return { info: first, lines, missing, itemProblems, missingShards };
}

const sameShard = (a: RunInfo, b: RunInfo) => JSON.stringify(a.shard) === JSON.stringify(b.shard);

/** The report of merged runs; `reference` defaults to the runs' reference configuration. */
export function summariseRuns(merged: MergedRuns, reference?: string): DatasetReport {
  const { info, lines } = merged;
  const protocol = PROTOCOLS[info.protocol];
  // Sequences with several in-betweens also carry temporal metrics.
  const metrics = [
    ...protocol.metrics,
    ...TEMPORAL_METRICS.filter((m) => lines.some((l) => m in l.metrics)),
  ];
  const ref = reference ?? info.reference;
  const columns = [
    ...info.configs.map((c) => ({ id: c.id, kind: 'model' as const })),
    ...info.anchors.map((id) => ({ id, kind: 'anchor' as const })),
  ];
  if (!columns.some((c) => c.id === ref)) {
    throw new Error(
      `--ref ${ref} is not a configuration of this run (it has ${columns.map((c) => c.id).join(', ')})`,
    );
  }
  const byConfig = new Map<string, Map<string, ResultLine>>();
  for (const l of lines) {
    let m = byConfig.get(l.config);
    if (!m) byConfig.set(l.config, (m = new Map()));
    m.set(l.item, l);
  }
  const items = [...new Set(lines.map((l) => l.item))].sort();
  const row = (id: string, kind: 'model' | 'anchor', category: string | null): ReportRow => {
    const got = [...(byConfig.get(id)?.values() ?? [])].filter(
      (l) => category === null || l.category === category,
    );
    return {
      config: id,
      kind,
      category,
      metrics: Object.fromEntries(
        metrics.map((m) => [m, meanInterval(got.map((l) => l.metrics[m] ?? null))]),
      ),
    };
  };
  const refLines = byConfig.get(ref) ?? new Map<string, ResultLine>();
  const paired: PairedRow[] = columns
    .filter((c) => c.id !== ref)
    .map((c) => {
      const mine = byConfig.get(c.id) ?? new Map<string, ResultLine>();
      const common = items.filter((i) => mine.has(i) && refLines.has(i));
      return {
        config: c.id,
        metrics: Object.fromEntries(
          metrics.map((m) => [
            m,
            pairedDifference(
              common.map((i) => mine.get(i)!.metrics[m] ?? null),
              common.map((i) => refLines.get(i)!.metrics[m] ?? null),
            ),
          ]),
        ),
      };
    });
  const categories = [
    ...new Set(lines.map((l) => l.category).filter((c): c is string => c !== null)),
  ].sort();
  return {
    protocol: protocol.label,
    definition: protocol.definition,
    metrics,
    pack: info.pack,
    dataset: info.dataset,
    items: items.length,
    problems: info.datasetProblems.length + merged.itemProblems.length,
    reference: ref,
    rows: columns.map((c) => row(c.id, c.kind, null)),
    paired,
    categories,
    categoryRows: categories.flatMap((cat) => columns.map((c) => row(c.id, c.kind, cat))),
  };
}

// ---- rendering ------------------------------------------------------------------------------------

/** The temporal metrics (several in-betweens per item), in table order. */
export const TEMPORAL_METRICS = ['ssimF2F', 'ssimF2FTruth', 'tLP', 'tOF'] as const;

/** Column headings of the tables (Markdown, CSV and the page). */
export const METRIC_LABEL: Readonly<Record<string, string>> = {
  ssimF2F: 'F2F SSIM',
  ssimF2FTruth: 'F2F SSIM (truth)',
  tLP: 'tLP×100 ↓',
  tOF: 'tOF ↓',
  psnr: 'PSNR (dB) ↑',
  ssim: 'SSIM ↑',
  ssimGray7: 'SSIM (gray, 7×7) ↑',
  lpipsAlex: 'LPIPS-Alex ↓',
  lpipsVgg: 'LPIPS-VGG ↓',
};
const digits = (m: string) => (m === 'psnr' ? 2 : 4);
const signed = (x: number, d: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}`;

/**
 * A row's n, as the tables' n column shows it: the most items any of its metrics was measured on.
 * A cell measured on fewer says its own (`cell`, `pairedCell`).
 */
export function rowN(metrics: Readonly<Record<string, { n: number }>>, names: readonly string[]) {
  return Math.max(...names.map((m) => metrics[m]!.n));
}

/** " (n=k)" after a cell whose n is not its row's (PSNR with exact items left out, say). */
const ownN = (n: number, row: number | undefined) =>
  row === undefined || n === row ? '' : ` (n=${n})`;

/** A mean ± half-width cell as every table shows it; with `row` (its row's n), its n where it differs. */
export function cell(s: MeanInterval, m: string, row?: number): string {
  if (s.mean === null) return '—';
  const d = digits(m);
  const value =
    s.low === null ? s.mean.toFixed(d) : `${s.mean.toFixed(d)} ± ${(s.high! - s.mean).toFixed(d)}`;
  return value + ownN(s.n, row);
}

/** A paired difference [interval] cell as every table shows it; with `row`, as `cell`. */
export function pairedCell(p: PairedDifference, m: string, row?: number): string {
  if (p.n === 0) return '—';
  const d = digits(m);
  const value = Number.isFinite(p.low)
    ? `${signed(p.mean, d)} [${signed(p.low, d)}, ${signed(p.high, d)}]`
    : signed(p.mean, d);
  return value + ownN(p.n, row);
}

function caption(r: DatasetReport): string {
  const ds = `${r.dataset.dir}${r.dataset.split ? ` (split ${r.dataset.split})` : ''}`;
  return `Pack ${r.pack.id} ${r.pack.version} on ${ds}: ${r.items} items${r.problems ? `, ${r.problems} skipped (see problems.jsonl)` : ''}. Means over items ± the half-width of their 95% confidence interval (Student's t); paired differences against ${r.reference} on the same items, with 95% intervals.`;
}

function markdown(r: DatasetReport): string {
  const head = `| configuration | n | ${r.metrics.map((m) => METRIC_LABEL[m] ?? m).join(' | ')} |`;
  const rule = `| --- | ---: | ${r.metrics.map(() => '---:').join(' | ')} |`;
  const line = (row: ReportRow) => {
    const n = rowN(row.metrics, r.metrics);
    return `| ${row.config}${row.category ? ` · ${row.category}` : ''} | ${n} | ${r.metrics.map((m) => cell(row.metrics[m]!, m, n)).join(' | ')} |`;
  };
  const out = [
    `## ${r.protocol} protocol`,
    '',
    caption(r),
    '',
    head,
    rule,
    ...r.rows.map(line),
    '',
    `### Paired differences against ${r.reference}`,
    '',
    `| configuration − reference | n | ${r.metrics.map((m) => `Δ ${METRIC_LABEL[m] ?? m}`).join(' | ')} |`,
    rule,
    ...r.paired.map((p) => {
      const n = rowN(p.metrics, r.metrics);
      return `| ${p.config} | ${n} | ${r.metrics.map((m) => pairedCell(p.metrics[m]!, m, n)).join(' | ')} |`;
    }),
  ];
  if (r.categories.length) {
    out.push('', '### By category', '', head, rule, ...r.categoryRows.map(line));
  }
  out.push('', `*${r.definition}*`, '');
  return out.join('\n');
}

const csvQuote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const num = (x: number | null) => (x === null || !Number.isFinite(x) ? '' : String(x));

function csv(r: DatasetReport): string {
  const out = ['table,configuration,category,metric,mean,low,high,n,excluded'];
  const row = (
    table: string,
    config: string,
    category: string,
    m: string,
    s: MeanInterval | PairedDifference,
  ) =>
    out.push(
      [table, config, category, m, num(s.mean), num(s.low), num(s.high), s.n, s.excluded]
        .map((x) => csvQuote(String(x)))
        .join(','),
    );
  for (const x of [...r.rows, ...r.categoryRows])
    for (const m of r.metrics) row('mean', x.config, x.category ?? '', m, x.metrics[m]!);
  for (const p of r.paired)
    for (const m of r.metrics) row(`paired vs ${r.reference}`, p.config, '', m, p.metrics[m]!);
  return out.join('\n') + '\n';
}

/**
 * LaTeX for the characters of the captions and definitions that are special to TeX or that
 * pdflatex cannot typeset without packages (Greek letters, ∞); the others get a backslash.
 */
const TEX_CHAR: Readonly<Record<string, string>> = {
  '\\': '\\textbackslash{}',
  '~': '\\textasciitilde{}',
  '^': '\\textasciicircum{}',
  τ: '$\\tau$',
  σ: '$\\sigma$',
  '±': '$\\pm$',
  '×': '$\\times$',
  '½': '$\\frac{1}{2}$',
  '∞': '$\\infty$',
  '−': '$-$',
  '—': '---',
  '–': '--',
  '…': '\\ldots{}',
};
/** Text as LaTeX typesets it (`TEX_CHAR`). */
const texEscape = (s: string) =>
  s.replace(/[\\_%&#$^{}~τσ±×½∞−—–…]/g, (c) => TEX_CHAR[c] ?? `\\${c}`);
const TEX_LABEL: Record<string, string> = {
  ssimF2F: 'F2F SSIM',
  ssimF2FTruth: 'F2F SSIM (truth)',
  tLP: 'tLP$\\times$100 $\\downarrow$',
  tOF: 'tOF $\\downarrow$',
  psnr: 'PSNR (dB) $\\uparrow$',
  ssim: 'SSIM $\\uparrow$',
  ssimGray7: 'SSIM (gray, 7$\\times$7) $\\uparrow$',
  lpipsAlex: 'LPIPS-Alex $\\downarrow$',
  lpipsVgg: 'LPIPS-VGG $\\downarrow$',
};

function latex(r: DatasetReport): string {
  // The table has no n column: a cell measured on fewer items than the caption's says its n.
  const texCell = (s: MeanInterval, m: string) =>
    s.mean === null ? '--' : texEscape(cell(s, m, r.items));
  const rows = r.rows.map(
    (row) =>
      `${texEscape(row.config)} & ${r.metrics.map((m) => texCell(row.metrics[m]!, m)).join(' & ')} \\\\`,
  );
  const anchorsAt = r.rows.findIndex((row) => row.kind === 'anchor');
  if (anchorsAt > 0) rows.splice(anchorsAt, 0, '\\midrule');
  return [
    '% requires \\usepackage{booktabs}',
    '\\begin{table}[t]',
    '\\centering',
    `\\begin{tabular}{l${'r'.repeat(r.metrics.length)}}`,
    '\\toprule',
    `Configuration & ${r.metrics.map((m) => TEX_LABEL[m] ?? texEscape(m)).join(' & ')} \\\\`,
    '\\midrule',
    ...rows,
    '\\bottomrule',
    '\\end{tabular}',
    `\\caption{${texEscape(caption(r))} ${texEscape(r.definition)}}`,
    '\\end{table}',
    '',
  ].join('\n');
}

export type ReportFormat = 'md' | 'csv' | 'tex' | 'json';
export const REPORT_FORMATS: readonly ReportFormat[] = ['md', 'csv', 'tex', 'json'];

export function renderDatasetReport(r: DatasetReport, format: ReportFormat): string {
  switch (format) {
    case 'md':
      return markdown(r);
    case 'csv':
      return csv(r);
    case 'tex':
      return latex(r);
    case 'json':
      return (
        JSON.stringify(r, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) +
        '\n'
      );
  }
}
