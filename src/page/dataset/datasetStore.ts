/**
 * Dataset evaluations in IndexedDB, so a run survives a reload and resumes where it stopped: the
 * run's record (run.json's content and the plan as typed), one record per result line and per
 * item problem — the same records the CLI writes to results.jsonl and problems.jsonl — and the
 * frames of the worst items, for the gallery. Lines are read back by key range, never all runs
 * at once. Storage the browser refuses is an error the caller shows; nothing is dropped silently.
 */
import { createStore, del, get, promisifyRequest, set, type UseStore } from 'idb-keyval';
import type { ResultLine, RunInfo } from '../../core/evaluation/datasetRun';
import { isQuotaError } from '../../shared/packCache';

/** A folder's handle, with the permission calls TypeScript's DOM types do not have yet. */
export interface DirectoryHandle extends FileSystemDirectoryHandle {
  queryPermission?(d: { mode: 'read' }): Promise<PermissionState>;
  requestPermission?(d: { mode: 'read' }): Promise<PermissionState>;
}

/** What the panel remembers of a run besides its lines. */
export interface StoredEvalRun {
  id: string;
  createdAt: number;
  updatedAt: number;
  info: RunInfo;
  /** The picked folder's name; a resume asks for this folder again. */
  datasetLabel: string;
  /**
   * The folder's handle where the browser's folder picker gave one (Chromium): a resume reads the
   * folder through it after asking for permission, without picking it again.
   */
  handle?: DirectoryHandle;
  /** Lines the run writes in all (items × columns, less items that could not be read). */
  total: number;
  state: 'running' | 'paused' | 'done';
}

/** A worst item's frames as the protocol scored them, PNG. */
export interface StoredFrames {
  truth: Blob;
  prediction: Blob;
}

let store: UseStore | null = null;
const db = () => (store ??= createStore('inbetween-eval-v1', 'records'));

const RUN = 'run:';
const LINE = 'line:';
const PROBLEM = 'problem:';
const FRAMES = 'frames:';
const sub = (kind: string, id: string, rest = '') => `${kind}${id}\u0001${rest}`;
const range = (kind: string, id: string) =>
  IDBKeyRange.bound(sub(kind, id), `${sub(kind, id)}\uffff`);

/** The browser refused to store (quota, private mode): one sentence saying what to do. */
export class EvalStorageError extends Error {
  constructor(cause: unknown) {
    super(
      isQuotaError(cause)
        ? "The browser's storage is full: the run stopped with its results so far kept on this page. Export them, delete old evaluations or history runs, then resume."
        : `The browser refused to store the results (${(cause as Error)?.message ?? String(cause)}): the run stopped with its results so far kept on this page; export them.`,
      { cause },
    );
    this.name = 'EvalStorageError';
  }
}

async function guard<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw new EvalStorageError(e);
  }
}

export function saveEvalRun(run: StoredEvalRun): Promise<void> {
  return guard(set(RUN + run.id, run, db()));
}

export function getEvalRun(id: string): Promise<StoredEvalRun | undefined> {
  return get<StoredEvalRun>(RUN + id, db());
}

/** Every stored run, newest first. */
export async function listEvalRuns(): Promise<StoredEvalRun[]> {
  const runs = await db()('readonly', (s) =>
    promisifyRequest(s.getAll(IDBKeyRange.bound(RUN, `${RUN}\uffff`))),
  );
  return (runs as StoredEvalRun[]).sort((a, b) => b.createdAt - a.createdAt);
}

export function saveLine(runId: string, line: ResultLine): Promise<void> {
  return guard(set(sub(LINE, runId, `${line.item}\u0000${line.config}`), line, db()));
}

export function saveProblem(runId: string, item: string, message: string): Promise<void> {
  return guard(set(sub(PROBLEM, runId, item), { item, message }, db()));
}

export async function readLines(runId: string): Promise<ResultLine[]> {
  return (await db()('readonly', (s) =>
    promisifyRequest(s.getAll(range(LINE, runId))),
  )) as ResultLine[];
}

export async function readProblems(runId: string): Promise<{ item: string; message: string }[]> {
  return (await db()('readonly', (s) => promisifyRequest(s.getAll(range(PROBLEM, runId))))) as {
    item: string;
    message: string;
  }[];
}

const framesKey = (runId: string, item: string, config: string) =>
  sub(FRAMES, runId, `${item}\u0000${config}`);

export function saveFrames(
  runId: string,
  item: string,
  config: string,
  frames: StoredFrames,
): Promise<void> {
  return guard(set(framesKey(runId, item, config), frames, db()));
}

export function getFrames(
  runId: string,
  item: string,
  config: string,
): Promise<StoredFrames | undefined> {
  return get<StoredFrames>(framesKey(runId, item, config), db());
}

export function deleteFrames(runId: string, item: string, config: string): Promise<void> {
  return del(framesKey(runId, item, config), db());
}

/** Deletes a run with its lines, problems and frames. */
export async function deleteEvalRun(runId: string): Promise<void> {
  await db()('readwrite', (s) => {
    for (const kind of [LINE, PROBLEM, FRAMES]) s.delete(range(kind, runId));
    s.delete(RUN + runId);
    return promisifyRequest(s.transaction);
  });
}
