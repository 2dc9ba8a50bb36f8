/**
 * The booth screen (`?kiosk`): keyframes, a big looping player, the live latent plot and the time
 * per in-between in large type, with a few large controls; the studio's developer panels are
 * hidden. The attract loop runs when nobody touches it (kioskActions.ts).
 */
import { useEffect, useRef, type DragEvent } from 'react';
import { PanelBoundary } from '../common/PanelBoundary';
import { OfflineBadge, UpdatePrompt } from '../pwa/UpdatePrompt';
import { useStudio } from '../state/store';
import {
  addOwnDrawings,
  choosePair,
  chooseVariant,
  runForVisitor,
  setLoraScale,
  startKiosk,
} from './kioskActions';
import { kioskVariants, variantTitle } from './kioskVariants';
import { KioskPlayer } from './KioskPlayer';
import { KioskPlot } from './KioskPlot';

function Keys() {
  const { pairs, pairId, own } = useStudio((s) => s.kiosk);
  const pair = pairs.find((p) => p.id === pairId);
  const start = pairId === 'own' ? own?.startUrl : pair?.startUrl;
  const end = pairId === 'own' ? own?.endUrl : pair?.endUrl;
  return (
    <div className="kiosk-keys" data-testid="kiosk.keys">
      {[
        ['Start', start],
        ['End', end],
      ].map(([label, url]) => (
        <figure key={label}>
          {url ? <img src={url} alt={`${label} keyframe`} /> : <div className="kiosk-empty">?</div>}
          <figcaption>{label} key</figcaption>
        </figure>
      ))}
    </div>
  );
}

function Controls() {
  const k = useStudio((s) => s.kiosk);
  const manifest = useStudio((s) => s.packs.manifest);
  const file = useRef<HTMLInputElement>(null);
  const variants = manifest ? kioskVariants(manifest) : [];
  const chosen = variants.find((v) => v.id === k.variantId);
  const busy = k.phase === 'running';
  return (
    <nav className="kiosk-controls" aria-label="Booth controls">
      <div className="kiosk-group">
        <span className="kiosk-group-label">1 · Drawings</span>
        {k.pairs.map((p) => (
          <button
            key={p.id}
            type="button"
            className={`kiosk-pair${k.pairId === p.id ? ' chosen' : ''}`}
            data-testid={`kiosk.pair.${p.id}`}
            onClick={() => choosePair(p.id)}
            title={p.caption}
          >
            <img src={p.startUrl} alt="" />
            <span>{p.title}</span>
          </button>
        ))}
        <button
          type="button"
          className={`kiosk-pair own${k.pairId === 'own' ? ' chosen' : ''}`}
          data-testid="kiosk.own"
          onClick={() => file.current?.click()}
        >
          <span className="kiosk-plus">+</span>
          <span>Your drawings</span>
        </button>
        <input
          ref={file}
          type="file"
          accept="image/*"
          multiple
          hidden
          data-testid="kiosk.own.input"
          onChange={(e) => {
            void addOwnDrawings([...(e.target.files ?? [])]);
            e.target.value = '';
          }}
        />
      </div>
      <div className="kiosk-group">
        <span className="kiosk-group-label">2 · Model</span>
        {manifest &&
          variants.map((v) => (
            <button
              key={v.id}
              type="button"
              className={`kiosk-variant${k.variantId === v.id ? ' chosen' : ''}`}
              data-testid={`kiosk.variant.${v.id}`}
              onClick={() => chooseVariant(v.id)}
            >
              {variantTitle(manifest, v)}
            </button>
          ))}
        {chosen?.loraScale && (
          <label className="kiosk-lora">
            LoRA scale {k.loraScale.toFixed(2)}
            <input
              type="range"
              min={chosen.loraScale.min}
              max={chosen.loraScale.max}
              step={(chosen.loraScale.max - chosen.loraScale.min) / 20}
              value={k.loraScale}
              data-testid="kiosk.lora"
              onChange={(e) => setLoraScale(Number(e.target.value))}
              onPointerUp={() => void runForVisitor()}
              onKeyUp={() => void runForVisitor()}
            />
          </label>
        )}
      </div>
      <button
        type="button"
        className="kiosk-run"
        data-testid="kiosk.run"
        disabled={busy || k.phase === 'starting'}
        onClick={() => void runForVisitor()}
      >
        {busy ? 'Drawing…' : '3 · Draw ▶'}
      </button>
    </nav>
  );
}

function Status() {
  const { stats, mode, phase } = useStudio((s) => s.kiosk);
  const mb = (b: number | null) => (b === null ? '–' : `${Math.round(b / 1e6)} MB`);
  return (
    <div
      className="kiosk-status"
      data-testid="kiosk.status"
      data-mode={mode}
      data-phase={phase}
      data-runs={stats.runs}
      data-failures={stats.failures}
      data-restarts={stats.restarts}
      data-last-run-ms={stats.lastRunMs === null ? '' : Math.round(stats.lastRunMs)}
      data-first-inbetween-ms={
        stats.firstInbetweenMs === null ? '' : Math.round(stats.firstInbetweenMs)
      }
      data-js-heap={stats.jsHeapBytes ?? ''}
      data-wasm-heap={stats.wasmHeapBytes ?? ''}
    >
      <OfflineBadge />
      <span>
        {stats.runs} runs
        {stats.firstInbetweenMs !== null &&
          ` · first in-between ${(stats.firstInbetweenMs / 1000).toFixed(1)} s after opening`}
        {stats.restarts > 0 && ` · ${stats.restarts} restarts`}
        {` · heap ${mb(stats.jsHeapBytes)} · model ${mb(stats.wasmHeapBytes)}`}
      </span>
      <button
        type="button"
        onClick={() => void document.documentElement.requestFullscreen?.().catch(() => undefined)}
      >
        Full screen
      </button>
    </div>
  );
}

export function KioskApp() {
  const k = useStudio((s) => s.kiosk);
  useEffect(() => {
    void startKiosk();
    // Paste goes to whatever has focus (usually the body): listen on the window.
    const onPaste = (e: ClipboardEvent) => {
      const files = [...(e.clipboardData?.files ?? [])];
      if (files.length) void addOwnDrawings(files);
    };
    window.addEventListener('paste', onPaste);
    return () => window.removeEventListener('paste', onPaste);
  }, []);
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    void addOwnDrawings([...e.dataTransfer.files]);
  };
  return (
    <div
      className={`kiosk mode-${k.mode}`}
      data-testid="kiosk"
      onDragOver={(e) => e.preventDefault()}
      onDrop={onDrop}
      tabIndex={-1}
    >
      <header className="kiosk-top">
        <h1>Inbetween Studio</h1>
        <p>
          Two drawings in, the frames between them out — drawn by a diffusion model running in this
          browser.
        </p>
      </header>
      <UpdatePrompt compact />
      <PanelBoundary name="Booth" retryAfterMs={2000}>
        <main className="kiosk-stage">
          <Keys />
          <div className="kiosk-players" data-count={k.panels.length}>
            {k.panels.length === 0 && (
              <div className="kiosk-waiting">{k.line || 'Getting ready…'}</div>
            )}
            {k.panels.map((p) => (
              <KioskPlayer key={p.key} panel={p} />
            ))}
          </div>
          <KioskPlot traces={k.traces} />
        </main>
        <div className="kiosk-caption-row">
          <p className="kiosk-caption" data-testid="kiosk.caption" aria-live="polite">
            {k.mode === 'attract'
              ? k.caption || ' '
              : 'Touch a drawing pair, choose a model, and draw.'}
          </p>
          {k.mode === 'attract' && (
            <p className="kiosk-touch" data-testid="kiosk.attract">
              Touch anywhere to try it yourself
            </p>
          )}
        </div>
        {k.line && k.panels.length > 0 && (
          <p className="kiosk-line" data-testid="kiosk.line" role="status">
            {k.line}
          </p>
        )}
        <Controls />
      </PanelBoundary>
      <Status />
    </div>
  );
}
