/** The one module that talks to the APNG export worker: one worker per export, terminated to cancel. */
import {
  ExportCancelledError,
  type ExportDrawing,
  type ExportOptions,
} from '../../core/sequence/export';
import type { ApngReply, ApngRequest } from '../../workers/apng.worker';

/** How often a running encode looks at the export's Cancel. */
const CANCEL_POLL_MS = 100;

/**
 * Encodes the drawings as an APNG in a worker; `opts.isCancelled` is polled while it runs, and a
 * cancel stops the worker at once. The drawings' pixel buffers are handed to the worker (transferred):
 * the caller must not use them afterwards.
 */
export function encodeApngInWorker(
  drawings: readonly ExportDrawing[],
  opts: ExportOptions,
): Promise<Uint8Array> {
  const worker = new Worker(new URL('../../workers/apng.worker.ts', import.meta.url), {
    type: 'module',
    name: 'apng',
  });
  return new Promise<Uint8Array>((resolve, reject) => {
    const poll = setInterval(() => {
      if (!opts.isCancelled?.()) return;
      finish();
      reject(new ExportCancelledError());
    }, CANCEL_POLL_MS);
    const finish = () => {
      clearInterval(poll);
      worker.terminate();
    };
    worker.onmessage = (e: MessageEvent<ApngReply>) => {
      const r = e.data;
      if (r.kind === 'progress') {
        opts.onProgress?.(r.done, r.total);
        return;
      }
      finish();
      if (r.kind === 'done') resolve(r.bytes);
      else reject(new Error(r.message));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      finish();
      reject(new Error(`the APNG encoder stopped unexpectedly (${e.message || 'script error'})`));
    };
    const request: ApngRequest = { drawings: [...drawings], fps: opts.fps, mode: opts.mode };
    const buffers = [...new Set(drawings.map((d) => d.image.data.buffer as ArrayBuffer))];
    worker.postMessage(request, buffers);
  });
}
