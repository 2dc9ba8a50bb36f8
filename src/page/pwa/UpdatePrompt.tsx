/**
 * The visible prompt for a new version (never a modal: a small bar the page keeps working under),
 * and a quiet "works offline" note once the service worker holds everything.
 */
import { selectWorkerJob, useStudio } from '../state/store';
import { dismissUpdate, updateNow } from './pwaActions';

/** What the prompt waits for: the reload would end it and lose what it has not saved. */
const WAITS_FOR = {
  run: 'the run',
  sweep: 'the sweep',
  efficiency: 'the measurement',
  dataset: 'the dataset evaluation (or pause it)',
  scene: "the scene's Run all",
} as const;

export function UpdatePrompt({ compact = false }: { compact?: boolean }) {
  const { updateReady } = useStudio((s) => s.pwa);
  const job = useStudio(selectWorkerJob);
  if (!updateReady) return null;
  return (
    <div
      className={`update-prompt${compact ? ' compact' : ''}`}
      role="status"
      data-testid="pwa.update"
    >
      <span>A new version of the studio is ready.</span>
      <button
        type="button"
        data-testid="pwa.update.apply"
        disabled={job !== null}
        title={
          job !== null ? `Updating reloads the page: wait for ${WAITS_FOR[job]} first.` : undefined
        }
        onClick={() => void updateNow()}
      >
        Update
      </button>
      {job !== null && !compact && (
        <span className="hint" data-testid="pwa.update.waits">
          (after {WAITS_FOR[job]})
        </span>
      )}
      <button type="button" data-testid="pwa.update.later" onClick={dismissUpdate}>
        Later
      </button>
    </div>
  );
}

/** "Works offline" once the app, ORT and the bundled packs are held by the service worker. */
export function OfflineBadge() {
  const ready = useStudio((s) => s.pwa.offlineReady);
  if (!ready) return null;
  return (
    <span
      className="offline-badge"
      data-testid="pwa.offline-ready"
      title="The app, ONNX Runtime and the bundled packs are stored in this browser: the studio starts and runs without a network."
    >
      Works offline
    </span>
  );
}
