/**
 * Run settings (in-betweens, steps, seed, LoRA scale, backend; for format-2 packs guidance scale,
 * scalar inputs and prompt), Run / Cancel, and the progress bar with its step count.
 */
import { describePick, pickClipFrames } from '../../core/clip';
import { DEFAULT_MAX_PROMPT_CHARS, latentFrames, type PackManifest } from '../../core/manifest';
import { MAX_INBETWEENS } from '../../core/pipeline';
import {
  maxSteps as schedulerMaxSteps,
  resolveSampler,
  SAMPLER_LABELS,
  samplersFor,
  type SamplerName,
} from '../../core/samplers';
import { patch, selectCanRun, selectIsBusy, selectVariant, useStudio } from '../state/store';
import type { RunView } from './runSlice';
import { NumberField } from '../common/NumberField';
import { cancelCurrentRun, forceStop, requestLiveRerun, startRun } from './runActions';

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** "Done: 3 in-betweens in 4.10 s (model 2.35 s, images 0.40 s, loading 1.20 s)." — every part named. */
function doneText(result: RunView): string {
  const n = result.frames.length;
  const what = `${n} in-between${n > 1 ? 's' : ''}`;
  const model = result.timings.totalMs;
  if (!result.wall) return `Done: ${what}; the model took ${seconds(model)}.`;
  const { totalMs, loadMs, imageMs } = result.wall;
  const parts = [
    `model ${seconds(model)}`,
    `images ${seconds(imageMs)}`,
    ...(loadMs > 0 ? [`loading ${seconds(loadMs)}`] : []),
  ];
  return `Done: ${what} in ${seconds(totalMs)} (${parts.join(', ')}).`;
}

/** Where the in-betweens will sit: τ = i/(N+1), or for a clip pack the clip frames nearest to that. */
function positionsHint(manifest: PackManifest | null, count: number): string {
  if (manifest?.frames.mode === 'clip') {
    const T = manifest.frames.clipLength;
    const k = manifest.latent.temporalDownsample ?? 1;
    const latent =
      k > 1
        ? ` The model works on ${latentFrames(manifest)} latent frames: its VAE compresses time ${k}×.`
        : '';
    try {
      return `Shows ${describePick(pickClipFrames(T, count), T)}.${latent}`;
    } catch (e) {
      return (e as Error).message;
    }
  }
  return `τ = ${Array.from({ length: count }, (_, i) => ((i + 1) / (count + 1)).toFixed(2)).join(', ')}`;
}

/**
 * The sampler: a choice among the pack's family where it has several (EDM: Euler, Euler ancestral,
 * DPM-Solver++(2M); flow: Euler, UniPC, DPM-Solver++(2M)), else the family’s name, so a researcher always sees what runs.
 */
function SamplerControl({ manifest }: { manifest: PackManifest }) {
  const chosen = useStudio((s) => s.settings.sampler);
  const family = samplersFor(manifest.scheduler);
  const current = resolveSampler(
    manifest.scheduler,
    chosen !== null && family.includes(chosen) ? chosen : undefined,
  );
  if (family.length < 2) {
    return (
      <div className="field">
        <span>Sampler</span>
        <output data-testid="run.sampler.fixed">{SAMPLER_LABELS[current]}</output>
      </div>
    );
  }
  const packs = resolveSampler(manifest.scheduler);
  return (
    <label className="field">
      <span>Sampler</span>
      <select
        value={current}
        data-testid="run.sampler"
        onChange={(e) => {
          const v = e.target.value as SamplerName;
          patch('settings', { sampler: v === packs ? null : v });
        }}
      >
        {family.map((s) => (
          <option key={s} value={s}>
            {SAMPLER_LABELS[s]}
            {s === packs ? ' (the pack’s)' : ''}
          </option>
        ))}
      </select>
    </label>
  );
}

/** Guidance scale, scalar inputs and prompt of a format-2 pack (nothing for packs without them). */
function ConditioningControls({ manifest }: { manifest: PackManifest }) {
  const settings = useStudio((s) => s.settings);
  const g = manifest.guidance?.scale;
  const scalars = Object.entries(manifest.scalars ?? {});
  const prompts = manifest.prompts ?? [];
  const text = manifest.text;
  if (!g && scalars.length === 0 && prompts.length === 0 && !text) return null;
  return (
    <div className="grid2" data-testid="run.conditioning">
      {g && settings.guidanceScale !== null && (
        <div className="field">
          <span id="guidance-label">
            Guidance scale{' '}
            <output data-testid="run.guidance.value">{settings.guidanceScale.toFixed(1)}</output>
          </span>
          <input
            type="range"
            min={g.min}
            max={g.max}
            step={0.1}
            value={settings.guidanceScale}
            data-testid="run.guidance"
            aria-labelledby="guidance-label"
            title="Classifier-free guidance: 1 runs the conditional pass alone"
            onChange={(e) => {
              patch('settings', { guidanceScale: Number(e.target.value) });
              if (settings.liveLora) requestLiveRerun();
            }}
          />
        </div>
      )}
      {scalars.map(([name, spec]) => (
        <label className="field" key={name}>
          <span title={spec.description}>{spec.label}</span>
          <NumberField
            min={spec.min}
            max={spec.max}
            integer={Boolean(spec.integer)}
            value={settings.scalars[name] ?? spec.default}
            data-testid={`run.scalar.${name}`}
            onCommit={(v) => patch('settings', { scalars: { ...settings.scalars, [name]: v } })}
          />
        </label>
      ))}
      {prompts.length > 0 && (
        <label className="field">
          <span>{text ? 'Prompt (or type one below)' : 'Prompt'}</span>
          <select
            value={settings.promptId ?? prompts[0]!.id}
            data-testid="run.prompt"
            disabled={settings.promptText !== ''}
            title={settings.promptText !== '' ? 'The typed prompt is used' : undefined}
            onChange={(e) => patch('settings', { promptId: e.target.value })}
          >
            {prompts.map((p) => (
              <option key={p.id} value={p.id}>
                {p.label}
              </option>
            ))}
          </select>
        </label>
      )}
      {text && (
        <label className="field">
          <span>Typed prompt</span>
          <input
            type="text"
            value={settings.promptText}
            maxLength={text.maxChars ?? DEFAULT_MAX_PROMPT_CHARS}
            placeholder={prompts.length > 0 ? 'empty: the prompt chosen above' : 'no prompt'}
            data-testid="run.prompt-text"
            title="Encoded in the browser by the pack's own text encoder; it never leaves this page"
            onChange={(e) => patch('settings', { promptText: e.target.value })}
          />
        </label>
      )}
    </div>
  );
}

/** The run panel. */
export function RunPanel() {
  const settings = useStudio((s) => s.settings);
  const variant = useStudio(selectVariant);
  const manifest = useStudio((s) => s.packs.manifest);
  const run = useStudio((s) => s.run);
  const loadLabel = useStudio((s) => (s.packs.load.active ? s.packs.load.label : ''));
  const busy = useStudio(selectIsBusy);
  const canRun = useStudio(selectCanRun);
  const lora = variant?.loraScale;
  const maxCount =
    manifest?.frames.mode === 'clip' ? manifest.frames.clipLength - 2 : MAX_INBETWEENS;
  const live = Boolean(lora || manifest?.guidance);
  const maxSteps = manifest ? schedulerMaxSteps(manifest.scheduler) : 1000;
  const fraction = run.totalSteps ? run.step / run.totalSteps : 0;

  return (
    <section className="panel" aria-labelledby="run-title">
      <h2 id="run-title">Run</h2>
      <div className="grid2">
        <label className="field">
          <span>In-betweens</span>
          <NumberField
            min={1}
            max={maxCount}
            integer
            value={settings.count}
            data-testid="run.count"
            onCommit={(count) => patch('settings', { count })}
          />
        </label>
        <label className="field">
          <span>Steps</span>
          <NumberField
            min={1}
            max={Math.min(maxSteps, 200)}
            integer
            value={settings.steps}
            data-testid="run.steps"
            onCommit={(steps) => patch('settings', { steps })}
          />
        </label>
        <label className="field">
          <span>Seed</span>
          <span className="row tight">
            <NumberField
              min={0}
              max={4294967295}
              integer
              value={settings.seed}
              data-testid="run.seed"
              onCommit={(seed) => patch('settings', { seed })}
            />
            <button
              type="button"
              title="New random seed"
              aria-label="New random seed"
              onClick={() => patch('settings', { seed: Math.floor(Math.random() * 2 ** 31) })}
            >
              Random
            </button>
          </span>
        </label>
        {manifest && <SamplerControl manifest={manifest} />}
        <label className="field">
          <span>Backend</span>
          <select
            value={settings.backend}
            data-testid="run.backend"
            onChange={(e) =>
              patch('settings', { backend: e.target.value as typeof settings.backend })
            }
          >
            <option value="auto">Automatic</option>
            <option value="webgpu">WebGPU</option>
            <option value="wasm">WASM (CPU)</option>
          </select>
        </label>
      </div>
      {lora && settings.loraScale !== null && (
        <div className="field">
          <span id="lora-label">
            LoRA scale <output data-testid="run.lora.value">{settings.loraScale.toFixed(2)}</output>
          </span>
          <input
            type="range"
            min={lora.min}
            max={lora.max}
            step={(lora.max - lora.min) / 100}
            value={settings.loraScale}
            data-testid="run.lora"
            aria-labelledby="lora-label"
            onChange={(e) => {
              patch('settings', { loraScale: Number(e.target.value) });
              if (settings.liveLora) requestLiveRerun();
            }}
          />
        </div>
      )}
      {manifest && <ConditioningControls manifest={manifest} />}
      {live && (
        <label className="row tight hint">
          <input
            type="checkbox"
            checked={settings.liveLora}
            data-testid="run.lora.live"
            onChange={(e) => patch('settings', { liveLora: e.target.checked })}
          />
          re-run as a scale slider moves (same seed, model stays loaded)
        </label>
      )}
      <p className="hint" data-testid="run.positions">
        {positionsHint(manifest, settings.count)}
      </p>
      {run.result?.clip && (
        <p className="hint" data-testid="run.clip-picked">
          Last run: {run.result.clip.pickedText}
          {run.result.clip.controls.guidanceScale !== null &&
            `, guidance ${run.result.clip.controls.guidanceScale}`}
          {run.result.clip.controls.promptText !== null &&
            `, prompt “${run.result.clip.controls.promptText}”`}
          .
        </p>
      )}
      <div className="row">
        <button
          type="button"
          className="primary"
          data-testid="run.start"
          disabled={!canRun}
          onClick={() => void startRun()}
        >
          Run
        </button>
        <button
          type="button"
          data-testid="run.cancel"
          disabled={!busy || run.status === 'cancelling'}
          onClick={cancelCurrentRun}
        >
          Cancel
        </button>
        {run.stuck && (
          <button type="button" className="danger" data-testid="run.force-stop" onClick={forceStop}>
            Force stop
          </button>
        )}
      </div>
      <div className="progress" aria-live="polite">
        <progress
          data-testid="run.progress"
          value={busy && run.status !== 'loading' ? fraction : undefined}
          max={1}
          hidden={!busy}
        />
        <span data-testid="run.status">
          {run.status === 'loading' && `Loading the model…${loadLabel ? ` ${loadLabel}` : ''}`}
          {run.status === 'running' &&
            (run.stage === 'denoise'
              ? `Step ${run.step} / ${run.totalSteps}`
              : run.stage === 'encode'
                ? 'Encoding keyframes…'
                : `Decoding (${run.stage.replace('decode ', '')})…`)}
          {run.status === 'cancelling' &&
            (run.stage === 'cancelling-load' ? 'Stopping the load…' : 'Stopping after this step…')}
          {run.status === 'cancelled' && 'Cancelled.'}
          {run.status === 'done' && run.result && doneText(run.result)}
          {run.status === 'error' && 'The run failed — see the message above.'}
        </span>
      </div>
    </section>
  );
}
