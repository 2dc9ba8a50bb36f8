/**
 * `inbetween score` with the real LPIPS graphs on onnxruntime-node, against the reference values
 * of ../shared/data/metrics-reference.json (scikit-image 0.19.3 and the official lpips code):
 * PSNR to 1e-3 dB, SSIM and luma SSIM to 1e-4, LPIPS to 1e-4, read from the --json output.
 * models/lpips is reused when it is what export_lpips.py would build now (as src/core/lpips.test.ts
 * decides); otherwise the graphs are built into a temporary folder. Missing ../shared data fails the
 * suite (it does not skip).
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PNG } from 'pngjs';
import { captureConsole } from '../testing/console';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_CONVENTIONS, METRIC_NAMES } from '../core/metrics';
import { main } from '../cli/main';
import { DEFAULT_LPIPS_DIR, type Scores } from './score';
import {
  LPIPS_DATA,
  prepareLpipsGraphs,
  readReferencePairs,
  SHARED,
  type ReferencePair,
} from '../testing/lpipsFixture';

const BACKBONES = ['alex', 'squeeze'] as const;

const REPO = resolve(import.meta.dirname, '..', '..');
const BUILT = join(REPO, 'models', 'lpips');
let lpipsDir = '';
let tmp: string | undefined;
let reference: ReferencePair[] = [];
let setupError: Error | undefined;

let cleanup: () => void = () => undefined;

beforeAll(() => {
  try {
    reference = readReferencePairs();
    const graphs = prepareLpipsGraphs();
    lpipsDir = graphs.dir;
    cleanup = graphs.cleanup;
    tmp = mkdtempSync(join(tmpdir(), 'inbetween-score-'));
  } catch (e) {
    setupError = e as Error;
  }
}, 300_000);

afterAll(() => {
  cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Throws the setup error, so missing data fails each test that needs it. */
function ready(): void {
  if (setupError) throw setupError;
}

const { out, errors } = captureConsole();

/** Runs `inbetween score … --json` in-process and parses what it printed. */
async function scoreJson(...args: string[]): Promise<{ code: number; scores: Scores }> {
  const code = await main(['score', ...args, '--json']);
  expect(out, 'one JSON document on stdout').toHaveLength(1);
  return { code, scores: JSON.parse(out[0]!) as Scores };
}

const shared = (p: string) => join(SHARED, p);

/** A PNG of the top-left w×h of ex_ref.png (64×64), written to the temporary folder. */
function cropPng(w: number, h: number): string {
  const src = PNG.sync.read(readFileSync(join(LPIPS_DATA, 'ex_ref.png')));
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) src.data.copy(png.data, y * w * 4, y * 64 * 4, (y * 64 + w) * 4);
  const path = join(tmp!, `crop_${w}x${h}.png`);
  writeFileSync(path, PNG.sync.write(png));
  return path;
}

describe('inbetween score', () => {
  it('resolves the default LPIPS folder from the repository, not the working directory', () => {
    expect(DEFAULT_LPIPS_DIR).toBe(BUILT);
  });

  it('matches the reference values on every pair (PSNR 1e-3 dB, SSIM 1e-4, LPIPS 1e-4)', async () => {
    ready();
    expect(reference.length).toBeGreaterThan(0);
    const manifest = JSON.parse(readFileSync(join(lpipsDir, 'manifest.json'), 'utf8')) as {
      graphs: Record<string, { file: string; sha256: string }>;
    };
    for (const pair of reference) {
      out.length = 0;
      const { code, scores } = await scoreJson(shared(pair.a), shared(pair.b), '--lpips', lpipsDir);
      const what = `${pair.a} vs ${pair.b}`;
      expect(code, what).toBe(0);
      expect(errors).toEqual([]);
      const [h, w] = pair.size;
      expect(scores.images).toEqual([
        { file: shared(pair.a), width: w, height: h },
        { file: shared(pair.b), width: w, height: h },
      ]);
      const m = scores.metrics;
      expect(Object.keys(m)).toEqual([...METRIC_NAMES]);
      expect(m.psnr.infinite).toBe(false);
      expect(Math.abs(m.psnr.value! - pair.psnr_rgb_uint8), what).toBeLessThan(1e-3);
      expect(Math.abs(m.ssim.value! - pair.ssim_rgb_gauss), what).toBeLessThan(1e-4);
      expect(Math.abs(m.ssimLuma.value! - pair.ssim_y_gauss), what).toBeLessThan(1e-4);
      expect(Math.abs(m.lpipsAlex.value! - pair['lpips_alex_v0.1']), what).toBeLessThan(1e-4);
      expect(Math.abs(m.lpipsSqueeze.value! - pair['lpips_squeeze_v0.1']), what).toBeLessThan(1e-4);
      for (const key of METRIC_NAMES) {
        expect(m[key].convention).toBe(METRIC_CONVENTIONS[key]);
        expect(m[key]).not.toHaveProperty('unavailable');
      }
      expect(m.lpipsAlex.graph).toBe(manifest.graphs.alex!.file);
      expect(m.lpipsSqueeze.graph).toBe(manifest.graphs.squeeze!.file);
      expect(scores.lpipsGraphs).toEqual({
        dir: resolve(lpipsDir),
        files: BACKBONES.map((backbone) => ({
          backbone,
          file: manifest.graphs[backbone]!.file,
          sha256: manifest.graphs[backbone]!.sha256,
        })),
      });
    }
  });

  it('prints one line per metric with its convention label', async () => {
    ready();
    const pair = reference[0]!;
    expect(await main(['score', shared(pair.a), shared(pair.b), '--lpips', lpipsDir])).toBe(0);
    expect(errors).toEqual([]);
    expect(out).toHaveLength(6);
    expect(out[0]).toBe(`${shared(pair.a)} vs ${shared(pair.b)} (512×320)`);
    const labels = Object.values(METRIC_CONVENTIONS);
    for (let i = 0; i < labels.length; i++) expect(out[i + 1]!.startsWith(labels[i]!)).toBe(true);
    expect(out[1]).toMatch(/ 16\.7430 dB$/);
    expect(out[4]).toMatch(/ 0\.1659\d\d$/);
  });

  it('gives identical images an infinite PSNR (null + infinite: true), SSIM 1 and LPIPS 0', async () => {
    ready();
    const a = join(LPIPS_DATA, 'ex_ref.png');
    const { code, scores } = await scoreJson(a, a, '--lpips', lpipsDir);
    expect(code).toBe(0);
    expect(scores.metrics.psnr).toEqual({
      value: null,
      unit: 'dB',
      infinite: true,
      convention: METRIC_CONVENTIONS.psnr,
    });
    expect(scores.metrics.ssim.value).toBe(1);
    expect(scores.metrics.ssimLuma.value).toBe(1);
    expect(scores.metrics.lpipsAlex.value).toBeCloseTo(0, 7);
    expect(scores.metrics.lpipsSqueeze.value).toBeCloseTo(0, 7);
    out.length = 0;
    expect(await main(['score', a, a, '--lpips', lpipsDir])).toBe(0);
    expect(out[1]).toMatch(/ inf dB/);
  });

  it('refuses images of different sizes with one line and a non-zero exit (real process)', () => {
    const proc = spawnSync(
      process.execPath,
      [
        join(REPO, 'bin', 'inbetween.mjs'),
        'score',
        join(LPIPS_DATA, 'ex_ref.png'),
        shared('data/keyframes/tooncrafter/sketch_10/start.png'),
      ],
      { cwd: tmpdir(), encoding: 'utf8', timeout: 60_000 },
    );
    expect(proc.status).toBe(1);
    expect(proc.stdout).toBe('');
    expect(proc.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(proc.stderr).toMatch(
      /^inbetween: .*ex_ref\.png is 64×64 but .*start\.png is 512×320: metrics need two images of the same size \(images are never resized\)\n$/,
    );
  });

  it('still prints the other metrics when the LPIPS graphs are missing, and says how to build them', async () => {
    const missing = join(tmp ?? tmpdir(), 'no-lpips-here');
    expect(existsSync(missing)).toBe(false);
    const a = join(LPIPS_DATA, 'ex_ref.png');
    const b = join(LPIPS_DATA, 'ex_p0.png');
    expect(await main(['score', a, b, '--lpips', missing])).toBe(0);
    expect(errors).toEqual([]);
    expect(out).toHaveLength(7);
    expect(out[1]).toMatch(/^PSNR .* 18\.0455 dB$/);
    expect(out[2]).toMatch(/ 0\.4367\d\d$/);
    expect(out[3]).toMatch(/ 0\.4376\d\d$/);
    expect(out[4]).toMatch(/^LPIPS v0\.1 \(AlexNet.* unavailable$/);
    expect(out[5]).toMatch(/^LPIPS v0\.1 \(SqueezeNet.* unavailable$/);
    const sentence = `LPIPS unavailable: no LPIPS graphs in ${missing} — build them with \`/usr/bin/python3 models/training/export_lpips.py --out ${missing}\` from the repository root (see docs/metrics.md).`;
    expect(out[6]).toBe(sentence);

    out.length = 0;
    const { code, scores } = await scoreJson(a, b, '--lpips', missing);
    expect(code).toBe(0);
    expect(Math.abs(scores.metrics.psnr.value! - 18.045541384500503)).toBeLessThan(1e-3);
    expect(scores.metrics.lpipsAlex).toEqual({
      value: null,
      convention: METRIC_CONVENTIONS.lpipsAlex,
      unavailable: sentence,
    });
    expect(scores.metrics.lpipsSqueeze.value).toBeNull();
    expect(scores.lpipsGraphs).toEqual({ dir: missing, unavailable: sentence });

    // --require-lpips: the same report, then exit 1 with one line.
    out.length = 0;
    expect(await main(['score', a, b, '--lpips', missing, '--require-lpips'])).toBe(1);
    expect(out).toHaveLength(7);
    expect(errors).toEqual([`inbetween: --require-lpips: ${sentence}`]);
  });

  it('reports LPIPS (and SSIM) unavailable for images under the minimum side, per metric', async () => {
    ready();
    const small = cropPng(20, 24); // under AlexNet's 31, over SqueezeNet's 17
    const { code, scores } = await scoreJson(small, small, '--lpips', lpipsDir);
    expect(code).toBe(0);
    expect(scores.metrics.ssim.value).toBe(1);
    expect(scores.metrics.lpipsAlex.value).toBeNull();
    expect(scores.metrics.lpipsAlex.unavailable).toBe(
      'LPIPS with AlexNet needs images at least 31×31 pixels, these are 20×24.',
    );
    expect(scores.metrics.lpipsSqueeze.value).toBeCloseTo(0, 7);

    out.length = 0;
    const tiny = cropPng(10, 12);
    expect(await main(['score', tiny, tiny, '--lpips', lpipsDir])).toBe(0);
    expect(out).toHaveLength(6);
    expect(out[1]).toMatch(/ inf dB/);
    expect(out[2]).toMatch(/unavailable: SSIM needs images at least 11×11 pixels/);
    expect(out[4]).toMatch(/unavailable: LPIPS with AlexNet needs images at least 31×31/);
    expect(out[5]).toMatch(/unavailable: LPIPS with SqueezeNet needs images at least 17×17/);
    expect(await main(['score', tiny, tiny, '--lpips', lpipsDir, '--require-lpips'])).toBe(1);
    expect(errors).toEqual([
      'inbetween: --require-lpips: LPIPS with AlexNet needs images at least 31×31 pixels, these are 10×12.',
    ]);
  });

  it('refuses a corrupt graph or an invalid LPIPS manifest with one line', async () => {
    ready();
    const a = join(LPIPS_DATA, 'ex_ref.png');
    const bad = mkdtempSync(join(tmp!, 'bad-lpips-'));
    const manifest = JSON.parse(readFileSync(join(lpipsDir, 'manifest.json'), 'utf8'));
    writeFileSync(join(bad, 'manifest.json'), JSON.stringify(manifest));
    copyFileSync(join(lpipsDir, manifest.graphs.alex.file), join(bad, manifest.graphs.alex.file));
    const squeeze = readFileSync(join(lpipsDir, manifest.graphs.squeeze.file));
    squeeze[squeeze.length - 10] = squeeze[squeeze.length - 10]! ^ 0xff;
    writeFileSync(join(bad, manifest.graphs.squeeze.file), squeeze);
    expect(await main(['score', a, a, '--lpips', bad])).toBe(1);
    expect(out).toEqual([]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^inbetween: lpips_squeeze_v0\.1\.onnx does not match its sha256 in the manifest .* \(in .*bad-lpips-/,
    );

    errors.length = 0;
    writeFileSync(join(bad, 'manifest.json'), JSON.stringify({ ...manifest, version: '0.2' }));
    expect(await main(['score', a, a, '--lpips', bad])).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^inbetween: invalid LPIPS manifest: version: .* \(in .*bad-lpips-/);
  });

  it.each([
    [['score', 'a.png'], /^inbetween: score needs two PNG files .*got 1$/],
    [['score', 'a.png', 'b.png', '--bogus'], /Unknown option '--bogus'/],
    [['score', '/nonexistent.png', '/nonexistent.png'], /cannot read \/nonexistent\.png/],
  ])('refuses %j with a one-line reason', async (argv, pattern) => {
    const code = await main(argv);
    expect(code).not.toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(pattern);
    expect(errors[0]).not.toContain('\n');
  });
});
