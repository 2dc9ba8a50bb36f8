/**
 * `npm run soak`: the demo booth all afternoon. It drives the kiosk (`?kiosk`, the cel pack's
 * student in its attract loop, one run after another) in headless Chromium and prints, every K
 * runs, the run time, the page's JS heap (after a forced collection), ONNX Runtime's WASM heap in
 * the worker (as the kiosk reads it), the renderer's RSS, restarts and failures, and at the end any
 * run slower than 3× the median. Options: --runs N (default 80) or --hours H, --every K (default
 * 10), --frames F (in-betweens a run, default 3), --pack ID (default cel), --no-build, --json FILE.
 * With --assert it fails (exit 1) unless, after the warm-up (the first tenth of the runs, at least
 * 10), neither heap grew by more than 10% and no run took more than 3× the median — the booth goal
 * of issue #22; `npm test` runs `npm run soak:ci` (50 runs).
 *
 * `--studio` soaks the studio page instead: its Run button again and again (--pack default
 * tiny-random, --steps S default 2), the renderer's memory from /proc, the page's JS heap and DOM
 * counters after a forced collection, the growth per run fitted after the warm-up, and which of
 * Chromium's allocators grew; --gc-workers also collects the workers' garbage before each reading
 * (V8's --expose-gc: tells memory still referenced from memory merely not collected yet).
 * Linux only (reads /proc). Without --assert not a test: figures on a shared machine are for a
 * person to read.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium, type CDPSession, type Page } from 'playwright-core';
import { median } from '../src/core/stats';
import { count } from './lib/args';
import { CHROMIUM_ARGS, chromiumPath } from './lib/chromium';
import { serveStudio } from './lib/serveStudio';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '80' },
    every: { type: 'string', default: '10' },
    pack: { type: 'string' },
    steps: { type: 'string', default: '2' },
    frames: { type: 'string', default: '3' },
    'no-build': { type: 'boolean', default: false },
    'gc-workers': { type: 'boolean', default: false },
    json: { type: 'string' },
    studio: { type: 'boolean', default: false },
    hours: { type: 'string' },
    assert: { type: 'boolean', default: false },
  },
});
/** --runs (≥ 2), --every (≥ 1) and --hours (> 0), each refused by name when it is not one. */
function options(): { runs: number; every: number; hours: number | null } {
  const runs = count('runs', values.runs);
  if (runs < 2) throw new Error(`--runs must be at least 2, got "${values.runs}"`);
  const every = count('every', values.every);
  if (every < 1) throw new Error(`--every must be at least 1, got "${values.every}"`);
  const hours = values.hours === undefined ? null : Number(values.hours);
  if (hours !== null && !(hours > 0))
    throw new Error(`--hours must be a number of hours above 0, got "${values.hours}"`);
  if (values.studio && values.assert)
    throw new Error('--assert checks the booth (the kiosk soak); --studio only reports figures');
  return { runs, every, hours };
}
const { RUNS, EVERY, HOURS } = (() => {
  try {
    const o = options();
    return { RUNS: o.runs, EVERY: o.every, HOURS: o.hours };
  } catch (e) {
    console.error(`soak: ${(e as Error).message}`);
    process.exit(2);
  }
})();

interface Sample {
  run: number;
  /** Resident and proportional set size of the studio's renderer process(es), bytes. */
  rendererRssBytes: number;
  rendererPssBytes: number;
  jsHeapUsedBytes: number;
  domNodes: number;
  jsEventListeners: number;
}

/** Renderer processes started with this profile folder: their RSS and PSS (kB in /proc). */
function rendererMemory(profile: string): { rss: number; pss: number } {
  let rss = 0;
  let pss = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmd.includes('--type=renderer') || !cmd.includes(profile)) continue;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0) * 1024;
    } catch {
      // smaps_rollup needs Linux 4.14; RSS alone then.
    }
  }
  return { rss, pss };
}

async function sample(run: number, page: Page, cdp: CDPSession, profile: string): Promise<Sample> {
  await cdp.send('HeapProfiler.collectGarbage');
  if (values['gc-workers'])
    for (const w of page.workers().filter((w) => /\.worker[.-]/.test(w.url())))
      // Not ORT's pthread workers: they sit in Atomics.wait and would never answer.
      await w.evaluate(() => (globalThis as unknown as { gc?: () => void }).gc?.());
  // Let the workers settle too (their GC is their own).
  await new Promise((r) => setTimeout(r, 500));
  const metrics = (await cdp.send('Performance.getMetrics')).metrics;
  const metric = (name: string) => metrics.find((m) => m.name === name)?.value ?? 0;
  const dom = await cdp.send('Memory.getDOMCounters');
  const mem = rendererMemory(profile);
  return {
    run,
    rendererRssBytes: mem.rss,
    rendererPssBytes: mem.pss,
    jsHeapUsedBytes: metric('JSHeapUsedSize'),
    domNodes: dom.nodes,
    jsEventListeners: dom.jsEventListeners,
  };
}

/**
 * Chromium's own account of memory (a memory-infra dump through the DevTools protocol): bytes per
 * allocator and process, e.g. "renderer v8", "browser discardable". Comparing two dumps says which
 * allocator grew — the page's heaps, or memory the browser manages for it such as decoded images.
 */
async function allocatorDump(cdp: CDPSession): Promise<Map<string, number>> {
  const events: {
    ph?: string;
    pid?: number;
    args?: { dumps?: { allocators?: object } };
  }[] = [];
  const onData = (e: { value: typeof events }) => events.push(...e.value);
  cdp.on('Tracing.dataCollected', onData);
  const complete = new Promise<void>((done) => cdp.once('Tracing.tracingComplete', () => done()));
  await cdp.send('Tracing.start', {
    traceConfig: {
      includedCategories: ['disabled-by-default-memory-infra'],
      // No periodic dumps: only the one requested below. (The protocol's type says strings.)
      memoryDumpConfig: { triggers: [] } as unknown as Record<string, string>,
    },
    transferMode: 'ReportEvents',
  });
  await cdp.send('Tracing.requestMemoryDump', { levelOfDetail: 'detailed' });
  await cdp.send('Tracing.end');
  await complete;
  cdp.off('Tracing.dataCollected', onData);
  const out = new Map<string, number>();
  for (const e of events) {
    const allocators = e.args?.dumps?.allocators as
      Record<string, { attrs?: { size?: { value?: string } } }> | undefined;
    if (e.ph !== 'v' || !allocators) continue;
    let kind = 'browser';
    try {
      kind = /--type=([a-z-]+)/.exec(readFileSync(`/proc/${e.pid}/cmdline`, 'utf8'))?.[1] ?? kind;
    } catch {
      kind = `pid ${e.pid}`;
    }
    for (const [name, a] of Object.entries(allocators)) {
      if (name.includes('/')) continue; // top-level allocators only
      const size = a.attrs?.size?.value ? parseInt(a.attrs.size.value, 16) : 0;
      const key = `${kind} ${name}`;
      out.set(key, (out.get(key) ?? 0) + size);
    }
  }
  return out;
}

/** Least-squares slope of y against x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den ? num / den : 0;
}

async function runOnce(page: Page): Promise<void> {
  await page.getByTestId('run.start').click();
  await page
    .getByTestId('run.status')
    .filter({ hasText: /^Done:/ })
    .waitFor({ timeout: 120_000 });
}

async function main(): Promise<void> {
  if (!values.studio) return soakKiosk();
  const packId = values.pack ?? 'tiny-random';
  const { origin, close } = await serveStudio({
    reuseBuild: values['no-build'],
    needs: 'index.html',
    port: 4320,
  });
  const profile = mkdtempSync(join(tmpdir(), 'inbetween-soak-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    args: [...CHROMIUM_ARGS, ...(values['gc-workers'] ? ['--js-flags=--expose-gc'] : [])],
    headless: true,
  });
  const samples: Sample[] = [];
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(`${origin}/?pack=${encodeURIComponent(packId)}`);
    await page.getByTestId('variant.select').waitFor();
    await page.getByTestId('keyframes.sample').click();
    await page.getByTestId('keyframes.end.meta').waitFor();
    await page.getByTestId('run.steps').fill(values.steps!);
    await page.getByTestId('run.count').fill(values.frames!);
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const t0 = performance.now();
    const warmRun = Math.max(10, Math.round(RUNS / 10));
    let dumpWarm = new Map<string, number>();
    for (let run = 1; run <= RUNS; run++) {
      await runOnce(page);
      if (run === warmRun) dumpWarm = await allocatorDump(cdp);
      if (run === 1 || run % EVERY === 0 || run === RUNS) {
        const s = await sample(run, page, cdp, profile);
        samples.push(s);
        const mb = (b: number) => (b / 1e6).toFixed(1).padStart(7);
        console.log(
          `run ${String(run).padStart(4)}  renderer RSS ${mb(s.rendererRssBytes)} MB  PSS ${mb(s.rendererPssBytes)} MB  ` +
            `JS heap ${mb(s.jsHeapUsedBytes)} MB  DOM nodes ${s.domNodes}  listeners ${s.jsEventListeners}`,
        );
      }
    }
    // Growth per run over the samples after the warm-up (the first tenth of the runs, at least 10).
    const warm = samples.filter((s) => s.run >= warmRun);
    const fit = (key: keyof Sample) =>
      slope(
        warm.map((s) => s.run),
        warm.map((s) => s[key]),
      );
    const summary = {
      runs: RUNS,
      pack: packId,
      seconds: (performance.now() - t0) / 1000,
      perRun: {
        rendererRssBytes: fit('rendererRssBytes'),
        rendererPssBytes: fit('rendererPssBytes'),
        jsHeapUsedBytes: fit('jsHeapUsedBytes'),
        domNodes: fit('domNodes'),
        jsEventListeners: fit('jsEventListeners'),
      },
    };
    const kb = (b: number) => `${(b / 1024).toFixed(0)} KB`;
    console.log(
      `\ngrowth per run after run ${warm[0]?.run}: renderer RSS ${kb(summary.perRun.rendererRssBytes)}, PSS ${kb(summary.perRun.rendererPssBytes)}, ` +
        `JS heap ${kb(summary.perRun.jsHeapUsedBytes)}, DOM nodes ${summary.perRun.domNodes.toFixed(1)}, listeners ${summary.perRun.jsEventListeners.toFixed(1)} (${summary.seconds.toFixed(0)} s)`,
    );
    const dumpEnd = await allocatorDump(cdp);
    const grown = [...dumpEnd]
      .map(([key, bytes]) => ({ key, deltaBytes: bytes - (dumpWarm.get(key) ?? 0), bytes }))
      .sort((a, b) => b.deltaBytes - a.deltaBytes)
      .slice(0, 6);
    console.log(`Chromium's allocators that grew most from run ${warmRun} to run ${RUNS}:`);
    for (const g of grown)
      console.log(
        `  ${g.key.padEnd(36)} ${(g.deltaBytes / 1e6).toFixed(1).padStart(8)} MB (now ${(g.bytes / 1e6).toFixed(1)} MB)`,
      );
    if (values.json)
      writeFileSync(values.json, JSON.stringify({ summary, samples, grown }, null, 2));
  } finally {
    await context.close();
    await close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// ---- the booth --------------------------------------------------------------------------------------

interface KioskSample {
  run: number;
  jsHeapUsedBytes: number;
  wasmHeapBytes: number | null;
  rendererRssBytes: number;
}

/** Relative growth of `key` from the first sample at or after `warmRun` to the median of the last three. */
function growth(samples: KioskSample[], warmRun: number, key: 'jsHeapUsedBytes' | 'wasmHeapBytes') {
  const warm = samples.filter((s) => s.run >= warmRun && s[key] !== null);
  if (warm.length < 2) return null;
  const first = median(warm.slice(0, 3).map((s) => s[key]!));
  const last = median(warm.slice(-3).map((s) => s[key]!));
  return { first, last, relative: last / first - 1 };
}

async function soakKiosk(): Promise<void> {
  const { origin, close } = await serveStudio({
    reuseBuild: values['no-build'],
    needs: 'index.html',
    port: 4320,
  });
  const pack = values.pack ?? 'cel';
  const until = HOURS !== null ? performance.now() + HOURS * 3600_000 : Infinity;
  const target = HOURS !== null ? Infinity : RUNS;
  const profile = mkdtempSync(join(tmpdir(), 'inbetween-soak-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath(),
    args: CHROMIUM_ARGS,
    headless: true,
    viewport: { width: 1600, height: 1000 },
  });
  const runMs: { run: number; ms: number }[] = [];
  const samples: KioskSample[] = [];
  let failures = 0;
  let restarts = 0;
  let firstInbetweenMs = 0;
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => {
      pageErrors.push(e.message);
      console.error('page error:', e.message);
    });
    // The engine would go on counting runs under a booth screen that failed to draw: count those.
    const drawErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' && /failed to draw/.test(m.text())) drawErrors.push(m.text());
    });
    await page.goto(
      `${origin}/?kiosk&pack=${encodeURIComponent(pack)}&acts=student&dwell=0&idle=600&frames=${values.frames}`,
    );
    const cdp = await context.newCDPSession(page);
    const status = page.getByTestId('kiosk.status');
    const read = () =>
      status.evaluate((e) => {
        const d = (e as HTMLElement).dataset;
        return {
          runs: Number(d.runs),
          lastRunMs: Number(d.lastRunMs),
          failures: Number(d.failures),
          restarts: Number(d.restarts),
          first: Number(d.firstInbetweenMs),
          wasm: d.wasmHeap ? Number(d.wasmHeap) : null,
        };
      });
    const t0 = performance.now();
    let seen = 0;
    let lastProgress = performance.now();
    while (seen < target && performance.now() < until) {
      await page.waitForTimeout(50);
      const d = await read();
      failures = d.failures;
      restarts = d.restarts;
      firstInbetweenMs = d.first;
      if (d.runs === seen) {
        if (performance.now() - lastProgress > 120_000)
          throw new Error(`stalled: no run for 2 minutes after run ${seen}`);
        continue;
      }
      lastProgress = performance.now();
      // A run missed between two polls (never with runs of a second or more) has no time of its own.
      if (d.runs === seen + 1) runMs.push({ run: d.runs, ms: d.lastRunMs });
      seen = d.runs;
      if (seen === 1 || seen % EVERY === 0 || seen >= target) {
        await cdp.send('HeapProfiler.collectGarbage');
        const heap = await cdp.send('Runtime.getHeapUsage');
        const s: KioskSample = {
          run: seen,
          jsHeapUsedBytes: heap.usedSize,
          wasmHeapBytes: d.wasm,
          rendererRssBytes: rendererMemory(profile).rss,
        };
        samples.push(s);
        const mb = (b: number | null) =>
          b === null ? '      –' : (b / 1e6).toFixed(1).padStart(7);
        const recent = runMs.slice(-EVERY).map((r) => r.ms);
        console.log(
          `run ${String(seen).padStart(5)}  ${((performance.now() - t0) / 1000).toFixed(0).padStart(6)} s  ` +
            `run ${median(recent).toFixed(0).padStart(5)} ms (median of the last ${recent.length}, max ${Math.max(...recent).toFixed(0)})  ` +
            `JS heap ${mb(s.jsHeapUsedBytes)} MB  WASM heap ${mb(s.wasmHeapBytes)} MB  renderer RSS ${mb(s.rendererRssBytes)} MB  ` +
            `restarts ${restarts}  failures ${failures}`,
        );
      }
    }
    const warmRun = Math.max(10, Math.round(seen / 10));
    const after = runMs.filter((r) => r.run > warmRun);
    const med = median(after.map((r) => r.ms));
    const slow = after.filter((r) => r.ms > 3 * med);
    const js = growth(samples, warmRun, 'jsHeapUsedBytes');
    const wasm = growth(samples, warmRun, 'wasmHeapBytes');
    const pct = (g: typeof js) =>
      g
        ? `${(g.relative * 100).toFixed(1)}% (${(g.first / 1e6).toFixed(1)} → ${(g.last / 1e6).toFixed(1)} MB)`
        : 'not read';
    console.log(
      `\n${seen} runs in ${((performance.now() - t0) / 1000).toFixed(0)} s; first in-between ${(firstInbetweenMs / 1000).toFixed(1)} s after opening the page\n` +
        `after run ${warmRun}: run time median ${med.toFixed(0)} ms, slowest ${Math.max(...after.map((r) => r.ms)).toFixed(0)} ms ` +
        `(${slow.length} runs over 3× the median)\n` +
        `growth after run ${warmRun}: JS heap ${pct(js)}, WASM heap ${pct(wasm)}; worker restarts ${restarts}, failed runs ${failures}, screen errors ${drawErrors.length}`,
    );
    for (const r of slow) console.log(`  slow: run ${r.run} took ${r.ms.toFixed(0)} ms`);
    if (values.json)
      writeFileSync(
        values.json,
        JSON.stringify({ runMs, samples, failures, restarts, firstInbetweenMs }, null, 2),
      );
    if (values.assert) {
      const problems = [
        ...(js && js.relative > 0.1 ? [`the JS heap grew by ${pct(js)}`] : []),
        ...(wasm && wasm.relative > 0.1 ? [`the WASM heap grew by ${pct(wasm)}`] : []),
        ...(!wasm ? ['the WASM heap was never read'] : []),
        ...slow.map(
          (r) => `run ${r.run} took ${r.ms.toFixed(0)} ms, over 3× the median ${med.toFixed(0)} ms`,
        ),
        ...(failures ? [`${failures} runs failed`] : []),
        ...(pageErrors.length ? [`uncaught page errors: ${pageErrors.join('; ')}`] : []),
        ...(drawErrors.length
          ? [`the booth failed to draw ${drawErrors.length} times: ${drawErrors[0]}`]
          : []),
      ];
      if (problems.length) {
        console.error(`\nsoak FAILED:\n  ${problems.join('\n  ')}`);
        process.exitCode = 1;
      } else console.log('soak passed: no growth over 10%, no run over 3× the median, no failure');
    }
  } finally {
    await context.close();
    await close();
    rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
