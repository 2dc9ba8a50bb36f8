/**
 * The visible prompt for a new version (never a modal: a small bar the page keeps working under),
 * and a quiet "works offline" note once the service worker holds everything.
 */
import { useStudio } from '../state/store';
import { dismissUpdate, updateNow } from './pwaActions';

export function UpdatePrompt({ compact = false }: { compact?: boolean }) {
  const { updateReady } = useStudio((s) => s.pwa);
  if (!updateReady) return null;
  return (
    <div
      className={`update-prompt${compact ? ' compact' : ''}`}
      role="status"
      data-testid="pwa.update"
    >
      <span>A new version of the studio is ready.</span>
      <button type="button" data-testid="pwa.update.apply" onClick={() => void updateNow()}>
        Update
      </button>
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
