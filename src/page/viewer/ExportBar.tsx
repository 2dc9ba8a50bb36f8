/**
 * Export of what the viewer plays — the keys and in-betweens in order, at the player's frame rate,
 * looping or ping-pong — as a PNG sequence (zip), GIF, APNG, WebM or MP4, with progress and Cancel.
 */
import { useRef, useState } from 'react';
import { ExportCancelledError } from '../../core/sequence/export';
import { clearMessages, say } from '../state/store';
import {
  EXPORT_LABELS,
  exportDrawings,
  formatAvailable,
  framesFromUrls,
  type ExportFormat,
} from './exportActions';

const FORMATS: ExportFormat[] = ['zip', 'gif', 'apng', 'webm', 'mp4'];

export function ExportBar({
  urls,
  fps,
  pingPong,
  name,
}: {
  urls: string[];
  fps: number;
  pingPong: boolean;
  name: string;
}) {
  const [format, setFormat] = useState<ExportFormat>('zip');
  const [progress, setProgress] = useState<string | null>(null);
  const [last, setLast] = useState<string | null>(null);
  const cancel = useRef(false);

  async function run() {
    cancel.current = false;
    clearMessages('export');
    setLast(null);
    setProgress('reading frames…');
    try {
      const images = await framesFromUrls(urls);
      const { file, bytes } = await exportDrawings(
        format,
        images.map((image) => ({ image, hold: 1 })),
        {
          fps,
          mode: pingPong ? 'pingpong' : 'loop',
          name,
          onProgress: (done, total) => setProgress(`frame ${done} of ${total}`),
          isCancelled: () => cancel.current,
        },
      );
      setLast(`${file} · ${(bytes / 1024).toFixed(0)} KB`);
    } catch (e) {
      if (!(e instanceof ExportCancelledError))
        say('error', 'export', `Export failed: ${(e as Error).message}`);
    } finally {
      setProgress(null);
    }
  }

  return (
    <div className="row export-bar" data-testid="viewer.export">
      <label>
        Export{' '}
        <select
          value={format}
          onChange={(e) => setFormat(e.target.value as ExportFormat)}
          data-testid="viewer.exportFormat"
        >
          {FORMATS.map((f) => (
            <option key={f} value={f} disabled={!formatAvailable(f)}>
              {EXPORT_LABELS[f]}
              {formatAvailable(f) ? '' : ' (not in this browser)'}
            </option>
          ))}
        </select>
      </label>
      {progress === null ? (
        <button type="button" onClick={() => void run()} data-testid="viewer.exportRun">
          Save
        </button>
      ) : (
        <>
          <span className="label" data-testid="viewer.exportProgress">
            {progress}
          </span>
          <button type="button" onClick={() => (cancel.current = true)}>
            Cancel
          </button>
        </>
      )}
      {last && (
        <span className="hint" data-testid="viewer.exportDone">
          saved {last}
        </span>
      )}
    </div>
  );
}
