/**
 * `inbetween sequence`: a whole scene from a row of keys, the same frames and files as the page's
 * Sequence panel — numbered PNGs with exposure applied, and optionally a GIF, an APNG and a zip.
 */
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { RgbaImage } from '../core/image';
import { interpolate, MAX_INBETWEENS, prepareKeyframes, resolveFit } from '../core/pipeline';
import { encodeApng, encodeGif, encodeZip, numberedPngs } from '../core/sequence/export';
import {
  checkKeys,
  gapFrames,
  gapPositions,
  sceneDrawings,
  type GapSettings,
} from '../core/sequence/plan';
import { MAX_FPS, MIN_FPS, MAX_KEYS, safeBaseName, type PlayMode } from '../core/sequence/sequence';
import {
  checkExposure,
  parseTypedPositions,
  TIMING_PRESETS,
  type Exposure,
  type GapTiming,
  type TimingPreset,
} from '../core/sequence/timing';
import {
  loadVariantGraphs,
  prepareOutputDir,
  readPackManifest,
  readPng,
  releaseVariantGraphs,
} from '../node/nodeRuntime';
import { parseCommandArgs, UsageError } from './args';
import { fitArg, intArg, numberArg, resolveRunSettings } from './runSettings';

/** `--keys A B C --out D` → ['--keys', 'A', '--keys', 'B', …]: several values after one flag. */
export function expandKeys(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--keys') {
      let j = i + 1;
      while (j < argv.length && !argv[j]!.startsWith('--')) out.push('--keys', argv[j++]!);
      if (j === i + 1) out.push('--keys');
      i = j - 1;
    } else out.push(argv[i]!);
  }
  return out;
}

/** One value for every gap, or one per gap, comma-separated. */
function perGap(name: string, value: string | undefined, gaps: number, fallback: string): string[] {
  const items = (value ?? fallback).split(',').map((s) => s.trim());
  if (items.length === 1) return Array.from({ length: gaps }, () => items[0]!);
  if (items.length !== gaps) {
    throw new UsageError(
      `--${name} takes one value or one per gap (${gaps} gaps for ${gaps + 1} keys), got ${items.length}`,
    );
  }
  return items;
}

/** The gaps' settings from --frames, --timing and --exposure. */
export function parseGaps(
  gaps: number,
  values: { frames?: string; timing?: string; exposure?: string },
): GapSettings[] {
  const counts = perGap('frames', values.frames, gaps, '3').map((s) =>
    intArg('frames', s, 1, 1, MAX_INBETWEENS),
  );
  const timings = perGap('timing', values.timing, gaps, 'even');
  const exposures = perGap('exposure', values.exposure, gaps, '1').map((s) => {
    const e = intArg('exposure', s, 1, 1, 3);
    checkExposure(e);
    return e as Exposure;
  });
  return counts.map((count, g) => {
    const t = timings[g]!;
    let timing: GapTiming;
    if (t.startsWith('typed=')) {
      try {
        timing = {
          preset: 'typed',
          positions: parseTypedPositions(t.slice(6).replace(/:/g, ' '), count),
        };
      } catch (e) {
        throw new UsageError(`--timing, gap ${g + 1}: ${(e as Error).message}`);
      }
    } else if ((TIMING_PRESETS as readonly string[]).includes(t) && t !== 'typed') {
      timing = { preset: t as TimingPreset };
    } else {
      throw new UsageError(
        `--timing must be ${TIMING_PRESETS.filter((x) => x !== 'typed').join(', ')} or typed=0.2:0.5:0.9, got "${t}"`,
      );
    }
    return { count, timing, exposure: exposures[g]! };
  });
}

export async function sequenceCommand(argv: string[]): Promise<void> {
  const { values } = parseCommandArgs({
    args: expandKeys(argv),
    options: {
      pack: { type: 'string' },
      keys: { type: 'string', multiple: true },
      out: { type: 'string' },
      frames: { type: 'string' },
      timing: { type: 'string' },
      exposure: { type: 'string' },
      fps: { type: 'string' },
      pingpong: { type: 'boolean' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      variant: { type: 'string' },
      'lora-scale': { type: 'string' },
      fit: { type: 'string' },
      name: { type: 'string' },
      gif: { type: 'boolean' },
      apng: { type: 'boolean' },
      zip: { type: 'boolean' },
      threads: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  for (const req of ['pack', 'out'] as const) {
    if (!values[req]) throw new UsageError(`--${req} is required`);
  }
  const keyFiles = values.keys ?? [];
  if (keyFiles.length < 2 || keyFiles.length > MAX_KEYS || keyFiles.some((k) => !k)) {
    throw new UsageError(
      `--keys takes 2 to ${MAX_KEYS} PNG files, got ${keyFiles.filter(Boolean).length}`,
    );
  }
  const fit = fitArg(values.fit, 'auto');
  const gaps = parseGaps(keyFiles.length - 1, values);
  const fps = numberArg('fps', values.fps ?? '12');
  if (fps < MIN_FPS || fps > MAX_FPS)
    throw new UsageError(
      `--fps must be a number from ${MIN_FPS} to ${MAX_FPS}, got "${values.fps}"`,
    );
  const mode: PlayMode = values.pingpong ? 'pingpong' : 'loop';
  const name = safeBaseName(values.name ?? 'scene');
  const threads = values.threads ? intArg('threads', values.threads, 0, 1, 64) : undefined;

  const manifest = await readPackManifest(values.pack!);
  if (manifest.frames.mode === 'clip') {
    for (const [g, gap] of gaps.entries()) {
      if (gap.count > manifest.frames.clipLength - 2)
        throw new UsageError(
          `--frames: gap ${g + 1} asks for ${gap.count} in-betweens; this pack's ${manifest.frames.clipLength}-frame clip has ${manifest.frames.clipLength - 2}`,
        );
    }
  }
  // Variant, steps, seed and LoRA scale as `interpolate` reads them (--frames is per gap here).
  const { variantId, settings } = resolveRunSettings({ ...values, frames: undefined }, manifest);
  const { steps, seed } = settings;
  const keys: RgbaImage[] = [];
  for (const f of keyFiles) keys.push(await readPng(f));
  checkKeys(keys, keyFiles);
  const positions = gapPositions(gaps);
  // An earlier scene of this name in the folder goes first: its frames past this one's would stay.
  await prepareOutputDir(
    values.out!,
    new RegExp(`^(${name}_\\d{4,}\\.png|${name}\\.(gif|apng|zip)|sequence\\.json)$`),
  );

  const { variant, graphs } = await loadVariantGraphs(values.pack!, manifest, variantId, threads);
  const inbetweens: RgbaImage[][] = [];
  let used: { loraScale: number | null; sampler: string } | null = null;
  const gapRecords = [];
  const t0 = performance.now();
  try {
    for (let g = 0; g < gaps.length; g++) {
      const gap = gaps[g]!;
      const prepared = prepareKeyframes(manifest, keys[g]!, keys[g + 1]!, fit);
      const result = await interpolate({
        manifest,
        variant,
        graphs,
        keyframes: prepared,
        settings: {
          ...settings,
          count: gap.count,
          positions: positions[g]!,
          seed: gap.seed ?? seed,
        },
      });
      used = { loraScale: result.loraScale, sampler: result.sampler };
      inbetweens.push(gapFrames(result, prepared, keys[g]!, keys[g + 1]!));
      gapRecords.push({
        keys: [basename(keyFiles[g]!), basename(keyFiles[g + 1]!)],
        count: gap.count,
        timing: gap.timing.preset,
        positions: result.positions,
        exposure: gap.exposure,
        seed: gap.seed ?? seed,
        ...(result.clip
          ? { clipFrames: result.clip.pickedText, controls: result.clip.controls }
          : {}),
        ms: result.timings.totalMs,
      });
      console.log(
        `gap ${g + 1}/${gaps.length}: ${gap.count} in-between${gap.count > 1 ? 's' : ''} (${gap.timing.preset}, on ${['ones', 'twos', 'threes'][gap.exposure - 1]}) in ${result.timings.totalMs.toFixed(0)} ms`,
      );
    }
  } finally {
    await releaseVariantGraphs(graphs);
  }
  const drawings = sceneDrawings(keys, gaps, inbetweens);
  const opts = { fps, mode, name };
  // The numbered PNGs, as the page's zip holds them.
  const frames = await numberedPngs(drawings, opts);
  for (const { file, png } of frames) await writeFile(join(values.out!, file), png);
  const written = [`${frames.length} numbered PNGs`];
  if (values.gif) {
    await writeFile(join(values.out!, `${name}.gif`), await encodeGif(drawings, opts));
    written.push(`${name}.gif`);
  }
  if (values.apng) {
    await writeFile(join(values.out!, `${name}.apng`), await encodeApng(drawings, opts));
    written.push(`${name}.apng`);
  }
  if (values.zip) {
    await writeFile(join(values.out!, `${name}.zip`), await encodeZip(drawings, opts));
    written.push(`${name}.zip`);
  }
  const record = {
    tool: 'inbetween sequence',
    packId: manifest.id,
    packVersion: manifest.version,
    variant: variant.id,
    steps,
    seed,
    // As the runs resolved them (a LoRA variant's default scale when none was given).
    loraScale: used?.loraScale ?? null,
    sampler: used?.sampler ?? null,
    fit: resolveFit(manifest, keys[0]!.width, keys[0]!.height, fit),
    fitChoice: fit,
    fps,
    mode,
    keySize: [keys[0]!.width, keys[0]!.height],
    gaps: gapRecords,
    frames: frames.length,
    totalMs: performance.now() - t0,
  };
  await writeFile(join(values.out!, 'sequence.json'), JSON.stringify(record, null, 2) + '\n');
  console.log(`wrote ${written.join(', ')} and sequence.json to ${values.out}`);
}
