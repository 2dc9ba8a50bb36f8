/** The `inbetween` CLI on the tiny pack: frames and run.json out; bad input → non-zero, one line. */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PNG } from 'pngjs';
import { main } from './main';

const ROOT = resolve(import.meta.dirname, '../..');
const PACK = resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny');
const START = resolve(ROOT, 'public/samples/bounce-start.png');
const END = resolve(ROOT, 'public/samples/bounce-end.png');

let errors: string[] = [];
beforeEach(() => {
  errors = [];
  vi.spyOn(console, 'error').mockImplementation((msg: string) => void errors.push(msg));
  vi.spyOn(console, 'log').mockImplementation(() => undefined);
});
afterEach(() => vi.restoreAllMocks());

describe('inbetween interpolate', () => {
  it('writes the in-betweens at the keyframes size and run.json with per-step statistics', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inbetween-'));
    const code = await main([
      'interpolate',
      '--pack',
      PACK,
      '--start',
      START,
      '--end',
      END,
      '--out',
      out,
      '--frames',
      '3',
      '--steps',
      '4',
      '--seed',
      '5',
      '--variant',
      'lora',
      '--lora-scale',
      '0.5',
    ]);
    expect(errors).toEqual([]);
    expect(code).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      'frame_01.png',
      'frame_02.png',
      'frame_03.png',
      'run.json',
    ]);
    const png = PNG.sync.read(readFileSync(join(out, 'frame_02.png')));
    expect([png.width, png.height]).toEqual([512, 320]);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.variant).toBe('lora');
    expect(run.loraScale).toBe(0.5);
    expect(run.seed).toBe(5);
    expect(run.steps).toBe(4);
    expect(run.frames.map((f: { tau: number }) => f.tau)).toEqual([0.25, 0.5, 0.75]);
    expect(run.backend.runtime).toBe('onnxruntime-node');
    expect(run.latentStats).toHaveLength(5);
    expect(run.latentStats[4].frames).toHaveLength(3);
    for (const key of ['mean', 'std', 'min', 'max', 'nonFinite'])
      expect(run.latentStats[4].frames[0]).toHaveProperty(key);
    expect(run.timings.totalMs).toBeGreaterThan(0);
  });

  it.each([
    [
      ['interpolate', '--pack', PACK, '--start', START, '--end', END],
      /^inbetween: --out is required$/,
    ],
    [
      [
        'interpolate',
        '--pack',
        PACK,
        '--start',
        START,
        '--end',
        END,
        '--out',
        '/tmp/x',
        '--frames',
        '16',
      ],
      /--frames must be from 1 to 15/,
    ],
    [
      [
        'interpolate',
        '--pack',
        PACK,
        '--start',
        START,
        '--end',
        END,
        '--out',
        '/tmp/x',
        '--steps',
        'ten',
      ],
      /--steps must be a whole number/,
    ],
    [
      [
        'interpolate',
        '--pack',
        PACK,
        '--start',
        START,
        '--end',
        END,
        '--out',
        '/tmp/x',
        '--variant',
        'nope',
      ],
      /has no variant "nope"/,
    ],
    [
      [
        'interpolate',
        '--pack',
        PACK,
        '--start',
        START,
        '--end',
        END,
        '--out',
        '/tmp/x',
        '--lora-scale',
        '0.5',
      ],
      /variant "baseline" has no LoRA scale/,
    ],
    [
      ['interpolate', '--pack', '/nonexistent', '--start', START, '--end', END, '--out', '/tmp/x'],
      /no manifest\.json in \/nonexistent/,
    ],
    [
      [
        'interpolate',
        '--pack',
        PACK,
        '--start',
        '/nonexistent.png',
        '--end',
        END,
        '--out',
        '/tmp/x',
      ],
      /cannot read \/nonexistent\.png/,
    ],
    [['interpolate', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate'], /unknown command "frobnicate"/],
  ])('refuses %j with a one-line reason', async (argv, pattern) => {
    const code = await main(argv);
    expect(code).not.toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(pattern);
    expect(errors[0]).not.toContain('\n');
  });

  it('refuses a corrupt PNG and keyframes of different sizes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inbetween-bad-'));
    writeFileSync(join(dir, 'broken.png'), readFileSync(START).subarray(0, 100));
    const small = new PNG({ width: 64, height: 64 });
    writeFileSync(join(dir, 'small.png'), PNG.sync.write(small));
    expect(
      await main([
        'interpolate',
        '--pack',
        PACK,
        '--start',
        join(dir, 'broken.png'),
        '--end',
        END,
        '--out',
        dir,
      ]),
    ).toBe(1);
    expect(errors[0]).toMatch(/broken\.png is not a valid PNG/);
    expect(
      await main([
        'interpolate',
        '--pack',
        PACK,
        '--start',
        START,
        '--end',
        join(dir, 'small.png'),
        '--out',
        dir,
      ]),
    ).toBe(1);
    expect(errors[1]).toMatch(/different sizes: start is 512×320, end is 64×64/);
  });
});
