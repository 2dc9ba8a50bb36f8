/**
 * `inbetween sequence` on the tiny pack: three keys, per-gap counts, timings and exposures →
 * numbered PNGs (exposure applied), a GIF, an APNG and a zip that decoders read back; the same
 * frames as a pair run of each gap; bad input → exit 2 or 1 with one line.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { unzipSync } from 'fflate';
import { GifReader } from 'omggif';
import { PNG } from 'pngjs';
import { captureConsole } from '../testing/console';
import UPNG from 'upng-js';
import { describe, expect, it } from 'vitest';
import { main } from './main';
import { expandKeys, parseGaps } from './sequence';

const ROOT = resolve(import.meta.dirname, '../..');
const PACK = resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny');
const A = resolve(ROOT, 'public/samples/bounce-start.png');
const B = resolve(ROOT, 'public/samples/bounce-middle.png');
const C = resolve(ROOT, 'public/samples/bounce-end.png');

const { errors } = captureConsole();

const png = (file: string) => PNG.sync.read(readFileSync(file));

describe('inbetween sequence', () => {
  it('makes every gap and writes the scene as numbered PNGs, GIF, APNG and zip', async () => {
    const out = mkdtempSync(join(tmpdir(), 'sequence-'));
    const args = ['sequence', '--pack', PACK, '--steps', '2', '--seed', '9'];
    const code = await main([
      ...args,
      '--keys',
      A,
      B,
      C,
      '--out',
      out,
      '--frames',
      '2,1',
      '--timing',
      'ease-in,typed=1/3',
      '--exposure',
      '2,1',
      '--fps',
      '12',
      '--name',
      'bounce',
      '--gif',
      '--apng',
      '--zip',
    ]);
    expect(errors).toEqual([]);
    expect(code).toBe(0);
    const record = JSON.parse(readFileSync(join(out, 'sequence.json'), 'utf8'));
    expect(record.gaps.map((g: { positions: number[] }) => g.positions)).toEqual([
      [1 / 9, 4 / 9],
      [1 / 3],
    ]);
    // A and its gap's 2 in-betweens on twos, then B, 1 in-between and C on ones: 2+2+2+1+1+1 = 9.
    const names = readdirSync(out)
      .filter((f) => /^bounce_\d{4}\.png$/.test(f))
      .sort();
    expect(names).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => `bounce_000${i}.png`));
    const frames = names.map((n) => png(join(out, n)));
    const keys = [A, B, C].map(png);
    // Each key once, exactly as drawn, in its place; held frames repeat the drawing.
    expect(frames[0]!.data.equals(keys[0]!.data)).toBe(true);
    expect(frames[1]!.data.equals(keys[0]!.data)).toBe(true);
    expect(frames[6]!.data.equals(keys[1]!.data)).toBe(true);
    expect(frames[8]!.data.equals(keys[2]!.data)).toBe(true);
    expect(frames[2]!.data.equals(frames[3]!.data)).toBe(true);
    expect(frames[2]!.data.equals(frames[4]!.data)).toBe(false);
    expect(frames[2]!.data.equals(keys[0]!.data)).toBe(false);

    // The GIF: one image per drawing (6), shown for holds 2 2 2 1 1 1 at 12 fps (ends at 17, 33, 50,
    // 58, 67, 75 cs), looping forever.
    const gif = new GifReader(readFileSync(join(out, 'bounce.gif')));
    expect(gif.numFrames()).toBe(6);
    expect(gif.loopCount()).toBe(0);
    expect([0, 1, 2, 3, 4, 5].map((i) => gif.frameInfo(i).delay)).toEqual([17, 16, 17, 8, 9, 8]);
    // The APNG: the same drawings in full RGBA.
    const apng = UPNG.decode(readFileSync(join(out, 'bounce.apng')).buffer as ArrayBuffer);
    const apngFrames = UPNG.toRGBA8(apng);
    expect(apngFrames).toHaveLength(6);
    expect(Buffer.from(apngFrames[3]!).equals(frames[6]!.data)).toBe(true);
    // The zip: the same numbered PNGs, byte for byte.
    const zip = unzipSync(readFileSync(join(out, 'bounce.zip')));
    expect(Object.keys(zip).sort()).toEqual(names.map((n) => `bounce/${n}`));
    for (const n of names)
      expect(Buffer.from(zip[`bounce/${n}`]!).equals(readFileSync(join(out, n)))).toBe(true);

    // A gap is the pair run of its keys with the same settings: same frames as `interpolate`.
    const pair = mkdtempSync(join(tmpdir(), 'pair-'));
    expect(
      await main([
        'interpolate',
        '--pack',
        PACK,
        '--start',
        B,
        '--end',
        C,
        '--out',
        pair,
        '--frames',
        '1',
        '--steps',
        '2',
        '--seed',
        '9',
      ]),
    ).toBe(0);
    // (interpolate puts its one in-between at ½; the gap's typed position is ⅓, so it differs.)
    const half = png(join(pair, 'frame_01.png'));
    expect(half.data.equals(frames[7]!.data)).toBe(false);
    const third = mkdtempSync(join(tmpdir(), 'third-'));
    expect(
      await main([
        ...args,
        '--keys',
        B,
        C,
        '--out',
        third,
        '--frames',
        '1',
        '--timing',
        'typed=1/3',
      ]),
    ).toBe(0);
    expect(png(join(third, 'scene_0002.png')).data.equals(frames[7]!.data)).toBe(true);
  }, 120_000);

  it('refuses bad scenes with one line and exit code 2 (usage) or 1 (files)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sequence-bad-'));
    const out = join(dir, 'out');
    const run = (...extra: string[]) => main(['sequence', '--pack', PACK, '--out', out, ...extra]);
    expect(await run('--keys', A)).toBe(2);
    expect(errors.pop()).toMatch(/--keys takes 2 to 64 PNG files, got 1/);
    expect(await run('--keys', A, B, C, '--frames', '1,2,3')).toBe(2);
    expect(errors.pop()).toMatch(/one value or one per gap \(2 gaps for 3 keys\), got 3/);
    expect(await run('--keys', A, B, '--timing', 'typed=0.6:0.4', '--frames', '2')).toBe(2);
    expect(errors.pop()).toMatch(/gap 1: typed timing: positions must increase/);
    expect(await run('--keys', A, B, '--timing', 'wobbly')).toBe(2);
    expect(errors.pop()).toMatch(/--timing must be even, ease-in/);
    expect(await run('--keys', A, B, '--exposure', '4')).toBe(2);
    expect(errors.pop()).toMatch(/--exposure must be from 1 to 3/);
    expect(await run('--keys', A, B, '--fps', '0')).toBe(2);
    expect(errors.pop()).toMatch(/--fps must be a number from 1 to 60/);
    const small = new PNG({ width: 64, height: 64 });
    writeFileSync(join(dir, 'small.png'), PNG.sync.write(small));
    expect(await run('--keys', A, join(dir, 'small.png'))).toBe(1);
    expect(errors.pop()).toMatch(/small\.png is 64×64 but .*bounce-start\.png is 512×320/);
  }, 60_000);

  it('reads several files after --keys and one setting or one per gap', () => {
    expect(expandKeys(['--keys', 'a', 'b', '--out', 'o'])).toEqual([
      '--keys',
      'a',
      '--keys',
      'b',
      '--out',
      'o',
    ]);
    const gaps = parseGaps(2, { frames: '3', timing: 'even,ease-out', exposure: '2' });
    expect(gaps.map((g) => [g.count, g.timing.preset, g.exposure])).toEqual([
      [3, 'even', 2],
      [3, 'ease-out', 2],
    ]);
  });
});
