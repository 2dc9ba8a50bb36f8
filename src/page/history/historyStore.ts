/**
 * Run history in IndexedDB: every finished run — keyframes by content hash, settings, variant,
 * frames (PNG Blobs), latent statistics and scores — survives reloads and can be reopened,
 * compared or deleted. Bounded: beyond MAX_RUNS or MAX_BYTES the oldest runs are dropped, and
 * storage refused by the browser is reported, never silent.
 */
import {
  clear,
  createStore,
  delMany,
  get,
  getMany,
  keys,
  setMany,
  type UseStore,
} from 'idb-keyval';
import type { StepRecord, RunTimings } from '../../core/pipeline';
import type { SamplerName } from '../../core/samplers';
import type { HistoryEntry } from './historySlice';
import { isQuotaError } from '../../shared/packCache';

export const MAX_RUNS = 60;
export const MAX_BYTES = 150 * 1024 * 1024;

/** Everything kept of one run. */
export interface StoredRun extends HistoryEntry {
  backend: string;
  positions: number[];
  frames: Blob[];
  frameSize: [number, number];
  stepStats: StepRecord[];
  timesteps: number[];
  /** Absent in runs stored before samplers other than DDIM existed. */
  sampler?: SamplerName;
  timings: RunTimings;
}

let store: UseStore | null = null;
const db = () => (store ??= createStore('inbetween-history-v1', 'runs'));

// Layout: `run:<id>` → StoredRun (frames and statistics), `summary:<id>` → HistoryEntry. Listing reads
// the small summaries only; deserialising every run's frames would block the page.
const runKey = (id: string) => `run:${id}`;
const summaryKey = (id: string) => `summary:${id}`;

/** Summaries of every stored run, newest first. */
export async function listRuns(): Promise<HistoryEntry[]> {
  const ks = ((await keys(db())) as string[]).filter((k) => k.startsWith('summary:'));
  const all = await getMany<HistoryEntry | undefined>(ks, db());
  return all.filter((e): e is HistoryEntry => Boolean(e)).sort((a, b) => b.createdAt - a.createdAt);
}

function summary(r: StoredRun): HistoryEntry {
  const {
    id,
    createdAt,
    packId,
    variantId,
    loraScale,
    steps,
    seed,
    count,
    keyframes,
    sizeBytes,
    psnr,
    lpipsAlex,
  } = r;
  return {
    id,
    createdAt,
    packId,
    variantId,
    loraScale,
    steps,
    seed,
    count,
    keyframes,
    sizeBytes,
    psnr,
    lpipsAlex,
  };
}

export async function getRun(id: string): Promise<StoredRun | undefined> {
  return get<StoredRun>(runKey(id), db());
}

export async function deleteRun(id: string): Promise<void> {
  await delMany([runKey(id), summaryKey(id)], db());
}

export async function clearRuns(): Promise<void> {
  await clear(db());
}

/** Updates the scores of a stored run (they arrive after the run). */
export async function setRunScores(
  id: string,
  psnr: number | null,
  lpipsAlex: number | null,
): Promise<void> {
  const r = await getRun(id);
  if (r) await writeRun({ ...r, psnr, lpipsAlex });
}

async function writeRun(run: StoredRun): Promise<void> {
  await setMany(
    [
      [runKey(run.id), run],
      [summaryKey(run.id), summary(run)],
    ],
    db(),
  );
}

/**
 * Stores a run, then drops the oldest runs beyond the limits. Returns how many were dropped.
 * Throws a clear error when the browser refuses the storage.
 */
export async function saveRun(run: StoredRun): Promise<number> {
  if (run.sizeBytes > MAX_BYTES) {
    throw new Error(
      `This run is ${(run.sizeBytes / 1e6).toFixed(0)} MB, over the history's ${MAX_BYTES / 1e6} MB limit, so it was not saved.`,
    );
  }
  try {
    await writeRun(run);
  } catch (e) {
    if (isQuotaError(e)) {
      throw new Error(
        'The run could not be saved in the history: browser storage is full. Delete old runs or clear the model cache.',
        { cause: e },
      );
    }
    throw e;
  }
  const runs = await listRuns();
  let bytes = 0;
  let dropped = 0;
  for (let i = 0; i < runs.length; i++) {
    bytes += runs[i]!.sizeBytes;
    if (i >= MAX_RUNS || bytes > MAX_BYTES) {
      await deleteRun(runs[i]!.id);
      dropped++;
    }
  }
  return dropped;
}
