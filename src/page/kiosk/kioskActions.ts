/**
 * The booth: a kiosk that starts by itself, plays an attract loop while nobody touches it, hands
 * control to a visitor at the first touch, and keeps going all afternoon.
 *
 * - Start: the pack is chosen as in the studio (`?pack=`), the fastest variant runs on the first
 *   sample pair (the time from opening the page to that first in-between is measured), then every
 *   other kiosk variant is loaded and run once, hidden, so that no visitor pays for the first,
 *   slow seconds of ONNX Runtime's WASM code (the warm-up).
 * - Attract loop: for each sample pair, the acts of `?acts=` (kioskParams.ts) — baseline against
 *   student with their times, the LoRA scale swept with its latent std, or the student alone.
 * - Recovery: a run with no progress for `stall` seconds stops the worker (it is started anew by
 *   the next run); a crashed worker does the same; a failed run gives one short line and the loop
 *   moves on. The memory watch (kioskHealth.ts) restarts the worker before its WASM heap growth
 *   matters, and reloads the page only while the attract loop plays.
 * Nothing here ever opens a dialog.
 */
import { meanStdPerStep, detectCollapse } from '../../core/collapse';
import { variantSteps } from '../../core/manifest';
import type { StepRecord } from '../../core/pipeline';
import type { PackManifest, VariantSpec } from '../../core/manifest';
import {
  cancelRun,
  isVariantLoaded,
  loadVariant,
  nextJobId,
  runInterpolation,
  stopWorker,
  workerMemory,
  workerStopCount,
} from '../clients/inferenceClient';
import {
  decodeKeyframe,
  describeImage,
  keyframeBlob,
  releaseImage,
} from '../keyframes/keyframeActions';
import type { KeyframeInfo } from '../keyframes/keyframesSlice';
import { packSource, refreshPackList, selectPack } from '../packs/packActions';
import { clearMessages, patch, useStudio } from '../state/store';
import { memoryAction, pageHeapBytes, type MemorySample } from './kioskHealth';
import { kioskParams, type AttractAct } from './kioskParams';
import { fastVariant, kioskVariants, loraName, variantTitle } from './kioskVariants';
import type { KioskPair, KioskPanel, KioskStats, KioskTrace } from './kioskSlice';

const params = kioskParams(location.search);

const BASE = import.meta.env.BASE_URL;
/** How often the memory watch reads the heaps while the kiosk is open. */
const MEMORY_EVERY_MS = 30_000;
/** The least silence during a model load that counts as a stall (sessions take seconds to create). */
const LOAD_STALL_MS = 30_000;
/** Pause after a failed run before the loop goes on. */
const AFTER_FAILURE_MS = 2500;

const kiosk = () => useStudio.getState().kiosk;
const setKiosk = (v: Partial<ReturnType<typeof kiosk>>) => patch('kiosk', v);
const setStats = (v: Partial<KioskStats>) => setKiosk({ stats: { ...kiosk().stats, ...v } });

class Aborted extends Error {
  constructor() {
    super('aborted');
    this.name = 'RunCancelledError';
  }
}

/** Resolves after `ms`, or rejects with Aborted as soon as `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new Aborted());
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new Aborted());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---- what the screen shows ------------------------------------------------------------------------

/** Object URLs of run frames now on screen; revoked when their panel goes. */
let ownedUrls = new Set<string>();

function showPanels(panels: (KioskPanel & { owned: string[] })[]): void {
  const keep = new Set(panels.flatMap((p) => p.owned));
  for (const u of ownedUrls) if (!keep.has(u)) URL.revokeObjectURL(u);
  ownedUrls = keep;
  setKiosk({ panels: panels.map(({ owned: _owned, ...p }) => p) });
}

function setTrace(trace: KioskTrace): void {
  const others = kiosk().traces.filter((t) => t.key !== trace.key);
  setKiosk({ traces: [...others, trace] });
}

// ---- the pack and its variants --------------------------------------------------------------------

interface Ready {
  manifest: PackManifest;
  source: NonNullable<ReturnType<typeof packSource>>;
}

function ready(): Ready | null {
  const { manifest, selectedKey } = useStudio.getState().packs;
  const source = selectedKey ? packSource(selectedKey) : undefined;
  return manifest && source ? { manifest, source } : null;
}

// ---- one run --------------------------------------------------------------------------------------

interface KioskRun {
  start: Blob;
  end: Blob;
  startUrl: string;
  endUrl: string;
  variant: VariantSpec;
  loraScale?: number;
  /** Denoising steps; the variant's own unless given (the warm-up takes one). */
  steps?: number;
  /** The plot's curve for this run; none for hidden runs. */
  trace?: { key: string; label: string };
}

interface KioskRunResult {
  panel: KioskPanel & { owned: string[] };
  stepStats: StepRecord[];
  msPerInbetween: number;
}

/** The worker took too long without a sign of life and was stopped. */
class StalledError extends Error {
  constructor(seconds: number) {
    super(`The model gave no sign of life for ${seconds} s and was restarted.`);
    this.name = 'StalledError';
  }
}

/**
 * Loads (if needed) and runs one variant; the watchdog stops a worker that shows no progress for
 * `stallMs`; `signal` cancels after the current step.
 */
async function runOnce(r: KioskRun, signal?: AbortSignal): Promise<KioskRunResult> {
  const got = ready();
  if (!got) throw new Error('The model pack is not ready.');
  const { manifest, source } = got;
  const steps = r.steps ?? variantSteps(manifest, r.variant);
  const jobId = nextJobId();
  const t0 = performance.now();
  let lastSign = t0;
  let stalled = false;
  const alive = () => {
    lastSign = performance.now();
  };
  // Creating a session gives no progress for a while: a load may stay silent longer than a run.
  let loading = false;
  const watchdog = setInterval(() => {
    const limit = loading ? Math.max(params.stallMs, LOAD_STALL_MS) : params.stallMs;
    if (performance.now() - lastSign > limit) {
      stalled = true;
      clearInterval(watchdog);
      stopWorker('it stopped responding');
    }
  }, 250);
  const onAbort = () => cancelRun(jobId);
  signal?.addEventListener('abort', onAbort);
  const live: (number | null)[] = Array.from({ length: steps + 1 }, () => null);
  try {
    if (!isVariantLoaded(manifest, r.variant.id, 'auto')) {
      loading = true;
      await loadVariant(
        { jobId, manifest, source, variantId: r.variant.id, backend: 'auto' },
        alive,
      );
      loading = false;
    }
    if (signal?.aborted) throw new Aborted();
    alive();
    const [startBmp, endBmp] = await Promise.all([decodeKeyframe(r.start), decodeKeyframe(r.end)]);
    const result = await runInterpolation(
      {
        jobId,
        variantId: r.variant.id,
        start: startBmp,
        end: endBmp,
        fitMode: 'letterbox',
        settings: {
          count: params.frames,
          steps,
          seed: params.seed,
          ...(r.loraScale !== undefined ? { loraScale: r.loraScale } : {}),
        },
      },
      (p) => {
        alive();
        if (p.kind === 'denoise' && r.trace && p.latentStd !== undefined && p.batch === 0) {
          live[p.step] = p.latentStd;
          setTrace({ ...r.trace, std: [...live], live: true });
        }
      },
    );
    const wallMs = performance.now() - t0;
    const msPerInbetween = result.timings.totalMs / Math.max(1, result.frames.length);
    if (r.trace) setTrace({ ...r.trace, std: meanStdPerStep(result.stepStats), live: false });
    const owned = result.frames.map((f) => URL.createObjectURL(f.png));
    setStats({ runs: kiosk().stats.runs + 1, lastRunMs: wallMs });
    return {
      panel: {
        key: `${r.variant.id}:${r.loraScale ?? ''}`,
        label:
          r.loraScale !== undefined
            ? `${loraName(r.variant)} at scale ${r.loraScale.toFixed(2)}`
            : variantTitle(manifest, r.variant),
        detail: `${Math.round(msPerInbetween)} ms per in-between`,
        frames: [r.startUrl, ...owned, r.endUrl],
        note: '',
        owned,
      },
      stepStats: result.stepStats,
      msPerInbetween,
    };
  } catch (e) {
    if (r.trace) setKiosk({ traces: kiosk().traces.filter((t) => t.key !== r.trace!.key) });
    if (stalled) throw new StalledError(Math.round((performance.now() - lastSign) / 1000));
    throw e;
  } finally {
    setStats({ restarts: workerStopCount() });
    clearInterval(watchdog);
    signal?.removeEventListener('abort', onAbort);
  }
}

/** One short line for people about a failed run (details go to the console). */
function friendly(e: unknown): string {
  const err = e as Error;
  console.warn('kiosk run failed:', err);
  if (err.name === 'StalledError' || err.name === 'WorkerCrashedError')
    return 'The model stopped for a moment and was restarted — on we go.';
  return `That one did not work (${err.message.split(/(?<=\.)\s/)[0]}) — on we go.`;
}

// ---- sample pairs ---------------------------------------------------------------------------------

const pairBlobs = new Map<string, Promise<{ start: Blob; end: Blob }>>();

function pairImages(pair: KioskPair): Promise<{ start: Blob; end: Blob }> {
  let p = pairBlobs.get(pair.id);
  if (!p) {
    const get = async (url: string) => {
      const res = await fetch(url);
      if (!res.ok) throw new Error(`the sample drawing could not be loaded (${res.status})`);
      return res.blob();
    };
    p = Promise.all([get(pair.startUrl), get(pair.endUrl)]).then(([start, end]) => ({
      start,
      end,
    }));
    p.catch(() => pairBlobs.delete(pair.id));
    pairBlobs.set(pair.id, p);
  }
  return p;
}

/** The booth's sample pairs (public/samples/kiosk/index.json), else the studio's one sample. */
async function loadPairs(): Promise<KioskPair[]> {
  const fallback: KioskPair[] = [
    {
      id: 'bounce',
      title: 'Bounce',
      caption: 'A ball bounces across the floor.',
      startUrl: `${BASE}samples/bounce-start.png`,
      endUrl: `${BASE}samples/bounce-end.png`,
    },
  ];
  try {
    const res = await fetch(`${BASE}samples/kiosk/index.json`);
    if (!res.ok) return fallback;
    const json = (await res.json()) as {
      pairs?: {
        id?: unknown;
        title?: unknown;
        caption?: unknown;
        start?: unknown;
        end?: unknown;
      }[];
    };
    const pairs = (json.pairs ?? []).flatMap((p) =>
      typeof p.id === 'string' && typeof p.start === 'string' && typeof p.end === 'string'
        ? [
            {
              id: p.id,
              title: typeof p.title === 'string' ? p.title : p.id,
              caption: typeof p.caption === 'string' ? p.caption : '',
              startUrl: `${BASE}${p.start.replace(/^\//, '')}`,
              endUrl: `${BASE}${p.end.replace(/^\//, '')}`,
            },
          ]
        : [],
    );
    return pairs.length ? pairs : fallback;
  } catch {
    return fallback;
  }
}

// ---- the attract loop -----------------------------------------------------------------------------

let attract: AbortController | null = null;
let nextPair = 0;

async function playAct(act: AttractAct, pair: KioskPair, signal: AbortSignal): Promise<void> {
  const got = ready();
  if (!got) throw new Error('the model pack is not ready');
  const { manifest } = got;
  const imgs = await pairImages(pair);
  const base = { ...imgs, startUrl: pair.startUrl, endUrl: pair.endUrl };
  const byId = (id: string) => manifest.variants.find((v) => v.id === id);
  const student = fastVariant(manifest);
  const baseline = byId('baseline');
  const lora = manifest.variants.find((v) => v.loraScale);
  setKiosk({ pairId: pair.id, traces: [] });
  if (act === 'compare' && baseline && baseline !== student) {
    setKiosk({ caption: `${pair.title}: the baseline model draws the in-betweens…` });
    const a = await runOnce(
      {
        ...base,
        variant: baseline,
        trace: { key: 'baseline', label: variantTitle(manifest, baseline) },
      },
      signal,
    );
    showPanels([a.panel]);
    setKiosk({ caption: `${pair.title}: now the distilled student, from the same noise…` });
    const b = await runOnce(
      {
        ...base,
        variant: student,
        trace: { key: 'student', label: variantTitle(manifest, student) },
      },
      signal,
    );
    showPanels([a.panel, b.panel]);
    const speedup = a.msPerInbetween / b.msPerInbetween;
    setKiosk({
      caption: `Same drawings, same seed: the student takes ${variantSteps(manifest, student)} denoising steps instead of ${variantSteps(manifest, baseline)} — ${speedup.toFixed(1)}× faster, all in this browser.`,
    });
    return;
  }
  if (act === 'lora' && lora?.loraScale) {
    const { min, max } = lora.loraScale;
    const scales = [min, (min + max) / 2, max];
    let first: KioskRunResult | null = null;
    for (const scale of scales) {
      setKiosk({
        caption: `The ${loraName(lora)} at scale ${scale.toFixed(2)}: watch the latent's spread as the scale grows.`,
      });
      const r = await runOnce(
        {
          ...base,
          variant: lora,
          loraScale: scale,
          trace: { key: `lora-${scale}`, label: `LoRA ${scale.toFixed(2)}` },
        },
        signal,
      );
      first ??= r;
      const verdict = detectCollapse(r.stepStats, first.stepStats);
      showPanels([
        {
          ...r.panel,
          note: verdict.collapsed
            ? `Variance collapse flagged: ${verdict.message}`
            : verdict.finalStdRatio !== null && r !== first
              ? `Final latent std ${verdict.finalStdRatio.toFixed(2)}× the scale-${min.toFixed(2)} run`
              : '',
        },
      ]);
      if (scale !== max) await sleep(Math.min(params.dwellMs, 3000), signal);
    }
    return;
  }
  setKiosk({ caption: `${pair.title}: ${pair.caption}` });
  const r = await runOnce(
    {
      ...base,
      variant: student,
      trace: { key: 'student', label: variantTitle(manifest, student) },
    },
    signal,
  );
  showPanels([r.panel]);
  setKiosk({
    caption: `${pair.caption} Drawn by a diffusion model in ${variantSteps(manifest, student)} steps, here in the browser.`,
  });
}

async function attractLoop(signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const { pairs } = kiosk();
    const pair = pairs[nextPair++ % Math.max(1, pairs.length)];
    if (!pair) return;
    for (const act of params.acts) {
      try {
        await playAct(act, pair, signal);
        // Stopped by a visitor: the line is theirs now ("Now the second drawing…").
        if (signal.aborted) return;
        setKiosk({ line: '' });
        await sleep(params.dwellMs, signal);
      } catch (e) {
        if (signal.aborted) return;
        setStats({ failures: kiosk().stats.failures + 1 });
        setKiosk({ line: friendly(e) });
        try {
          await sleep(AFTER_FAILURE_MS, signal);
        } catch {
          return;
        }
      }
      await checkMemory();
      if (signal.aborted) return;
    }
  }
}

export function enterAttract(): void {
  if (attract) return;
  attract = new AbortController();
  // The visitor has gone: their drawings go too (a half-added pair must not greet the next one).
  releaseImage(ownStart);
  releaseImage(ownEnd);
  [ownStart, ownEnd] = [null, null];
  const k = kiosk();
  setKiosk({
    mode: 'attract',
    own: null,
    ...(k.pairId === 'own' && k.pairs[0] ? { pairId: k.pairs[0].id } : {}),
  });
  void attractLoop(attract.signal);
}

function leaveAttract(): void {
  attract?.abort();
  attract = null;
  setKiosk({ mode: 'visitor', caption: '' });
}

// ---- visitors -------------------------------------------------------------------------------------

let lastTouch = performance.now();
let visitorRun: AbortController | null = null;
let ownStart: KeyframeInfo | null = null;
let ownEnd: KeyframeInfo | null = null;

/** Any touch, click, key or wheel: the visitor has the booth; the loop stops after its step. */
export function noteInteraction(): void {
  lastTouch = performance.now();
  if (kiosk().mode === 'attract') leaveAttract();
}

function idleCheck(): void {
  const k = kiosk();
  if (k.mode === 'visitor' && !visitorRun && k.phase !== 'starting' && k.phase !== 'warming') {
    if (performance.now() - lastTouch >= params.idleMs) enterAttract();
  }
}

export function chooseVariant(variantId: string): void {
  const got = ready();
  const v = got?.manifest.variants.find((x) => x.id === variantId);
  if (!v) return;
  setKiosk({
    variantId,
    ...(v.loraScale && kiosk().variantId !== variantId ? { loraScale: v.loraScale.default } : {}),
  });
}

export function setLoraScale(scale: number): void {
  setKiosk({ loraScale: scale });
}

export function choosePair(pairId: string): void {
  setKiosk({ pairId });
  void runForVisitor();
}

/** The visitor's own drawings: the first file is the start, the second the end. */
export async function addOwnDrawings(files: File[]): Promise<void> {
  // A drop or a paste is a visitor at the booth, as a touch is.
  noteInteraction();
  const images = files.filter((f) => !f.type || f.type.startsWith('image/')).slice(0, 2);
  if (images.length === 0) {
    setKiosk({ line: 'Drop or pick two drawings (PNG, JPEG or WebP).' });
    return;
  }
  try {
    const infos = await Promise.all(images.map((f) => describeImage(f, f.name || 'pasted')));
    if (infos.length === 2) {
      releaseImage(ownStart);
      releaseImage(ownEnd);
      [ownStart, ownEnd] = [infos[0]!, infos[1]!];
    } else if (!ownStart || ownEnd) {
      releaseImage(ownStart);
      releaseImage(ownEnd);
      [ownStart, ownEnd] = [infos[0]!, null];
    } else {
      ownEnd = infos[0]!;
    }
    setKiosk({
      pairId: 'own',
      own: { startUrl: ownStart.url, endUrl: ownEnd?.url ?? null },
      line: ownEnd ? '' : 'Now the second drawing: where the motion ends.',
    });
    if (ownEnd) await runForVisitor();
  } catch (e) {
    setKiosk({ line: (e as Error).message });
  }
}

/** Runs the chosen variant on the chosen pair (or the visitor's drawings); a new press restarts. */
export async function runForVisitor(): Promise<void> {
  noteInteraction();
  const got = ready();
  const k = kiosk();
  if (!got) {
    setKiosk({ line: 'The model is still getting ready — one moment.' });
    return;
  }
  const variant =
    got.manifest.variants.find((v) => v.id === k.variantId) ?? fastVariant(got.manifest);
  let input: Pick<KioskRun, 'start' | 'end' | 'startUrl' | 'endUrl'>;
  if (k.pairId === 'own') {
    const s = ownStart && keyframeBlob(ownStart.id);
    const e = ownEnd && keyframeBlob(ownEnd.id);
    if (!ownStart || !ownEnd || !s || !e) {
      setKiosk({ line: 'Add two drawings first: where the motion starts, and where it ends.' });
      return;
    }
    if (ownStart.width !== ownEnd.width || ownStart.height !== ownEnd.height) {
      setKiosk({
        line: `Your two drawings have different sizes (${ownStart.width}×${ownStart.height} and ${ownEnd.width}×${ownEnd.height}) — use two of the same size.`,
      });
      return;
    }
    input = { start: s, end: e, startUrl: ownStart.url, endUrl: ownEnd.url };
  } else {
    const pair = k.pairs.find((p) => p.id === k.pairId) ?? k.pairs[0];
    if (!pair) return;
    const imgs = await pairImages(pair);
    input = { ...imgs, startUrl: pair.startUrl, endUrl: pair.endUrl };
  }
  visitorRun?.abort();
  const mine = new AbortController();
  visitorRun = mine;
  setKiosk({ phase: 'running', line: '', traces: [] });
  try {
    const r = await runOnce(
      {
        ...input,
        variant,
        ...(variant.loraScale ? { loraScale: k.loraScale } : {}),
        trace: { key: 'visitor', label: variantTitle(got.manifest, variant) },
      },
      mine.signal,
    );
    if (visitorRun === mine) showPanels([r.panel]);
    // A run a newer press replaced, finished before its cancel took: its frames are not shown.
    else r.panel.owned.forEach((u) => URL.revokeObjectURL(u));
  } catch (e) {
    if (visitorRun === mine && !mine.signal.aborted) {
      setStats({ failures: kiosk().stats.failures + 1 });
      setKiosk({ line: friendly(e) });
    }
  } finally {
    if (visitorRun === mine) {
      visitorRun = null;
      setKiosk({ phase: 'ready' });
      lastTouch = performance.now();
    }
  }
}

// ---- memory watch ---------------------------------------------------------------------------------

let warmMemory: MemorySample | null = null;

async function readMemory(): Promise<MemorySample> {
  const sample = {
    jsHeapBytes: pageHeapBytes(),
    wasmHeapBytes: (await workerMemory())?.wasmHeapBytes ?? null,
  };
  setStats(sample);
  return sample;
}

/** Compares the heaps with their readings after warm-up; restarts or reloads when they grew. */
export async function checkMemory(): Promise<void> {
  const now = await readMemory();
  if (!warmMemory) return;
  const action = memoryAction(warmMemory, now, params.heapLimitBytes ?? undefined);
  if (action === 'restart-worker') {
    console.info('kiosk: the worker WASM heap grew; starting a fresh worker', now, warmMemory);
    stopWorker('a fresh worker for the kiosk');
    setStats({ restarts: workerStopCount() });
  } else if (action === 'reload-page' && kiosk().mode === 'attract') {
    console.info('kiosk: the page heap grew; reloading while nobody is here', now, warmMemory);
    location.reload();
  }
}

// ---- start ----------------------------------------------------------------------------------------

/** The first wait before the booth tries again to read a pack that failed; it doubles up to the most. */
const PACK_RETRY_FIRST_MS = 5000;
const PACK_RETRY_MOST_MS = 60_000;

/**
 * Waits until the pack is read. A booth may start before its server is up (after a reboot), or
 * offline with an evicted cache: while the pack cannot be read it says why and tries again (after
 * 5 s, then 10, 20 … a minute apart; at once when the browser comes back online).
 */
async function waitForPack(): Promise<Ready> {
  let wait = PACK_RETRY_FIRST_MS;
  let retryAt: number | null = null;
  const online = () => {
    if (retryAt !== null) retryAt = performance.now();
  };
  window.addEventListener('online', online);
  try {
    for (;;) {
      const got = ready();
      if (got) return got;
      const error = useStudio
        .getState()
        .messages.find((m) => m.level === 'error' && m.scope === 'pack');
      if (error && retryAt === null) {
        retryAt = performance.now() + wait;
        setKiosk({ line: `${error.text} Trying again in ${Math.round(wait / 1000)} s.` });
      }
      if (retryAt !== null && performance.now() >= retryAt) {
        retryAt = null;
        wait = Math.min(wait * 2, PACK_RETRY_MOST_MS);
        clearMessages('pack');
        setKiosk({ line: 'Getting the model ready…' });
        const key = useStudio.getState().packs.selectedKey;
        await (key ? selectPack(key) : refreshPackList());
      }
      await sleep(100);
    }
  } finally {
    window.removeEventListener('online', online);
  }
}

let started = false;

/** Opens the booth: pack, sample pairs, first in-between, warm-up, then the attract loop. */
export async function startKiosk(): Promise<void> {
  if (started) return;
  started = true;
  for (const type of ['pointerdown', 'keydown', 'wheel', 'touchstart'] as const)
    window.addEventListener(type, noteInteraction, { capture: true, passive: true });
  setInterval(idleCheck, 500);
  setInterval(() => void readMemory(), MEMORY_EVERY_MS);
  window.addEventListener('unhandledrejection', (e) => {
    // A booth never shows a browser error: the loop goes on; the console keeps the detail.
    console.warn('kiosk: unhandled rejection', e.reason);
    e.preventDefault();
  });
  setKiosk({ phase: 'starting', line: 'Getting the model ready…' });
  void refreshPackList();
  const [pairs, { manifest }] = await Promise.all([loadPairs(), waitForPack()]);
  const student = fastVariant(manifest);
  setKiosk({ pairs, pairId: pairs[0]!.id, variantId: student.id, line: '' });
  // The first in-between on screen: the fastest variant on the first pair.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const pair = pairs[0]!;
      const imgs = await pairImages(pair);
      setKiosk({ caption: `${pair.title}: ${pair.caption}` });
      const r = await runOnce({
        ...imgs,
        startUrl: pair.startUrl,
        endUrl: pair.endUrl,
        variant: student,
        trace: { key: 'student', label: variantTitle(manifest, student) },
      });
      showPanels([r.panel]);
      const firstMs = performance.now();
      performance.mark('kiosk:first-inbetween');
      setStats({ firstInbetweenMs: firstMs });
      // A visitor adding their own drawings meanwhile keeps their line ("Now the second drawing…").
      if (kiosk().pairId !== 'own') setKiosk({ line: '' });
      break;
    } catch (e) {
      setStats({ failures: kiosk().stats.failures + 1 });
      setKiosk({ line: friendly(e) });
    }
  }
  // Warm-up: every other variant a visitor can pick is loaded and run once, hidden, at the booth's
  // size and in-between count.
  setKiosk({ phase: 'warming' });
  const imgs = await pairImages(pairs[0]!).catch(() => null);
  for (const v of kioskVariants(manifest)) {
    if (v.id === student.id || !imgs) continue;
    try {
      await runOnce({
        ...imgs,
        startUrl: '',
        endUrl: '',
        variant: v,
        // The booth's own shapes (ORT plans its buffers per shape); one step is enough.
        steps: 1,
        ...(v.loraScale ? { loraScale: v.loraScale.default } : {}),
      }).then((r) => r.panel.owned.forEach((u) => URL.revokeObjectURL(u)));
      setStats({ runs: kiosk().stats.runs - 1 }); // warm-up runs are not booth runs
    } catch (e) {
      console.warn('kiosk warm-up failed for', v.id, e);
    }
  }
  warmMemory = await readMemory();
  setKiosk({ phase: 'ready' });
  if (kiosk().mode === 'attract') enterAttract();
}
