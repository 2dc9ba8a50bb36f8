/**
 * `npm run profile`: where the browser's time goes (issue 23). Profiles each graph of a variant per
 * operator in onnxruntime-web (WASM, the browser's CPU backend) and onnxruntime-node on the same
 * feeds and threads, and prints one table per graph. This file only reads the options and prints;
 * the work is the library in src/node/profileOps.ts.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  describeCpu,
  profileVariant,
  type GraphProfile,
  type RuntimeProfile,
} from '../src/node/profileOps';
import { graphsForVariant, variantSteps } from '../src/core/manifest';
import { readPackManifest } from '../src/node/nodeRuntime';
import { count } from './lib/args';

const USAGE = `usage: npm run profile -- [options]

Runs one in-between of a variant through the studio's pipeline to get each graph's real feeds,
then profiles every graph per operator in onnxruntime-web (WASM, in a child Node process: the
same .wasm the browser runs) and in onnxruntime-node, after a warm-up, one runtime at a time.
Prints per graph: operator type, web ms, native ms, ratio, share of web time, and the totals —
each from the fastest timed run, in a profiling session; the wall time without profiling (the
profiler's own cost left out) from a plain session of the same runtime.

  --pack DIR        the pack (default models/cel)
  --variant ID      the variant (default baseline)
  --size WxH        the model frame (default the pack's, e.g. 512x320)
  --runs N          timed runs per graph, runtime and session (default 4; the fastest counts)
  --warmup-ms MS    warm-up per graph and runtime, at least one run (default 3000)
  --threads N       intra-op threads in both runtimes (default 1)
  --graph ROLE      only this graph (encoder, motion, denoiser, decoder; repeatable)
  --json FILE       also write the profiles as JSON
  --help            this text`;

function parseSize(text: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(text);
  if (!m) throw new Error(`--size takes WIDTHxHEIGHT, e.g. 512x320, got "${text}"`);
  return [Number(m[1]), Number(m[2])];
}

const CONVOLUTIONS = new Set(['Conv', 'FusedConv', 'ConvTranspose']);
const ms = (v: number): string => v.toFixed(2).padStart(9);
const ratio = (web: number, native: number): string =>
  (native > 0 && web > 0 ? `${(web / native).toFixed(1)}×` : '—').padStart(7);

function printGraph(p: GraphProfile, threads: number): void {
  const shapes = Object.entries(p.feeds)
    .map(([n, d]) => `${n} [${d.join(',')}]`)
    .join(', ');
  console.log(`\n${p.what} — ${shapes}`);
  console.log(`${'operator'.padEnd(24)}   web ms native ms   ratio  web share  calls web/native`);
  for (const r of p.rows) {
    const share = `${((100 * r.webMs) / p.web.kernelMs).toFixed(1)}%`.padStart(10);
    const calls = `${r.webCalls}/${r.nativeCalls}`;
    console.log(
      `${r.op.padEnd(24)} ${ms(r.webMs)} ${ms(r.nativeMs)} ${ratio(r.webMs, r.nativeMs)} ${share}  ${calls}`,
    );
  }
  const { web, native } = p;
  // The runtimes fuse differently (native MLAS folds activations into its NCHWc Conv, the WASM
  // build into FusedConv), so convolutions are compared as one family too.
  const conv = p.rows.filter((r) => CONVOLUTIONS.has(r.op));
  if (conv.length > 1) {
    const w = conv.reduce((s, r) => s + r.webMs, 0);
    const n = conv.reduce((s, r) => s + r.nativeMs, 0);
    const share = `${((100 * w) / web.kernelMs).toFixed(1)}%`.padStart(10);
    console.log(`${'(all convolutions)'.padEnd(24)} ${ms(w)} ${ms(n)} ${ratio(w, n)} ${share}`);
  }
  const line = (label: string, w: number, n: number): void =>
    console.log(`${label.padEnd(24)} ${ms(w)} ${ms(n)} ${ratio(w, n)}`);
  line('kernel sum', web.kernelMs, native.kernelMs);
  line('ORT run (profiled)', web.ortRunMs, native.ortRunMs);
  line('wall (profiled)', web.profiledWallMs, native.profiledWallMs);
  line('wall (no profiling)', web.wallMs, native.wallMs);
  if (threads > 1) {
    const calls = (r: RuntimeProfile): string =>
      `${r.parallelCalls} of ${Object.values(r.ops).reduce((s, t) => s + t.calls, 0)}`;
    console.log(
      `kernel calls a second thread worked in: web ${calls(web)}, native ${calls(native)}`,
    );
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((a) => a !== '--'),
    options: {
      pack: { type: 'string', default: 'models/cel' },
      variant: { type: 'string', default: 'baseline' },
      size: { type: 'string' },
      runs: { type: 'string', default: '4' },
      'warmup-ms': { type: 'string', default: '3000' },
      threads: { type: 'string', default: '1' },
      graph: { type: 'string', multiple: true },
      json: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const dir = resolve(values.pack);
  const manifest = await readPackManifest(dir);
  graphsForVariant(manifest, values.variant); // throws, naming the variants, for an unknown one
  const size = values.size ? parseSize(values.size) : manifest.image.defaultSize;
  const atLeastOne = (name: string, value: string) => {
    const n = count(name, value);
    if (n < 1) throw new Error(`--${name} must be at least 1, got "${value}"`);
    return n;
  };
  const opts = {
    runs: atLeastOne('runs', values.runs),
    warmupMs: count('warmup-ms', values['warmup-ms']),
    threads: atLeastOne('threads', values.threads),
    size,
    ...(values.graph ? { only: values.graph } : {}),
  };
  const cpu = describeCpu();
  console.log(
    `${manifest.id} / ${values.variant} at ${size.join('×')}: onnxruntime-web (WASM) against ` +
      `onnxruntime-node, ${opts.threads} thread(s), the fastest of ${opts.runs} runs after ` +
      `${opts.warmupMs} ms of warm-up. CPU: ${cpu}`,
  );
  const graphs = await profileVariant(dir, manifest, values.variant, opts, (p) =>
    printGraph(p, opts.threads),
  );
  // What one in-between costs (`npm run bench`'s figure: all denoising steps + one decode, the
  // keyframes already encoded), from the graphs' wall times.
  const variant = manifest.variants.find((v) => v.id === values.variant)!;
  const steps = variantSteps(manifest, variant);
  const den = graphs.find((g) => g.role === 'denoiser');
  const dec = graphs.find((g) => g.role === 'decoder');
  if (manifest.frames.mode === 'position' && den && dec) {
    const web = steps * den.web.wallMs + dec.web.wallMs;
    const native = steps * den.native.wallMs + dec.native.wallMs;
    console.log(
      `\none in-between (${steps} denoiser steps + 1 decode): web ${web.toFixed(0)} ms, ` +
        `native ${native.toFixed(0)} ms, ${(web / native).toFixed(1)}×`,
    );
  }
  if (values.json) {
    const out = { pack: manifest.id, variant: values.variant, cpu, ...opts, steps, graphs };
    writeFileSync(values.json, JSON.stringify(out, null, 2) + '\n');
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
