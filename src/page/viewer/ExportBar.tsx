/**
 * The export controls the viewer and the Scene panel share: a format menu (formats this browser
 * cannot write are shown disabled), Save, progress by frame with Cancel, and the saved file's
 * name and size. What is exported and how is the caller's `save`.
 */
import { useRef, useState } from 'react';
import { ExportCancelledError } from '../../core/sequence/export';
import { clearMessages, say } from '../state/store';
import { EXPORT_LABELS, formatAvailable, type ExportFormat } from './exportActions';

const FORMATS: ExportFormat[] = ['zip', 'gif', 'apng', 'webm', 'mp4'];

export type SaveExport = (
  format: ExportFormat,
  onProgress: (done: number, total: number) => void,
  isCancelled: () => boolean,
) => Promise<{ file: string; bytes: number }>;

export function ExportBar({
  label,
  scope,
  testPrefix,
  save,
}: {
  label: string;
  /** The message scope its errors are said under. */
  scope: string;
  testPrefix: string;
  save: SaveExport;
}) {
  const [format, setFormat] = useState<ExportFormat>('zip');
  const [progress, setProgress] = useState<string | null>(null);
  const [last, setLast] = useState<string | null>(null);
  const cancel = useRef(false);

  async function run() {
    cancel.current = false;
    clearMessages(scope);
    setLast(null);
    setProgress('reading frames…');
    try {
      const { file, bytes } = await save(
        format,
        (done, total) => setProgress(`frame ${done} of ${total}`),
        () => cancel.current,
      );
      setLast(`${file} · ${(bytes / 1024).toFixed(0)} KB`);
    } catch (e) {
      if (!(e instanceof ExportCancelledError))
        say('error', scope, `Export failed: ${(e as Error).message}`);
    } finally {
      setProgress(null);
    }
  }

  return (
    <div className="row export-bar" data-testid={`${testPrefix}.export`}>
      <label>
        {label}{' '}
        <select
          value={format}
          onChange={(e) => setFormat(e.target.value as ExportFormat)}
          data-testid={`${testPrefix}.exportFormat`}
        >
          {FORMATS.map((f) => (
            <option key={f} value={f} disabled={!formatAvailable(f)}>
              {EXPORT_LABELS[f]}
              {formatAvailable(f) ? '' : ' (not in this browser)'}
            </option>
          ))}
        </select>
      </label>
      {progress !== null && (
        <span className="label" data-testid={`${testPrefix}.exportProgress`}>
          {progress}
        </span>
      )}
      {/* One button that turns from Save into Cancel and back, so that the keyboard's focus stays
          on it (a new element would drop it). */}
      <button
        type="button"
        onClick={() => {
          if (progress === null) void run();
          else cancel.current = true;
        }}
        data-testid={`${testPrefix}.${progress === null ? 'exportRun' : 'exportCancel'}`}
      >
        {progress === null ? 'Save' : 'Cancel'}
      </button>
      {last && (
        <span className="hint" data-testid={`${testPrefix}.exportDone`}>
          saved {last}
        </span>
      )}
    </div>
  );
}
