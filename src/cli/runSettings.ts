/**
 * Numbers and run settings from command-line options, shared by `interpolate` and `sequence`:
 * each option checked against its range and the pack (variant, steps, LoRA scale, guidance,
 * scalars, prompt) before any work, with a one-line `UsageError`.
 */
import { resolveControls, type ClipControls } from '../core/clip';
import { FIT_CHOICES, type FitChoice } from '../core/image';
import { referenceVariant, variantSteps, type PackManifest } from '../core/manifest';
import { MAX_INBETWEENS, type RunSettings } from '../core/pipeline';
import { maxSteps, resolveSampler, SAMPLER_LABELS, type SamplerName } from '../core/samplers';
import { UsageError } from './args';

/** The options a run's settings are read from (those a command does not take stay undefined). */
export interface RunSettingValues {
  variant?: string;
  frames?: string;
  gt?: string;
  steps?: string;
  seed?: string;
  'lora-scale'?: string;
  guidance?: string;
  sampler?: string;
  prompt?: string;
  text?: string;
  scalar?: string[];
}

export function intArg(
  name: string,
  value: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const range = `from ${min} to ${max}`;
  if (!/^[+-]?\d+$/.test(value.trim()))
    throw new UsageError(`--${name} must be a whole number ${range}, got "${value}"`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`--${name} must be ${range}, got ${n}`);
  return n;
}

/** A `--fit` argument: one of FIT_CHOICES, `fallback` when not given; anything else is refused. */
export function fitArg(value: string | undefined, fallback: FitChoice): FitChoice {
  const fit = value ?? fallback;
  if (!(FIT_CHOICES as readonly string[]).includes(fit))
    throw new UsageError(`--fit must be ${FIT_CHOICES.join(', ')}, got "${fit}"`);
  return fit as FitChoice;
}

/** A decimal number argument ("0.15", "-1", "2e-1"); anything else, the empty string included, is refused. */
export function numberArg(name: string, value: string): number {
  const n = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n))
    throw new UsageError(`--${name} must be a number such as 0.15, got "${value}"`);
  return n;
}

/** The run's settings from the options, checked against the pack (variant, step and scale ranges). */
export function resolveRunSettings(values: RunSettingValues, manifest: PackManifest) {
  const variantId = values.variant ?? referenceVariant(manifest).id;
  const variantSpec = manifest.variants.find((v) => v.id === variantId);
  if (!variantSpec) {
    throw new UsageError(
      `pack "${manifest.id}" has no variant "${variantId}" (it has ${manifest.variants.map((v) => v.id).join(', ')})`,
    );
  }
  const count = intArg(
    'frames',
    values.frames,
    1,
    1,
    manifest.frames.mode === 'clip' ? manifest.frames.clipLength - 2 : MAX_INBETWEENS,
  );
  if (values.gt !== undefined && count % 2 === 0) {
    throw new UsageError(
      `--gt scores the in-between at τ = 0.5, and --frames ${count} has none (its frames sit at τ = k/${count + 1}); use an odd --frames`,
    );
  }
  const steps = intArg(
    'steps',
    values.steps,
    variantSteps(manifest, variantSpec),
    1,
    maxSteps(manifest.scheduler),
  );
  const seed = intArg('seed', values.seed, 42, 0, 0xffffffff);
  let loraScale: number | undefined;
  if (values['lora-scale'] !== undefined) {
    loraScale = numberArg('lora-scale', values['lora-scale']);
    const range = variantSpec.loraScale;
    if (!range) throw new UsageError(`variant "${variantId}" has no LoRA scale`);
    if (loraScale < range.min || loraScale > range.max)
      throw new UsageError(
        `--lora-scale must be from ${range.min} to ${range.max} for variant "${variantId}", got ${loraScale}`,
      );
  }
  const controls: ClipControls = {};
  if (values.guidance !== undefined)
    controls.guidanceScale = numberArg('guidance', values.guidance);
  if (values.prompt !== undefined && values.text !== undefined)
    throw new UsageError('give --prompt ID or --text "…", not both');
  if (values.prompt !== undefined) controls.promptId = values.prompt;
  if (values.text !== undefined) controls.promptText = values.text;
  for (const pair of values.scalar ?? []) {
    const m = /^([A-Za-z][A-Za-z0-9_]*)=(.+)$/.exec(pair);
    if (!m) throw new UsageError(`--scalar takes NAME=VALUE, got "${pair}"`);
    controls.scalars = { ...controls.scalars, [m[1]!]: numberArg('scalar', m[2]!) };
  }
  try {
    resolveControls(manifest, controls);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  let sampler: SamplerName | undefined;
  if (values.sampler !== undefined) {
    if (!(values.sampler in SAMPLER_LABELS))
      throw new UsageError(
        `--sampler must be one of ${Object.keys(SAMPLER_LABELS).join(', ')}, got "${values.sampler}"`,
      );
    try {
      sampler = resolveSampler(manifest.scheduler, values.sampler as SamplerName);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  }
  const settings: RunSettings = {
    count,
    steps,
    seed,
    ...(sampler !== undefined ? { sampler } : {}),
    ...(loraScale !== undefined ? { loraScale } : {}),
    ...controls,
  };
  return { variantId, settings };
}
