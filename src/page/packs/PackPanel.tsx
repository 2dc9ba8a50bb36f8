/**
 * Model choice: bundled and cached packs, a pack from a URL or a local folder, the variant, and
 * what the manifest says is wrong when it is invalid. Untrained packs are labelled as such.
 */
import { formatBytes } from '../../core/format';
import { variantSizeBytes } from '../../core/manifest';
import { useRef, useState } from 'react';
import { say, selectSelectedPack, selectVariant, useStudio } from '../state/store';
import {
  addPackFromFiles,
  addPackFromUrl,
  chooseVariant,
  filesFromDrop,
  selectPack,
} from './packActions';

/** The model panel. */
export function PackPanel() {
  const options = useStudio((s) => s.packs.options);
  const selectedKey = useStudio((s) => s.packs.selectedKey);
  const manifest = useStudio((s) => s.packs.manifest);
  const errors = useStudio((s) => s.packs.manifestErrors);
  const variantId = useStudio((s) => s.packs.variantId);
  const variant = useStudio(selectVariant);
  const selected = useStudio(selectSelectedPack);
  const load = useStudio((s) => s.packs.load);
  const reading = useStudio((s) => s.packs.reading);
  const backend = useStudio((s) => s.packs.backend);
  // A dataset evaluation loads its own variants into the workers: the pack stays put until it ends.
  const evaluating = useStudio((s) => s.datasetEval.status !== 'idle');
  const [url, setUrl] = useState('');
  const folderInput = useRef<HTMLInputElement>(null);
  const filesInput = useRef<HTMLInputElement>(null);
  const [over, setOver] = useState(false);

  const totalBytes = manifest && variant ? variantSizeBytes(manifest, variant.id) : 0;

  return (
    <section
      className={`panel${over ? ' panel-over' : ''}`}
      aria-labelledby="pack-title"
      onDragOver={(e) => {
        if ([...e.dataTransfer.types].includes('Files')) {
          e.preventDefault();
          setOver(true);
        }
      }}
      onDragLeave={() => setOver(false)}
      onDrop={(e) => {
        e.preventDefault();
        setOver(false);
        void filesFromDrop(e.dataTransfer)
          .then(addPackFromFiles)
          .catch((err: unknown) =>
            say(
              'error',
              'pack',
              `The dropped folder could not be read: ${err instanceof Error ? err.message : String(err)}`,
            ),
          );
      }}
    >
      <h2 id="pack-title">Model</h2>
      <label className="field">
        <span>Pack</span>
        <select
          data-testid="pack.select"
          value={selectedKey ?? ''}
          disabled={evaluating}
          onChange={(e) => void selectPack(e.target.value)}
        >
          {options.length === 0 && <option value="">No packs found</option>}
          {options.map((o) => (
            <option key={o.key} value={o.key}>
              {o.name}
              {o.trained || /untrained/i.test(o.name) ? '' : ' — untrained'} ({o.label})
            </option>
          ))}
        </select>
      </label>
      {evaluating && (
        <p className="hint" data-testid="pack.locked">
          A dataset evaluation is running: pause or cancel it to change the pack or variant.
        </p>
      )}
      {manifest && !manifest.trained && (
        <p className="badge badge-warn" data-testid="pack.untrained">
          Untrained: this pack is randomly initialised for testing, so its frames look like noise.
        </p>
      )}
      {errors.length > 0 && (
        <div className="manifest-errors" role="alert" data-testid="pack.errors">
          <strong>{selected?.name ?? 'This pack'} cannot be used:</strong>
          <ul>
            {errors.slice(0, 12).map((e) => (
              <li key={e}>{e}</li>
            ))}
            {errors.length > 12 && <li>…and {errors.length - 12} more</li>}
          </ul>
        </div>
      )}
      {manifest && (
        <label className="field">
          <span>Variant</span>
          <select
            data-testid="variant.select"
            value={variantId ?? ''}
            disabled={evaluating}
            onChange={(e) => chooseVariant(e.target.value)}
          >
            {manifest.variants.map((v) => (
              <option key={v.id} value={v.id}>
                {v.label}
              </option>
            ))}
          </select>
        </label>
      )}
      {variant && (
        <p className="hint" data-testid="variant.info">
          {variant.precision} · {formatBytes(totalBytes)} to load
          {variant.recommendedSteps ? ` · made for ${variant.recommendedSteps} steps` : ''}
          {variant.loraScale
            ? ` · LoRA scale ${variant.loraScale.min}–${variant.loraScale.max}`
            : ''}
          {variant.description ? ` · ${variant.description}` : ''}
        </p>
      )}
      {reading && (
        <p className="hint" data-testid="pack.reading" aria-live="polite">
          {reading}
        </p>
      )}
      {load.active && (
        <div className="load" data-testid="pack.load">
          <progress
            value={load.totalBytes ? load.loadedBytes : undefined}
            max={load.totalBytes || undefined}
          />
          <span>{load.label}</span>
        </div>
      )}
      {backend && (
        <p className="hint" data-testid="backend.info">
          Runs on{' '}
          <strong data-testid="backend.name">
            {backend.backend === 'webgpu'
              ? 'WebGPU'
              : `WASM (${backend.wasmThreads} thread${backend.wasmThreads > 1 ? 's' : ''})`}
          </strong>
          . {backend.reason}
        </p>
      )}
      <details className="more">
        <summary>Load another pack</summary>
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (url.trim()) void addPackFromUrl(url);
          }}
        >
          <input
            type="url"
            placeholder="https://…/my-pack/manifest.json"
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            data-testid="pack.url"
            aria-label="Pack URL"
          />
          <button type="submit" data-testid="pack.url-load">
            Load URL
          </button>
        </form>
        <div className="row">
          <button type="button" onClick={() => folderInput.current?.click()}>
            Choose pack folder…
          </button>
          <button type="button" onClick={() => filesInput.current?.click()}>
            Choose pack files…
          </button>
        </div>
        <p className="hint">
          Or drop a pack folder on this panel. A pack is a manifest.json and the ONNX files it names
          (see docs/model-pack.md).
        </p>
        <input
          ref={folderInput}
          type="file"
          hidden
          data-testid="pack.folder"
          {...{ webkitdirectory: '', directory: '' }}
          onChange={(e) => {
            const files = [...(e.target.files ?? [])].map((f) => ({
              file: f,
              relativePath: f.webkitRelativePath || f.name,
            }));
            void addPackFromFiles(files);
            e.target.value = '';
          }}
        />
        <input
          ref={filesInput}
          type="file"
          multiple
          hidden
          data-testid="pack.files"
          onChange={(e) => {
            const files = [...(e.target.files ?? [])].map((f) => ({
              file: f,
              relativePath: f.name,
            }));
            void addPackFromFiles(files);
            e.target.value = '';
          }}
        />
      </details>
    </section>
  );
}
