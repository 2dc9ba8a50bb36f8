/**
 * LPIPS through the graphs that models/training/export_lpips.py builds from ../shared/data/lpips,
 * run with onnxruntime-node behind `GraphRunner`, against the official lpips code's values in
 * ../shared/data/metrics-reference.json (1e-4). models/lpips is reused when its manifest says it
 * was built by this exporter from these weights and its files hash as listed; otherwise the graphs
 * are built into a temporary folder. Missing ../shared/data/lpips fails the suite.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkGraphNames, wrapSession, type GraphRunner } from './graph';
import type { RgbaImage } from './image';
import {
  LPIPS_MIN_SIDE,
  computeLpips,
  imageToLpipsTensor,
  parseLpipsManifest,
  type LpipsBackbone,
  type LpipsManifest,
} from './lpips';
import {
  LPIPS_DATA,
  prepareLpipsGraphs,
  readReferencePairs,
  SHARED,
  type ReferencePair,
} from '../testing/lpipsFixture';

const BACKBONES: LpipsBackbone[] = ['alex', 'squeeze'];

const sha256File = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex');

function readPng(path: string): RgbaImage {
  const png = PNG.sync.read(readFileSync(path));
  return { width: png.width, height: png.height, data: new Uint8ClampedArray(png.data) };
}

let dir = '';
let cleanup: () => void = () => undefined;
let manifest: LpipsManifest;
let reference: ReferencePair[] = [];
const runners = new Map<LpipsBackbone, GraphRunner>();
/** Why the graphs could not be set up: every test that needs them fails with it (never skips). */
let setupError: Error | undefined;

async function setUp(): Promise<void> {
  reference = readReferencePairs();
  const graphs = prepareLpipsGraphs();
  dir = graphs.dir;
  cleanup = graphs.cleanup;
  manifest = parseLpipsManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  for (const b of BACKBONES) {
    const session = await ort.InferenceSession.create(join(dir, manifest.graphs[b]!.file), {
      executionProviders: ['cpu'],
      intraOpNumThreads: 2,
    });
    runners.set(b, wrapSession(session, ort));
  }
}

beforeAll(async () => {
  try {
    await setUp();
  } catch (e) {
    setupError = e as Error;
  }
}, 300_000);

/** Throws the setup error, so a missing ../shared/data/lpips fails each test that needs it. */
function ready(): void {
  if (setupError) throw setupError;
}

afterAll(async () => {
  for (const r of runners.values()) await r.release();
  cleanup();
});

const runner = (b: LpipsBackbone): GraphRunner => {
  ready();
  const r = runners.get(b);
  if (!r) throw new Error(`no ${b} LPIPS graph loaded (see the beforeAll error)`);
  return r;
};

describe('LPIPS graphs from export_lpips.py', () => {
  it('have a manifest that matches the graphs', () => {
    ready();
    expect(manifest.default).toBe('alex');
    for (const b of BACKBONES) {
      const g = manifest.graphs[b]!;
      expect(g.minSide).toBe(LPIPS_MIN_SIDE[b]);
      expect(sha256File(join(dir, g.file))).toBe(g.sha256);
      expect(() => checkGraphNames(`LPIPS ${b}`, runner(b), g.inputs, g.outputs)).not.toThrow();
    }
  });

  for (const backbone of BACKBONES) {
    it(`match the official lpips values (${backbone}) on every reference pair to 1e-4`, async () => {
      ready();
      expect(reference.length).toBeGreaterThan(0);
      for (const pair of reference) {
        const a = readPng(join(SHARED, pair.a));
        const b = readPng(join(SHARED, pair.b));
        const r = await computeLpips(runner(backbone), a, b, {
          minSide: LPIPS_MIN_SIDE[backbone],
        });
        const want = pair[`lpips_${backbone}_v0.1`];
        expect(Math.abs(r.distance - want), `${pair.a} vs ${pair.b}`).toBeLessThan(1e-4);
        expect(Math.abs(r.distance - want)).toBeLessThan(1e-6); // float32 round-off in practice
        expect([r.width, r.height]).toEqual([a.width, a.height]);
        expect(r.map.length).toBe(a.width * a.height);
        let sum = 0;
        for (const v of r.map) sum += v;
        expect(Math.abs(sum / r.map.length - r.distance)).toBeLessThan(0.05 * r.distance);
      }
    });
  }

  it('gives 0 for identical images and is symmetric', async () => {
    const a = readPng(join(LPIPS_DATA, 'ex_ref.png'));
    const b = readPng(join(LPIPS_DATA, 'ex_p1.png'));
    const same = await computeLpips(runner('alex'), a, {
      ...a,
      data: new Uint8ClampedArray(a.data),
    });
    expect(same.distance).toBeLessThan(1e-7);
    expect(Math.max(...same.map)).toBeLessThan(1e-7);
    const ab = await computeLpips(runner('alex'), a, b);
    const ba = await computeLpips(runner('alex'), b, a);
    expect(Math.abs(ab.distance - ba.distance)).toBeLessThan(1e-6);
  });

  it('refuses images of different sizes or below the backbone minimum', async () => {
    const big = readPng(join(LPIPS_DATA, 'ex_ref.png')); // 64×64
    const crop = (img: RgbaImage, w: number, h: number): RgbaImage => {
      const data = new Uint8ClampedArray(w * h * 4);
      for (let y = 0; y < h; y++) {
        data.set(img.data.subarray(y * img.width * 4, (y * img.width + w) * 4), y * w * 4);
      }
      return { width: w, height: h, data };
    };
    await expect(computeLpips(runner('alex'), big, crop(big, 64, 63))).rejects.toThrow(
      /same size.*64×64 and 64×63/,
    );
    const small = crop(big, 30, 40);
    await expect(computeLpips(runner('alex'), small, small)).rejects.toThrow(
      /at least 31×31 pixels.*30×40/,
    );
    // SqueezeNet measures down to 17 pixels when told its minimum.
    const tiny = crop(big, 17, 17);
    const r = await computeLpips(
      runner('squeeze'),
      tiny,
      crop(readPng(join(LPIPS_DATA, 'ex_p0.png')), 17, 17),
      {
        minSide: LPIPS_MIN_SIDE.squeeze,
      },
    );
    expect(r.distance).toBeGreaterThan(0);
    expect(r.map.length).toBe(17 * 17);
    await expect(
      computeLpips(runner('squeeze'), crop(big, 16, 20), crop(big, 16, 20), {
        minSide: LPIPS_MIN_SIDE.squeeze,
      }),
    ).rejects.toThrow(/at least 17×17/);
  });
});

describe('imageToLpipsTensor', () => {
  it('is CHW RGB with x / 127.5 − 1, alpha ignored', () => {
    const img: RgbaImage = {
      width: 2,
      height: 1,
      data: new Uint8ClampedArray([0, 128, 255, 0, 51, 102, 204, 255]),
    };
    const t = imageToLpipsTensor(img);
    const f = (x: number) => Math.fround(x / 127.5 - 1);
    expect(Array.from(t)).toEqual([f(0), f(51), f(128), f(102), f(255), f(204)]);
    expect(t[0]).toBe(-1);
    expect(t[4]).toBe(1);
    expect(() =>
      imageToLpipsTensor({ width: 2, height: 2, data: new Uint8ClampedArray(4) }),
    ).toThrow(/4 bytes/);
  });
});

describe('computeLpips with a stand-in runner', () => {
  const img: RgbaImage = { width: 32, height: 32, data: new Uint8ClampedArray(32 * 32 * 4) };
  const fake = (
    outputs: Record<string, { data: Float32Array; dims: number[] }>,
    inputs = ['in0', 'in1'],
  ): GraphRunner => ({
    inputNames: inputs,
    outputNames: Object.keys(outputs),
    run: () => Promise.resolve(outputs),
    release: () => Promise.resolve(),
  });

  it('checks the graph is an LPIPS graph', async () => {
    const map = { data: new Float32Array(32 * 32), dims: [1, 1, 32, 32] };
    await expect(
      computeLpips(fake({ distance: { data: new Float32Array(1), dims: [1] } }), img, img),
    ).rejects.toThrow(/no "distance_map"/);
    await expect(
      computeLpips(
        fake({ distance: { data: new Float32Array(2), dims: [2] }, distance_map: map }),
        img,
        img,
      ),
    ).rejects.toThrow(/shape \[2\]/);
    await expect(computeLpips(fake({ distance_map: map }, ['image']), img, img)).rejects.toThrow(
      /no input "in0"/,
    );
    const ok = await computeLpips(
      fake({ distance: { data: Float32Array.of(0.25), dims: [1] }, distance_map: map }),
      img,
      img,
    );
    expect(ok.distance).toBe(0.25);
  });

  it('validates manifests', () => {
    ready();
    expect(() => parseLpipsManifest({ format: 'lpips-onnx' })).toThrow(/invalid LPIPS manifest/);
    const good = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<
      string,
      any
    >;
    const evil = structuredClone(good);
    evil.graphs.alex.file = '../../etc/passwd';
    expect(() => parseLpipsManifest(evil)).toThrow(/graphs\.alex\.file/);
    const swapped = structuredClone(good);
    swapped.graphs.alex = good.graphs.squeeze;
    expect(() => parseLpipsManifest(swapped)).toThrow(/graphs\.alex is a squeeze graph/);
  });
});
