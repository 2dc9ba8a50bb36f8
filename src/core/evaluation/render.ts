/**
 * REPORT.md and the LoRA-sweep SVG, drawn from an `EvaluationResult` alone (what evaluation.json
 * holds), so the report and the JSON always agree. Pure: runs anywhere.
 */
import { METRIC_CONVENTIONS } from '../metrics';
import type { LoraSweep } from './plan';
import type {
  AnchorCheck,
  EvaluationResult,
  MetricComparison,
  PairedSummary,
  ResultRow,
} from './summary';

/** A number with `digits` decimals; '—' when missing. */
export function fmt(x: number | null | undefined, digits: number): string {
  return x === null || x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(digits);
}

/**
 * PSNR cell: the mean of per-triplet values (docs/metrics.md); when some frames are identical to
 * the truth their PSNR is +∞ and so is the mean — the cell then says how many, and the mean of the
 * others.
 */
export function psnrCell(r: ResultRow, triplets: number): string {
  if (!r.psnrExact) return fmt(r.psnr, 2);
  const rest = triplets - r.psnrExact;
  const others = rest ? `; the other ${rest}: ${fmt(r.psnrOfOthers, 2)}` : '';
  return `∞ (${r.psnrExact} of ${triplets} exact${others})`;
}

/** The file name of a LoRA variant's sweep plot. */
export function sweepSvgName(sweep: LoraSweep, sweeps: number): string {
  return sweeps === 1 ? 'lora-sweep.svg' : `lora-sweep-${sweep.variant}.svg`;
}

/** The file name of a LoRA variant's sweep contact sheet (in-betweens at each scale). */
export function sweepSheetName(sweep: LoraSweep, sweeps: number): string {
  return sweeps === 1 ? 'lora-sweep.png' : `lora-sweep-${sweep.variant}.png`;
}

/**
 * A two-panel SVG of one LoRA variant's sweep: PSNR and LPIPS-Alex against the scale, the
 * reference and frame blend as dashed lines.
 */
export function sweepSvg(
  sweep: LoraSweep,
  rows: readonly ResultRow[],
  referenceId: string,
  referenceLabel: string,
): string {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const pts = sweep.configs.map((id, i) => ({ s: sweep.scales[i]!, r: byId.get(id)! }));
  const reference = byId.get(referenceId)!;
  const blend = byId.get('blend');
  const lo0 = Math.min(...sweep.scales);
  const span = Math.max(...sweep.scales) - lo0 || 1;
  const W = 360;
  const H = 220;
  const panel = (
    x0: number,
    title: string,
    get: (r: ResultRow) => number | null,
    better: 'higher' | 'lower',
  ): string => {
    const at = (r: ResultRow | undefined) => (r ? get(r) : null);
    const vals = [...pts.map((p) => get(p.r)), at(reference), at(blend)].filter(
      (v): v is number => v !== null && Number.isFinite(v),
    );
    if (!vals.length) return '';
    let lo = Math.min(...vals);
    let hi = Math.max(...vals);
    const pad = (hi - lo) * 0.15 || Math.abs(hi) * 0.05 || 1;
    lo -= pad;
    hi += pad;
    const X = (s: number) => x0 + 50 + ((s - lo0) / span) * (W - 80);
    const Y = (v: number) => 30 + (1 - (v - lo) / (hi - lo)) * (H - 70);
    const line = pts
      .filter((p) => get(p.r) !== null)
      .map((p, i) => `${i ? 'L' : 'M'}${X(p.s).toFixed(1)},${Y(get(p.r)!).toFixed(1)}`)
      .join(' ');
    const ref = (v: number | null, colour: string, name: string) =>
      v === null
        ? ''
        : `<line x1="${X(lo0)}" x2="${X(lo0 + span)}" y1="${Y(v)}" y2="${Y(v)}" stroke="${colour}" stroke-dasharray="4 3"/>` +
          `<text x="${X(lo0 + span) + 3}" y="${Y(v) + 4}" font-size="10" fill="${colour}">${name}</text>`;
    const ticks = [lo + pad, (lo + hi) / 2, hi - pad]
      .map(
        (v) =>
          `<text x="${x0 + 44}" y="${Y(v) + 4}" font-size="10" text-anchor="end">${v.toFixed(3)}</text>`,
      )
      .join('');
    const xt = sweep.scales
      .map((s) => `<text x="${X(s)}" y="${H - 22}" font-size="10" text-anchor="middle">${s}</text>`)
      .join('');
    const dots = pts
      .filter((p) => get(p.r) !== null)
      .map((p) => `<circle cx="${X(p.s)}" cy="${Y(get(p.r)!)}" r="3" fill="#c2410c"/>`)
      .join('');
    return (
      `<text x="${x0 + W / 2}" y="16" font-size="12" text-anchor="middle">${title} (${better} is better)</text>` +
      `<rect x="${x0 + 50}" y="30" width="${W - 80}" height="${H - 70}" fill="none" stroke="#999"/>` +
      ticks +
      xt +
      `<text x="${x0 + W / 2}" y="${H - 6}" font-size="11" text-anchor="middle">LoRA scale</text>` +
      ref(at(reference), '#2563eb', referenceLabel) +
      ref(at(blend), '#6b7280', 'blend') +
      `<path d="${line}" fill="none" stroke="#c2410c" stroke-width="2"/>` +
      dots
    );
  };
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * W + 60}" height="${H}" font-family="sans-serif">` +
    `<rect width="100%" height="100%" fill="white"/>` +
    panel(0, 'PSNR (dB)', (r) => r.psnr, 'higher') +
    panel(W + 40, 'LPIPS-Alex', (r) => r.lpipsAlex, 'lower') +
    `</svg>\n`
  );
}

const check = (ok: boolean) => (ok ? '**yes**' : '**no**');
const signed = (v: number | null, digits: number) =>
  v === null ? '—' : `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;

const interval = (p: PairedSummary, unit: string, digits: number) =>
  `95% CI ${signed(p.low, digits)} to ${signed(p.high, digits)}${unit}`;
const verdictText = (p: PairedSummary) =>
  (p.excluded ? ` (${p.excluded} with an infinite value left out)` : '') + `: ${p.verdict}`;

/** "reference − anchor +0.52 dB, 95% CI +0.29 to +0.76 dB over 60 triplets: better". */
function pairedText(p: PairedSummary, unit: string, digits: number): string {
  return (
    `reference − anchor ${signed(p.mean, digits)}${unit}, ${interval(p, unit, digits)} over ${p.n} triplets` +
    verdictText(p)
  );
}

const DRAWN_ANCHOR = {
  flow: 'flow warp',
  blend: 'frame blend',
  keyavg: "the keyframes' average latent decoded",
  truelatent: "the true middle frame's latent decoded",
} as const;

/** "+0.06 dB (95% CI −0.12 to +0.24 dB): within noise", for the drawn sets' paired lines. */
function pairedShort(p: PairedSummary, unit: string, digits: number): string {
  return `${signed(p.mean, digits)}${unit} (${interval(p, unit, digits)})` + verdictText(p);
}

function anchorCheckText(c: AnchorCheck): string {
  const psnr = (m: MetricComparison) =>
    `on PSNR: ${check(m.better)} (${fmt(m.reference, 2)} vs ${fmt(m.anchor, 2)} dB` +
    (m.paired ? `; ${pairedText(m.paired, ' dB', 2)})` : ')');
  const lpips = (m: MetricComparison | null) =>
    m
      ? `on LPIPS-Alex: ${check(m.better)} (${fmt(m.reference, 4)} vs ${fmt(m.anchor, 4)}` +
        (m.paired ? `; ${pairedText(m.paired, '', 4)})` : ')')
      : 'on LPIPS-Alex: not measured';
  return `${psnr(c.psnr)}; ${lpips(c.lpipsAlex)}`;
}

/** REPORT.md of an evaluation. */
export function renderReport(r: EvaluationResult): string {
  const size = r.pack.size.join('×');
  const byId = new Map(r.table.map((row) => [row.id, row]));
  const ref = byId.get(r.reference)!;
  const lines: string[] = [];
  const add = (...xs: string[]) => lines.push(...xs);
  add(`# ${r.pack.name} — evaluation report`, '');
  add(
    `Generated by \`npm run evaluate\` (scripts/evaluate-pack.ts) on ${r.date}: ` +
      `${r.triplets} validation triplets from \`${r.data}\` (clips never used in training), ` +
      `keyframes fitted as the studio fits them by default (Auto: at their own size, padded to a multiple of ${r.pack.multipleOf}, ` +
      `when that frame has no more pixels than ${size}, else letterboxed into ${size}), one in-between at τ = ½ with seed ${r.seed}, ` +
      `mapped back to the triplet's size and scored against frame2. Values are means over triplets. ` +
      `The reference every variant is compared with is the pack's first variant, ${ref.label}.`,
    '',
  );
  add(
    `Conventions: PSNR — ${METRIC_CONVENTIONS.psnr}; SSIM — ${METRIC_CONVENTIONS.ssim}; LPIPS — ${METRIC_CONVENTIONS.lpipsAlex}; LPIPS-Squeeze — ${METRIC_CONVENTIONS.lpipsSqueeze}.`,
    '',
  );
  add(
    '| variant | steps | PSNR (dB) ↑ | SSIM ↑ | LPIPS-Alex ↓ | LPIPS-Squeeze ↓ | mean \\|Δ\\| from reference (levels) | graphs (MB) | ms / in-between |',
    '|---|---|---|---|---|---|---|---|---|',
  );
  for (const row of r.table) {
    add(
      `| ${row.label} | ${row.steps ?? '—'} | ${psnrCell(row, r.triplets)} | ${fmt(row.ssim, 4)} | ${fmt(row.lpipsAlex, 4)} | ${fmt(row.lpipsSqueeze, 4)} | ${fmt(row.diffFromReference, 2)} | ${row.sizeBytes ? (row.sizeBytes / 1e6).toFixed(2) : '—'} | ${fmt(row.msPerInbetween, 0)} |`,
    );
  }
  add(
    '',
    `Sizes are every graph the variant loads (encoder, decoder, motion graph if any, its denoiser). ms per in-between: warm median wall time of denoising (all steps) ` +
      `and decoding one in-between at ${size}, keyframes already encoded, from the studio's ` +
      `benchmark (src/core/benchmark.ts) in onnxruntime-node (the CLI's runtime, ${r.threads} threads), every variant timed ` +
      `in this one run in three alternating rounds on the machine that ran the evaluation — compare ratios, not absolute values.`,
    '',
    '## Checks',
    '',
  );
  const c = r.checks;
  for (const a of c.anchors) {
    const what =
      a.anchor === 'blend'
        ? 'frame blend'
        : "the flow warp (OpenCV's Farnebäck flows at issue 20's settings — pyramid ×½, 5 levels, window 21, 5 iterations, poly_n 7, σ 1.5 — both keyframes warped halfway and averaged, fitted and restored like the models)";
    add(`- ${ref.label} beats ${what} ${anchorCheckText(a)}.`);
  }
  if (c.anchors.length) {
    add(
      '  (A check is **yes** when the mean is better; the paired 95% interval says whether that difference is more than ' +
        'the noise of one seed on these triplets: "better" or "worse" when it excludes zero, "within noise" when it spans it.)',
    );
  }
  for (const h of c.halfPrecision) {
    add(
      `- ${h.label} within 0.1 dB PSNR and 0.005 LPIPS of ${ref.label}: ${check(h.pass)} (|ΔPSNR| ${fmt(h.psnrDiff, 3)} dB, |ΔLPIPS| ${fmt(h.lpipsAlexDiff, 4)}).`,
    );
  }
  if (c.fast) {
    const f = c.fast;
    add(
      `- ${f.label} at ${f.steps} steps within 0.5 dB PSNR of ${ref.label} at ${f.referenceSteps} steps: ${check(f.quality)} ` +
        `(reference − fast = ${fmt(f.psnrDrop, 2)} dB); at least 4× faster per in-between: ${check(f.faster)} (${fmt(f.speedup === null ? null : Math.floor(f.speedup * 100) / 100, 2)}×: ` +
        `medians ${fmt(f.referenceMs, 0)} and ${fmt(f.fastMs, 0)} ms over ${f.inbetweens} in-betweens each, the two alternating).`,
    );
  }
  for (const l of c.lora) {
    const zero = l.scales.indexOf(0);
    add(
      `- ${l.label}: ` +
        (zero >= 0
          ? `at scale 0 it reproduces the reference: mean |Δ| ${fmt(l.diffs[zero], 3)} levels; `
          : '') +
        `the distance from the reference ${l.growsWithScale ? 'grows' : '**does not** always grow'} with the scale (${l.scales.join(', ')}): ${l.diffs.map((d) => fmt(d, 2)).join(' → ')}.`,
    );
    if (l.finalStdRatios?.some((x) => x !== null)) {
      const flagged = l.scales.flatMap((scale, i) =>
        l.collapsed[i] ? [`${l.collapsed[i]} of ${l.triplets} triplets at scale ${scale}`] : [],
      );
      add(
        `  Final latent std over the reference's (same triplet and seed) at those scales: ${l.finalStdRatios.map((x) => fmt(x, 2)).join(' → ')}; ` +
          `the studio's collapse check (final std below half the reference's) flags ${flagged.length ? flagged.join(', ') : `none of the ${l.triplets} triplets`}.`,
      );
    }
  }
  for (const s of r.loraSweeps) {
    add(
      '',
      r.loraSweeps.length === 1 ? '## LoRA-scale sweep' : `## LoRA-scale sweep: ${s.label}`,
      '',
      `${s.label} at scales ${s.scales.join(', ')} on the same validation triplets, same seed:`,
      '',
      `![LoRA-scale sweep: PSNR and LPIPS against scale](${sweepSvgName(s, r.loraSweeps.length)})`,
    );
    if (s.sheet) {
      add(
        '',
        `What the scale does to a frame: the in-between of ${s.sheet.triplets.length === 1 ? 'one triplet' : `${s.sheet.triplets.length} triplets`} of the set ` +
          `(${s.sheet.triplets.map((t) => `\`${t}\``).join(', ')}) at each scale; columns: start, ${s.scales.map((x) => `scale ${x}`).join(', ')}, end.`,
        '',
        `![LoRA-scale sweep: in-betweens at each scale](${s.sheet.file})`,
      );
    }
  }
  if (r.drawn.length) {
    add(
      '',
      '## Drawn animation',
      '',
      'Validation clips of real drawn animation (`models/training/data/sprites.py`: Debian game sprites; ' +
        "`synfig_clips.py`: Synfig documents), whose middle frame is the artist's own in-between; " +
        "validation splits, never trained on (a set's " +
        "training split may have been — the pack's manifest description says which). Same protocol as above; " +
        'clips picked at random (seeded) from each set. The "letterboxed" ' +
        `rows run the same variants on the keyframes letterboxed into ${size} (scaled up to fill it, as ` +
        'the studio did by default before Auto; the same frames for clips of that size). The last row is ' +
        'the true middle frame sent through the same fit and back: what resampling alone costs any model ' +
        '(nothing where Auto keeps a clip at its own pixels), while blend and the repeated frame are ' +
        "computed at the clips' own size. The keyframes' average latent row is " +
        "the latent ablation: the two keyframes' latents averaged and decoded at τ = ½ by the same decoder, " +
        'fitted and restored like the variants, with no denoiser at all; the row under it decodes the ' +
        "true middle frame's latent (the encoder's, of the fitted middle frame) the same way: what a " +
        'perfect denoiser would give with this decoder. Under each table, each variant ' +
        "fitted minus the flow warp, minus frame blend, minus that ablation (what the denoiser's " +
        'sampling adds) and minus its ceiling (what a better denoiser could still add), triplet by ' +
        "triplet, with its 95% confidence interval (Student's t)." +
        (r.drawn.some((d) => /(^|\/)tvlike(\/|$)/.test(d.dir))
          ? " `data/tvlike` is not drawn by an artist: it is the project's generated stand-in for TV " +
            'animation (`models/training/data/tvlike.py`: painted backgrounds under camera moves, ' +
            'cel-shaded characters moving 20–100 px), with exact middle frames.'
          : ''),
    );
    for (const d of r.drawn) {
      add('', `\`${d.dir}\` (${d.triplets} triplets):`, '');
      add('| | PSNR (dB) ↑ | SSIM ↑ | LPIPS-Alex ↓ |', '|---|---|---|---|');
      for (const row of d.rows)
        add(
          `| ${row.label} | ${psnrCell(row, d.triplets)} | ${fmt(row.ssim, 4)} | ${fmt(row.lpipsAlex, 4)} |`,
        );
      if (d.paired?.length) {
        add('');
        for (const p of d.paired)
          add(
            `- ${p.label} − ${DRAWN_ANCHOR[p.anchor]}: PSNR ${pairedShort(p.psnr, ' dB', 2)}` +
              (p.lpipsAlex ? `; LPIPS-Alex ${pairedShort(p.lpipsAlex, '', 4)}` : ''),
          );
      }
    }
  }
  add('', '## Reproduce', '', '```sh', ...r.reproduce, '```', '');
  return lines.join('\n');
}
