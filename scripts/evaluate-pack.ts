/**
 * `npm run evaluate`: evaluates a model pack on validation triplets and writes its REPORT.md,
 * evaluation.json and LoRA-sweep SVG. This file only reads the options; the work is the library in
 * src/node/evaluatePack.ts (plan → run → time → render, over src/core/evaluation).
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  contactSheet,
  evaluatePack,
  openEvaluation,
  closeEvaluation,
} from '../src/node/evaluatePack';
import { DEFAULT_LPIPS_DIR } from '../src/node/score';
import { count } from './lib/args';

const USAGE = `usage: npm run evaluate -- [options]

Runs every variant of a pack through the studio's pipeline (onnxruntime-node) on validation
triplets (<data>/<split>/<clip>/frame{1,2,3}.png) and writes REPORT.md, evaluation.json and
lora-sweep.svg beside it: PSNR / SSIM / LPIPS against the flow-warp, frame-blend and repeated-frame
anchors, each variant's size and ms per in-between, and the checks.

  --pack DIR          the pack (default models/cel)
  --data DIR          the triplet set (default data/procedural)
  --split NAME        its split (default val)
  --limit N           triplets, the first N in name order (default 100)
  --seed K            the in-betweens' seed, and the drawn sets' sampling seed (default 42)
  --lpips DIR         LPIPS graphs (default models/lpips; build them with npm run lpips)
  --threads N         onnxruntime-node threads (default 2)
  --report FILE       where REPORT.md goes (default <pack>/REPORT.md)
  --drawn DIR         a drawn-animation set to add (repeatable), e.g. data/sprites
  --drawn-limit N     triplets sampled from each drawn set (default 60)
  --sheet-pairs DIR   draw a contact sheet of DIR/<pair>/{start,end}.png instead of a report
                      (with --report, both)
  --sheet FILE        the contact sheet's file (default out/contact-sheet.png)
  --help              this text`;

/** How the bundled pack is built (its report's Reproduce section); other packs: the evaluation only. */
const BUNDLED_PACK_BUILD =
  'bash models/training/train_pack.sh && /usr/bin/python3 -m models.training.build_pack && ' +
  '/usr/bin/python3 -m models.training.data.procedural --out data/calib --train 40 --val 0 && ' +
  'npm run pack:int8 && npm run pack:memory';
/**
 * The bundled pack's Synfig set, which the recipe does not build: eye.sif at 256 px only (~10 min
 * of rendering on 2 cores; the default renders every document at three widths, and eye.sif at
 * 384 px alone took over 16 min).
 */
const BUNDLED_SYNFIG_SET =
  '/usr/bin/python3 -m models.training.data.synfig_clips --sif ../shared/data/synfig/eye.sif --widths 256 --out data/synfig';

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const { values } = parseArgs({
    args,
    options: {
      pack: { type: 'string', default: 'models/cel' },
      data: { type: 'string', default: 'data/procedural' },
      split: { type: 'string', default: 'val' },
      limit: { type: 'string', default: '100' },
      seed: { type: 'string', default: '42' },
      lpips: { type: 'string', default: DEFAULT_LPIPS_DIR },
      threads: { type: 'string', default: '2' },
      report: { type: 'string' },
      'sheet-pairs': { type: 'string' },
      drawn: { type: 'string', multiple: true },
      'drawn-limit': { type: 'string', default: '60' },
      sheet: { type: 'string', default: 'out/contact-sheet.png' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const common = {
    pack: values.pack,
    lpips: values.lpips,
    seed: count('seed', values.seed),
    threads: count('threads', values.threads),
  };

  if (values['sheet-pairs']) {
    const ctx = await openEvaluation(common);
    try {
      console.log(await contactSheet(ctx, values['sheet-pairs'], resolve(values.sheet)));
    } finally {
      await closeEvaluation(ctx);
    }
    if (!values.report) return;
  }

  const bundled = resolve(values.pack) === resolve('models/cel');
  // The arguments this report was made with (sets, limits, seed), so the command reproduces it.
  const evaluate = `npm run lpips && npm run evaluate${args.length ? ` -- ${args.join(' ')}` : ''}`;
  await evaluatePack({
    ...common,
    data: values.data,
    split: values.split,
    limit: count('limit', values.limit),
    drawn: values.drawn ?? [],
    drawnLimit: count('drawn-limit', values['drawn-limit']),
    ...(values.report ? { report: values.report } : {}),
    reproduce: bundled
      ? [
          BUNDLED_PACK_BUILD,
          ...((values.drawn ?? []).some((d) => resolve(d) === resolve('data/synfig'))
            ? [BUNDLED_SYNFIG_SET]
            : []),
          evaluate,
        ]
      : [evaluate],
    log: (line) => console.log(line),
  });
}

main().catch((e: unknown) => {
  console.error((e as Error).message);
  process.exit(1);
});
