/**
 * A comlink connection to a worker that is started lazily and restarted after a crash. Comlink
 * alone leaves a call pending forever when its worker dies; here every call races the worker's
 * `error` event and rejects with `WorkerCrashedError` instead.
 */
import * as Comlink from 'comlink';

/** The worker died (out of memory, a runtime abort, or it was stopped by force). */
export class WorkerCrashedError extends Error {
  constructor(what: string, detail: string) {
    super(
      `The ${what} worker stopped unexpectedly (${detail}). Its models were unloaded; try again to start it anew.`,
    );
    this.name = 'WorkerCrashedError';
  }
}

interface Live<Api> {
  worker: Worker;
  remote: Comlink.Remote<Api>;
  crashed: Promise<never>;
  fail: (e: Error) => void;
}

export interface WorkerClient<Api> {
  /** Runs `fn` against the worker, starting it if needed; rejects if the worker dies meanwhile. */
  call<T>(fn: (remote: Comlink.Remote<Api>) => Promise<T>): Promise<T>;
  /** The live remote, if the worker is running (for fire-and-forget messages such as cancel). */
  current(): Comlink.Remote<Api> | null;
  /** Stops the worker at once; pending calls reject; the next call starts a new one. */
  terminate(reason: string): void;
}

/**
 * `what` names the worker in messages ("inference", "metrics"); `onStop` runs whenever a live
 * worker goes away (it crashed or was terminated), so callers can forget what it held.
 */
export function createWorkerClient<Api>(
  what: string,
  start: () => Worker,
  onStop: () => void = () => undefined,
): WorkerClient<Api> {
  let live: Live<Api> | null = null;
  const ensure = (): Live<Api> => {
    if (live) return live;
    const worker = start();
    let fail: (e: Error) => void = () => undefined;
    const crashed = new Promise<never>((_, reject) => {
      fail = reject;
    });
    // Keep an unobserved crash from becoming an unhandled rejection.
    crashed.catch(() => undefined);
    const entry: Live<Api> = { worker, remote: Comlink.wrap<Api>(worker), crashed, fail };
    const onCrash = (detail: string) => {
      if (live === entry) live = null;
      onStop();
      entry.fail(new WorkerCrashedError(what, detail));
      worker.terminate();
    };
    worker.addEventListener('error', (e) => {
      e.preventDefault();
      onCrash(e.message || 'script error');
    });
    worker.addEventListener('messageerror', () => onCrash('a message could not be read'));
    live = entry;
    return entry;
  };
  return {
    call: (fn) => {
      const w = ensure();
      return Promise.race([fn(w.remote), w.crashed]);
    },
    current: () => live?.remote ?? null,
    terminate: (reason) => {
      if (!live) return;
      const entry = live;
      live = null;
      onStop();
      entry.worker.terminate();
      entry.fail(new WorkerCrashedError(what, reason));
    },
  };
}
