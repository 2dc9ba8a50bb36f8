/**
 * Evaluate a dataset in the page (issue 19): the same plan, protocols, loop and scoring as
 * `inbetween eval` (src/core/evaluation/datasetEval.ts), with the model half in the inference
 * worker and the scoring half in the metrics worker, so item i is scored while item i + 1 runs.
 * Every line is stored in IndexedDB as it is written (datasetStore.ts): a run paused, cancelled,
 * or cut off by a reload resumes from what is stored once its folder is picked again. The report
 * (means, 95% intervals, paired differences, anchors, categories) and its exports are the CLI's
 * `inbetween report` on the same lines.
 */
import {
  describeDataset,
  type DatasetItem,
  type SequenceMode,
} from '../../core/evaluation/dataset';
import {
  assembleItem,
  describeRun,
  lineKey,
  remainingWork,
  runEvaluation,
  type GeneratedColumn,
  type LoadedItem,
} from '../../core/evaluation/datasetEval';
import {
  mergeRuns,
  renderDatasetReport,
  summariseRuns,
  type ReportFormat,
} from '../../core/evaluation/datasetReport';
import {
  type PlanOptions,
  type ProtocolId,
  type ResultLine,
  type RunInfo,
} from '../../core/evaluation/datasetRun';
import type { FitChoice, RgbaImage } from '../../core/image';
import { blobToRgba, decodeCheckedImage, rgbaToPng } from '../../shared/images';
import {
  cancelRun,
  generateEvalItem,
  isVariantLoaded,
  loadVariant,
  nextJobId,
} from '../clients/inferenceClient';
import { loadLpipsVgg, scoreEvalItem } from '../clients/metricsClient';
import { downloadBlob } from '../common/download';
import {
  FORCE_STOPPED_MESSAGE,
  offerForceStopLater,
  stopWorkersByForce,
} from '../common/forceStop';
import { currentLpipsSource } from '../evaluate/evaluateActions';
import { packSource } from '../packs/packActions';
import { clearMessages, patch, refuseWhileWorkerBusy, say, useStudio } from '../state/store';
import type { DatasetFolderView } from './datasetSlice';
import {
  deleteEvalRun,
  deleteFrames,
  getFrames,
  listEvalRuns,
  readLines,
  readProblems,
  saveEvalRun,
  saveFrames,
  saveLine,
  saveProblem,
  type DirectoryHandle,
  type StoredEvalRun,
  type StoredFrames,
} from './datasetStore';

/** How many worst items per configuration keep their frames for the gallery. */
export const WORST_KEPT = 6;

/** The picked folder: relative path (below the folder itself) → file. Never leaves the page. */
let folderFiles = new Map<string, File>();
/** The picked folder's handle, where the browser has the File System Access API (Chromium). */
let folderHandle: DirectoryHandle | null = null;

type DirectoryPicker = (o?: { id?: string; mode?: 'read' }) => Promise<DirectoryHandle>;

/** Walk limits, as the CLI's (src/node/dataset.ts). */
const MAX_FILES = 1_000_000;
const MAX_DEPTH = 12;

/** Every file under a directory handle, paths starting with its name (hidden entries skipped). */
export async function filesOfHandle(
  root: DirectoryHandle,
): Promise<{ file: File; relativePath: string }[]> {
  const out: { file: File; relativePath: string }[] = [];
  const walk = async (
    dir: FileSystemDirectoryHandle,
    prefix: string,
    depth: number,
  ): Promise<void> => {
    for await (const entry of dir.values()) {
      if (entry.name.startsWith('.')) continue;
      if (entry.kind === 'file') {
        if (out.length >= MAX_FILES)
          throw new Error(`the folder holds more than ${MAX_FILES} files`);
        out.push({ file: await entry.getFile(), relativePath: `${prefix}/${entry.name}` });
      } else if (depth < MAX_DEPTH) {
        await walk(entry, `${prefix}/${entry.name}`, depth + 1);
      }
    }
  };
  await walk(root, root.name, 0);
  return out;
}

/**
 * Opens the browser's folder picker where it has one (`showDirectoryPicker`): the folder's handle
 * is remembered with the run, so a resume after a reload needs only a permission click. Returns
 * false where there is no such picker (the caller falls back to the folder input).
 */
export async function pickDatasetDirectory(opts: {
  split?: string | null;
  sequence?: SequenceMode;
}): Promise<boolean> {
  const picker = (window as unknown as { showDirectoryPicker?: DirectoryPicker })
    .showDirectoryPicker;
  if (!picker) return false;
  let handle: DirectoryHandle;
  try {
    handle = await picker({ id: 'inbetween-dataset', mode: 'read' });
  } catch (e) {
    // The person closed the picker: nothing changes.
    if ((e as Error).name === 'AbortError') return true;
    throw e;
  }
  await readHandle(handle, opts);
  return true;
}

async function readHandle(
  handle: DirectoryHandle,
  opts: { split?: string | null; sequence?: SequenceMode },
): Promise<void> {
  say('info', 'dataset', `Reading the folder ${handle.name}…`);
  try {
    const files = await filesOfHandle(handle);
    setDatasetFiles(files, opts);
    folderHandle = handle;
  } catch (e) {
    say('error', 'dataset', `The folder ${handle.name} cannot be read: ${(e as Error).message}`);
  } finally {
    useStudio.setState((st) => ({
      messages: st.messages.filter((m) => !(m.scope === 'dataset' && m.level === 'info')),
    }));
  }
}

/**
 * Takes the files of a picked or dropped folder (`relativePath` includes the folder's own name,
 * as `webkitRelativePath` and dropped folders give it) and describes them as a dataset.
 */
export function setDatasetFiles(
  files: readonly { file: File; relativePath: string }[],
  opts: { split?: string | null; sequence?: SequenceMode } = {},
): void {
  clearMessages('dataset');
  const paths = files.map((f) => f.relativePath.replace(/^\/+/, ''));
  const tops = new Set(paths.map((p) => (p.includes('/') ? p.slice(0, p.indexOf('/')) : '')));
  const top = tops.size === 1 && !tops.has('') ? [...tops][0]! : null;
  folderHandle = null;
  folderFiles = new Map(
    files.map((f, i) => [top ? paths[i]!.slice(top.length + 1) : paths[i]!, f.file]),
  );
  describeFolder(top ?? 'dropped files', opts);
}

/** Describes the picked folder again (its split or sequence option changed). */
export function describeFolder(
  label = useStudio.getState().datasetEval.folder?.label ?? 'dataset',
  opts: { split?: string | null; sequence?: SequenceMode } = {},
): DatasetFolderView {
  const d = describeDataset([...folderFiles.keys()], {
    ...(opts.split ? { split: opts.split } : {}),
    ...(opts.sequence ? { sequence: opts.sequence } : {}),
  });
  const view: DatasetFolderView = {
    label,
    files: folderFiles.size,
    items: d.items.length,
    layout: d.layout,
    splits: d.splits,
    categories: d.categories,
    problems: d.problems,
  };
  patch('datasetEval', { folder: view });
  if (folderFiles.size > 0 && d.items.length === 0) {
    say(
      'warning',
      'dataset',
      `The folder ${label} holds no triplets or frame sequences (see docs/evaluation.md for the layouts).`,
    );
  }
  return view;
}

/** A thumbnail-able file of the picked folder, if it is there. */
export function datasetFile(path: string): File | undefined {
  return folderFiles.get(path);
}

/** Reads an item's frames from the picked folder; throws naming the file. */
async function loadItem(item: DatasetItem): Promise<LoadedItem> {
  const paths = [item.start, ...item.truth, item.end];
  const images: RgbaImage[] = [];
  for (const p of paths) {
    const file = folderFiles.get(p);
    if (!file) throw new Error(`${p} is missing from the picked folder`);
    // Checked as keyframes and the CLI's reader are: the header before any decode.
    const image = await decodeCheckedImage(file, p, {
      decode: blobToRgba,
      undecodable: (format) =>
        format
          ? `${p} starts like a ${format} image but could not be decoded (damaged or cut short)`
          : `${p} is not an image this browser can read`,
    });
    images.push(image);
  }
  return assembleItem(paths, images);
}

export interface StartOptions extends PlanOptions {
  protocol: ProtocolId;
  fit: FitChoice;
  split: string | null;
  sequence: SequenceMode;
}

let stopRequested: 'pause' | 'cancel' | null = null;
let currentJob: number | null = null;
/** Set by Force stop: the call that then fails was stopped, it did not fail. */
let forced = false;

/** Plans and starts a new evaluation of the picked folder with the selected pack. */
export async function startDatasetEval(opts: StartOptions): Promise<void> {
  const s = useStudio.getState();
  if (s.datasetEval.status !== 'idle' || refuseWhileWorkerBusy('dataset')) return;
  const { manifest, selectedKey } = s.packs;
  const folder = s.datasetEval.folder;
  if (!manifest || !selectedKey || !folder || folderFiles.size === 0) {
    say('error', 'dataset', 'Evaluating a dataset needs a model pack and a dataset folder.');
    return;
  }
  let planned: { info: RunInfo; items: DatasetItem[] };
  try {
    const d = describeDataset([...folderFiles.keys()], {
      ...(opts.split ? { split: opts.split } : {}),
      sequence: opts.sequence,
    });
    if (d.items.length === 0) throw new Error(`the folder ${folder.label} holds no items`);
    planned = describeRun(manifest, d, {
      ...opts,
      shard: null,
      packDir: s.packs.options.find((o) => o.key === selectedKey)?.name ?? manifest.id,
      datasetDir: folder.label,
    });
  } catch (e) {
    say('error', 'dataset', `The evaluation cannot start: ${(e as Error).message}.`);
    return;
  }
  const run: StoredEvalRun = {
    id: `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    createdAt: Date.now(),
    updatedAt: Date.now(),
    info: planned.info,
    datasetLabel: folder.label,
    ...(folderHandle ? { handle: folderHandle } : {}),
    total: remainingWork({ ...planned, done: new Set(), failed: new Set() }).total,
    state: 'running',
  };
  await execute(run, planned.items, [], []);
}

/** Resumes a stored run on the picked folder (which must give the same items). */
export async function resumeDatasetEval(runId: string): Promise<void> {
  const s = useStudio.getState();
  const run = s.datasetEval.runs.find((r) => r.id === runId);
  if (!run || s.datasetEval.status !== 'idle' || refuseWhileWorkerBusy('dataset')) return;
  const { manifest } = s.packs;
  const info = run.info;
  if (!manifest || manifest.id !== info.pack.id || manifest.version !== info.pack.version) {
    say(
      'error',
      'dataset',
      `To resume, choose the pack it ran with: ${info.pack.id} ${info.pack.version} (${info.pack.dir}).`,
    );
    return;
  }
  const pickedLabel = useStudio.getState().datasetEval.folder?.label;
  if (run.handle && (folderFiles.size === 0 || pickedLabel !== run.datasetLabel)) {
    // Permission is asked first thing, inside the click that pressed Resume.
    const state =
      (await run.handle.queryPermission?.({ mode: 'read' })) === 'granted'
        ? 'granted'
        : await run.handle.requestPermission?.({ mode: 'read' }).catch(() => 'denied' as const);
    if (state === 'granted') await readHandle(run.handle, {});
  }
  if (folderFiles.size === 0) {
    say('error', 'dataset', `To resume, pick the folder ${run.datasetLabel} again.`);
    return;
  }
  const every = /^every:(\d+)$/.exec(info.dataset.sequence);
  const sequence: SequenceMode = every ? { keyframesEvery: Number(every[1]) } : 'triplets';
  const d = describeDataset([...folderFiles.keys()], {
    ...(info.dataset.split ? { split: info.dataset.split } : {}),
    sequence,
  });
  const ids = d.items.map((i) => i.id);
  if (JSON.stringify(ids) !== JSON.stringify(info.items) || d.items.length !== info.dataset.items) {
    say(
      'error',
      'dataset',
      `The picked folder (${d.items.length} items) is not the one this run evaluated (${info.dataset.dir}, ${info.dataset.items} items): pick ${run.datasetLabel} again.`,
    );
    return;
  }
  const byId = new Map(d.items.map((i) => [i.id, i]));
  const [lines, problems] = await Promise.all([readLines(run.id), readProblems(run.id)]);
  await execute(
    { ...run, state: 'running' },
    info.items.map((id) => byId.get(id)!),
    lines,
    problems,
  );
}

/** Stops after the item in progress; everything stays and the run can be resumed. */
export function pauseDatasetEval(): void {
  if (useStudio.getState().datasetEval.status !== 'running') return;
  stopRequested = 'pause';
  patch('datasetEval', { status: 'pausing' });
}

/** Stops at once (after the current denoising step); what was written stays, resumable. */
export function cancelDatasetEval(): void {
  const status = useStudio.getState().datasetEval.status;
  if (status !== 'running' && status !== 'pausing') return;
  stopRequested = 'cancel';
  patch('datasetEval', { status: 'cancelling' });
  const job = currentJob;
  if (job !== null) cancelRun(job);
  offerForceStopLater(
    () => job === currentJob && useStudio.getState().datasetEval.status === 'cancelling',
    () => patch('datasetEval', { stuck: true }),
  );
}

/** Stops the workers by force (an item that does not answer Cancel); what was written stays. */
export function forceStopDatasetEval(): void {
  if (useStudio.getState().datasetEval.status !== 'cancelling') return;
  forced = true;
  stopWorkersByForce(true);
  say('info', 'dataset', `${FORCE_STOPPED_MESSAGE} The run can be resumed.`);
}

/** Worst items by PSNR, per configuration, as (item, psnr) lists sorted worst first. */
function worstOf(lines: readonly ResultLine[]): Map<string, { item: string; psnr: number }[]> {
  const by = new Map<string, { item: string; psnr: number }[]>();
  for (const l of lines) {
    const v = l.metrics['psnr'];
    if (typeof v !== 'number') continue;
    const list = by.get(l.config) ?? [];
    list.push({ item: l.item, psnr: v });
    by.set(l.config, list);
  }
  for (const list of by.values()) list.sort((a, b) => a.psnr - b.psnr).splice(WORST_KEPT);
  return by;
}

/** The frame of a column the gallery shows: the middle ground-truth frame. */
const shownFrame = (n: number) => Math.floor((n - 1) / 2);

async function execute(
  run: StoredEvalRun,
  items: DatasetItem[],
  lines: ResultLine[],
  problems: { item: string; message: string }[],
): Promise<void> {
  const s = useStudio.getState();
  const { manifest, selectedKey } = s.packs;
  const source = selectedKey ? packSource(selectedKey) : undefined;
  if (!manifest || !source) return;
  const backend = s.settings.backend;
  const { info } = run;
  clearMessages('dataset');
  stopRequested = null;
  forced = false;
  const jobId = nextJobId();
  currentJob = jobId;
  const held = { variant: null as string | null };
  const worst = worstOf(lines);
  const kept = lines.slice();
  const keptProblems = problems.slice();
  const t0 = performance.now();
  const columnsPerItem = info.configs.length + info.anchors.length;
  const done = new Set(lines.map((l) => lineKey(l.item, l.config)));
  const failed = new Set(problems.map((p) => p.item));
  const startDone = done.size;
  const progress = (current: string | null, written = 0) => {
    const secs = (performance.now() - t0) / 1000;
    // An item is done when all its columns are: items per minute is lines per minute / columns.
    const rate = written > 0 ? (written / columnsPerItem / secs) * 60 : null;
    const linesPerSec = written > 0 ? written / secs : null;
    const left = run.total - startDone - written;
    patch('datasetEval', {
      progress: {
        done: startDone + written,
        total: run.total,
        itemsPerMinute: rate,
        etaSeconds: linesPerSec ? left / linesPerSec : null,
        current,
      },
    });
  };
  const refresh = () => showRun(run.id, kept, keptProblems, run.info);
  let shownAt = performance.now();
  patch('datasetEval', { status: 'running', openRunId: run.id });
  try {
    await saveEvalRun(run);
    await refreshRuns();
    let vggNote: string | null = null;
    if (info.protocol === 'kdq') {
      const src = currentLpipsSource();
      const vgg = src
        ? await loadLpipsVgg(src)
        : { available: false, message: 'no LPIPS graphs were found' };
      if (!vgg.available) vggNote = vgg.message;
    }
    if (vggNote) say('warning', 'dataset', vggNote);
    progress(null);
    let written = 0;
    const result = await runEvaluation(
      {
        info,
        items,
        done,
        failed,
        protocol: info.protocol,
        isCancelled: () => stopRequested !== null,
        onProgress: (n, _t, item) => {
          written = n;
          progress(item, n);
        },
      },
      {
        loadItem,
        useVariant: async (variant) => {
          progress(`loading ${variant}`, written);
          if (!isVariantLoaded(manifest, variant, backend)) {
            await loadVariant(
              { jobId, manifest, source, variantId: variant, backend },
              () => undefined,
            );
          }
          held.variant = variant;
        },
        // The worker checks cancellation itself (cancelRun); functions cannot cross to it.
        generate: ({ hooks: _hooks, ...req }) =>
          generateEvalItem({
            ...req,
            item: { tau: req.item.tau },
            configs: [...req.configs],
            anchors: [...req.anchors],
            jobId,
            variantId: held.variant!,
            fit: info.fit as FitChoice,
            protocol: info.protocol,
          }),
        score: async (item, columns, loaded) => {
          const scored = await scoreEvalItem({
            item: { id: item.id, split: item.split, category: item.category, tau: item.tau },
            columns,
            loaded,
            protocol: info.protocol,
          });
          await keepWorst(run.id, worst, scored, columns, loaded);
          return scored;
        },
        emit: async (line) => {
          kept.push(line);
          await saveLine(run.id, line);
          // The tables follow the run, redrawn at most every two seconds.
          if (performance.now() - shownAt > 2000) {
            shownAt = performance.now();
            refresh();
          }
        },
        problem: async (item, message) => {
          keptProblems.push({ item, message });
          await saveProblem(run.id, item, message);
        },
      },
    );
    const finished = !result.cancelled;
    run.state = finished ? 'done' : 'paused';
    progress(null, written);
  } catch (e) {
    run.state = 'paused';
    if ((e as Error).name !== 'RunCancelledError' && !forced)
      say('error', 'dataset', `The evaluation stopped: ${(e as Error).message}`);
  } finally {
    currentJob = null;
    stopRequested = null;
    run.updatedAt = Date.now();
    await saveEvalRun(run).catch(() => undefined);
    patch('datasetEval', { status: 'idle', stuck: false });
    await refreshRuns();
    refresh();
  }
}

/** Keeps the frames of lines that entered their configuration's worst WORST_KEPT by PSNR. */
async function keepWorst(
  runId: string,
  worst: Map<string, { item: string; psnr: number }[]>,
  lines: ResultLine[],
  columns: GeneratedColumn[],
  loaded: LoadedItem,
): Promise<void> {
  for (const line of lines) {
    const v = line.metrics['psnr'];
    if (typeof v !== 'number') continue;
    const list = worst.get(line.config) ?? [];
    worst.set(line.config, list);
    if (list.length >= WORST_KEPT && v >= list.at(-1)!.psnr) continue;
    const column = columns.find((c) => c.config === line.config)!;
    const i = shownFrame(column.frames.length);
    const frames: StoredFrames = {
      truth: await rgbaToPng(loaded.truth[i]!),
      prediction: await rgbaToPng(column.frames[i]!),
    };
    await saveFrames(runId, line.item, line.config, frames);
    list.push({ item: line.item, psnr: v });
    list.sort((a, b) => a.psnr - b.psnr);
    for (const out of list.splice(WORST_KEPT)) await deleteFrames(runId, out.item, line.config);
  }
}

/** Re-reads the stored runs for the list. */
export async function refreshRuns(): Promise<void> {
  try {
    patch('datasetEval', { runs: await listEvalRuns() });
  } catch (e) {
    say('warning', 'dataset', `Stored evaluations cannot be read: ${(e as Error).message}`);
  }
}

/** Builds the report of a run's lines (what `inbetween report` would print). */
function showRun(
  runId: string,
  lines: ResultLine[],
  problems: { item: string; message: string }[],
  info: RunInfo,
  reference?: string | null,
): void {
  const ref = reference ?? useStudio.getState().datasetEval.reference ?? info.reference;
  const merged = mergeRuns([{ info, lines, itemProblems: problems }]);
  const validRef = [...info.configs.map((c) => c.id), ...info.anchors].includes(ref)
    ? ref
    : info.reference;
  patch('datasetEval', {
    openRunId: runId,
    lines: merged.lines,
    problems,
    reference: validRef,
    report: lines.length > 0 ? summariseRuns(merged, validRef) : null,
  });
}

/** Opens a stored run's results. */
export async function openEvalRun(runId: string): Promise<void> {
  const run = useStudio.getState().datasetEval.runs.find((r) => r.id === runId);
  if (!run) return;
  const [lines, problems] = await Promise.all([readLines(runId), readProblems(runId)]);
  showRun(runId, lines, problems, run.info, run.info.reference);
}

/** Changes the configuration paired differences are taken against. */
export function setEvalReference(config: string): void {
  const { openRunId, runs, lines, problems } = useStudio.getState().datasetEval;
  const run = runs.find((r) => r.id === openRunId);
  if (run) showRun(run.id, lines, problems, run.info, config);
}

/** Deletes a stored run (not while it runs). */
export async function removeEvalRun(runId: string): Promise<void> {
  const st = useStudio.getState().datasetEval;
  if (st.status !== 'idle' && st.openRunId === runId) return;
  await deleteEvalRun(runId);
  if (st.openRunId === runId)
    patch('datasetEval', { openRunId: null, lines: [], problems: [], report: null });
  await refreshRuns();
}

/** The open run's report in one of the CLI's formats, downloaded. */
export function exportEvalReport(format: ReportFormat): void {
  const { report, runs, openRunId } = useStudio.getState().datasetEval;
  const run = runs.find((r) => r.id === openRunId);
  if (!report || !run) return;
  const text = renderDatasetReport(report, format);
  const type = {
    md: 'text/markdown',
    csv: 'text/csv',
    tex: 'application/x-tex',
    json: 'application/json',
  }[format];
  downloadBlob(
    `evaluation-${run.info.pack.id}-${run.info.protocol}.${format}`,
    new Blob([text], { type }),
  );
}

/** The open run's lines as results.jsonl (the CLI's format: `inbetween report` reads it with run.json). */
export function exportEvalLines(): void {
  const { lines, runs, openRunId } = useStudio.getState().datasetEval;
  const run = runs.find((r) => r.id === openRunId);
  if (!run) return;
  const text = lines
    .map((l) => JSON.stringify(l, (_k, v) => (v === Infinity ? 'Infinity' : v)) + '\n')
    .join('');
  downloadBlob('results.jsonl', new Blob([text], { type: 'application/jsonl' }));
  downloadBlob(
    'run.json',
    new Blob([JSON.stringify(run.info, null, 2) + '\n'], { type: 'application/json' }),
  );
}

/** A worst item's stored frames, for the gallery. */
export function worstFrames(runId: string, item: string, config: string) {
  return getFrames(runId, item, config);
}

/** The worst items of a configuration in the open run, worst first. */
export function worstItems(lines: readonly ResultLine[], config: string) {
  return (worstOf(lines.filter((l) => l.config === config)).get(config) ?? []).map((w) => w.item);
}
