/**
 * What the IndexedDB model cache holds, per pack, with sizes and the browser's quota; clears one
 * pack or everything.
 */
import { formatBytes } from '../../core/format';
import { useCallback, useEffect, useState } from 'react';
import { say, selectWorkerJob, useStudio } from '../state/store';
import {
  CHUNK_BYTES,
  clearCache,
  clearUnfinished,
  summariseCache,
  type CacheSummary,
} from '../../shared/packCache';

/** The cache panel. `refreshToken` changes when something may have been cached. */
export function CachePanel({ refreshToken }: { refreshToken: unknown }) {
  const [summary, setSummary] = useState<CacheSummary | null>(null);
  // A job may be downloading into the cache: clearing under it would fail its file at the end.
  const busy = useStudio((s) => selectWorkerJob(s) !== null);
  const refresh = useCallback(() => {
    summariseCache()
      .then(setSummary)
      .catch((e: unknown) =>
        say('warning', 'cache', `The model cache could not be read: ${(e as Error).message}`),
      );
  }, []);
  useEffect(refresh, [refresh, refreshToken]);
  const clear = async (packId?: string) => {
    try {
      await clearCache(packId);
      say(
        'info',
        'cache',
        packId ? `Removed ${packId} from the cache.` : 'The model cache was cleared.',
      );
    } catch (e) {
      say('error', 'cache', `The cache could not be cleared: ${(e as Error).message}`);
    }
    refresh();
  };
  return (
    <details className="panel more" data-testid="cache.panel" onToggle={refresh}>
      <summary>Model cache{summary ? ` — ${formatBytes(summary.totalBytes)}` : ''}</summary>
      {summary && summary.packs.length === 0 && summary.unfinished.chunks === 0 && (
        <p className="hint">Nothing is cached yet. Packs are cached the first time they run.</p>
      )}
      {summary && summary.unfinished.chunks > 0 && (
        <p className="row" data-testid="cache.unfinished">
          <span className="hint">
            Pieces of {summary.unfinished.files} download
            {summary.unfinished.files > 1 ? 's' : ''} that never finished (
            {summary.unfinished.chunks} chunk{summary.unfinished.chunks > 1 ? 's' : ''} of up to{' '}
            {formatBytes(CHUNK_BYTES)}): they take space and are of no use.
          </span>
          <button
            type="button"
            data-testid="cache.unfinished.clear"
            disabled={busy}
            onClick={() =>
              void clearUnfinished()
                .then(() => say('info', 'cache', 'The unfinished downloads were removed.'))
                .catch((e: unknown) =>
                  say('error', 'cache', `They could not be removed: ${(e as Error).message}`),
                )
                .finally(refresh)
            }
          >
            Remove
          </button>
        </p>
      )}
      {summary && summary.packs.length > 0 && (
        <table className="cache-table">
          <thead>
            <tr>
              <th>Pack</th>
              <th>Files</th>
              <th>Size</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {summary.packs.map((p) => (
              <tr key={p.packId} data-testid="cache.row">
                <td title={p.sourceLabel}>{p.name}</td>
                <td>{p.fileCount}</td>
                <td>{formatBytes(p.sizeBytes)}</td>
                <td>
                  <button type="button" disabled={busy} onClick={() => void clear(p.packId)}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {summary?.quotaBytes != null && (
        <p className="hint" data-testid="cache.quota">
          This site uses {formatBytes(summary.usageBytes ?? 0)} of the{' '}
          {formatBytes(summary.quotaBytes)} the browser allows.
        </p>
      )}
      <button
        type="button"
        data-testid="cache.clear"
        onClick={() => void clear()}
        disabled={busy || (!summary?.packs.length && !summary?.unfinished.chunks)}
      >
        Clear cache
      </button>
      {busy && (
        <span className="hint" data-testid="cache.busy">
          {' '}
          Clearing waits for the job in progress (it may be downloading into the cache).
        </span>
      )}
    </details>
  );
}
