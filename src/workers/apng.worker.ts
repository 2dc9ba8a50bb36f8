/**
 * The APNG export's encoder, off the main thread: UPNG.js compresses every frame in one synchronous
 * call, which on the page froze it for seconds on a long scene and left Cancel unheard. The page
 * (src/page/clients/apngClient.ts) terminates this worker to cancel.
 */
import { encodeApng, type ExportDrawing } from '../core/sequence/export';
import type { PlayMode } from '../core/sequence/sequence';

export interface ApngRequest {
  drawings: ExportDrawing[];
  fps: number;
  mode: PlayMode;
}

export type ApngReply =
  | { kind: 'progress'; done: number; total: number }
  | { kind: 'done'; bytes: Uint8Array }
  | { kind: 'error'; message: string };

const post = (reply: ApngReply, transfer: Transferable[] = []) => self.postMessage(reply, transfer);

self.onmessage = async (e: MessageEvent<ApngRequest>) => {
  const { drawings, fps, mode } = e.data;
  try {
    const bytes = await encodeApng(drawings, {
      fps,
      mode,
      onProgress: (done, total) => post({ kind: 'progress', done, total }),
    });
    post({ kind: 'done', bytes }, [bytes.buffer]);
  } catch (err) {
    post({ kind: 'error', message: (err as Error).message });
  }
};
