/**
 * The `inbetween` CLI on the tiny pack: frames and run.json out; `--gt` scores the τ = 0.5 frame
 * into run.json (LPIPS graphs from models/lpips, or built into a temporary folder when absent);
 * bad input → non-zero, one line.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PNG } from 'pngjs';
import { captureConsole } from '../testing/console';
import { main } from './main';
import { bigWhitePng } from '../testing/bigPng';
import { prepareLpipsGraphs } from '../testing/lpipsFixture';
import type { Scores } from '../node/score';
import { METRIC_NAMES } from '../core/metrics';

const ROOT = resolve(import.meta.dirname, '../..');
const PACK = resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny');
const START = resolve(ROOT, 'public/samples/bounce-start.png');
const END = resolve(ROOT, 'public/samples/bounce-end.png');

/** LPIPS graphs for --gt: models/lpips when current, else built for this suite. */
let lpipsDir = '';
let cleanupLpips: () => void = () => undefined;
beforeAll(() => {
  const graphs = prepareLpipsGraphs();
  lpipsDir = graphs.dir;
  cleanupLpips = graphs.cleanup;
}, 300_000);
afterAll(() => cleanupLpips());

const { errors } = captureConsole();

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
    expect(run.keyframes.map((k: { file: string }) => k.file)).toEqual([START, END]);
    expect(run.keyframes[0].sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(run.keyframes[0].sha256).not.toBe(run.keyframes[1].sha256);
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

  it('--sampler picks another sampler of an EDM pack and refuses one of another family', async () => {
    const svd = resolve(ROOT, 'models/reference/svd-tiny');
    const args = (out: string, sampler: string) => [
      'interpolate',
      '--pack',
      svd,
      '--start',
      join(svd, 'parity/start.png'),
      '--end',
      join(svd, 'parity/end.png'),
      '--out',
      out,
      '--steps',
      '3',
      '--sampler',
      sampler,
    ];
    const out = mkdtempSync(join(tmpdir(), 'inbetween-'));
    expect(await main(args(out, 'dpmpp_2m'))).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.sampler).toBe('dpmpp_2m');
    // EDM's timestep input is c_noise = ¼ ln σ, from σ_max = 700 down.
    expect(run.timesteps[0]).toBeCloseTo(0.25 * Math.log(700), 9);
    expect(errors).toEqual([]);
    expect(await main(args(out, 'lcm'))).toBe(2);
    expect(errors.at(-1)).toMatch(/sampler "lcm" does not fit this pack's edm schedule/);
    expect(await main(args(out, 'heun'))).toBe(2);
    expect(errors.at(-1)).toMatch(/--sampler must be one of ddim, euler/);
    errors.length = 0;
  });

  it('with --gt, scores the τ = 0.5 frame as written against the ground truth into run.json', async () => {
    const out = mkdtempSync(join(tmpdir(), 'inbetween-gt-'));
    const argv = ['--pack', PACK, '--start', START, '--end', END, '--out', out];
    const code = await main([
      'interpolate',
      ...argv,
      '--frames',
      '3',
      '--steps',
      '2',
      '--gt',
      END,
      '--lpips',
      lpipsDir,
    ]);
    expect(errors).toEqual([]);
    expect(code).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    expect(run.frames.map((f: { tau: number }) => f.tau)).toEqual([0.25, 0.5, 0.75]);
    const gt = run.groundTruth as { file: string; tau: number; frame: string; scores: Scores };
    expect(gt.file).toBe(END);
    expect(gt.tau).toBe(0.5);
    expect(gt.frame).toBe('frame_02.png');
    expect(gt.scores.images).toEqual([
      { file: 'frame_02.png', width: 512, height: 320 },
      { file: END, width: 512, height: 320 },
    ]);
    expect(Object.keys(gt.scores.metrics)).toEqual([...METRIC_NAMES]);
    for (const m of Object.values(gt.scores.metrics)) {
      expect(Number.isFinite(m.value), m.convention).toBe(true);
      expect(m).not.toHaveProperty('unavailable');
    }
    expect(gt.scores.metrics.psnr.infinite).toBe(false);
    expect(gt.scores.lpipsGraphs).toHaveProperty('files');

    // The numbers are those of the PNG on disk: `inbetween score` on the file agrees exactly.
    const log = vi.mocked(console.log);
    log.mockClear();
    expect(
      await main(['score', join(out, 'frame_02.png'), END, '--json', '--lpips', lpipsDir]),
    ).toBe(0);
    const direct = JSON.parse(String(log.mock.calls[0]![0])) as Scores;
    expect(direct.metrics).toEqual(gt.scores.metrics);
    rmSync(out, { recursive: true, force: true });
  });

  it('with --gt, a clip pack with no frame at τ = 0.5 is scored by its frame nearest it', async () => {
    const svd = resolve(ROOT, 'models/reference/svd-tiny'); // 6 frames: τ = k/5
    const out = mkdtempSync(join(tmpdir(), 'inbetween-gt-clip-'));
    const end = join(svd, 'parity/end.png');
    const code = await main([
      'interpolate',
      ...['--pack', svd, '--start', join(svd, 'parity/start.png'), '--end', end, '--out', out],
      ...['--steps', '2', '--gt', end, '--lpips', lpipsDir],
    ]);
    expect(errors).toEqual([]);
    expect(code).toBe(0);
    const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
    const gt = run.groundTruth as { tau: number; frame: string };
    expect(gt.tau).toBeCloseTo(0.4, 12);
    expect(gt.frame).toBe('frame_01.png');
    rmSync(out, { recursive: true, force: true });
  });

  it('--fit native runs the model at the keyframes own size, padded to a multiple of 64', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inbetween-native-'));
    // 150×90 keyframes: the tiny pack's frame is 192×128, so letterbox would resample; native pads
    // to 192×128 without resampling. A frame too large for native is refused before running.
    const png = (w: number, h: number, shade: number) => {
      const img = new PNG({ width: w, height: h });
      for (let i = 0; i < w * h; i++) img.data.set([shade, 255 - shade, (i % w) % 256, 255], i * 4);
      return PNG.sync.write(img);
    };
    writeFileSync(join(dir, 'a.png'), png(150, 90, 40));
    writeFileSync(join(dir, 'b.png'), png(150, 90, 200));
    const args = ['--pack', PACK, '--start', join(dir, 'a.png'), '--end', join(dir, 'b.png')];
    const code = await main([
      'interpolate',
      ...args,
      ...['--out', join(dir, 'out'), '--frames', '1', '--steps', '2', '--fit', 'native'],
    ]);
    expect(errors).toEqual([]);
    expect(code).toBe(0);
    const frame = PNG.sync.read(readFileSync(join(dir, 'out', 'frame_01.png')));
    expect([frame.width, frame.height]).toEqual([150, 90]);
    const run = JSON.parse(readFileSync(join(dir, 'out', 'run.json'), 'utf8'));
    expect(run.fit).toBe('native');
    expect(run.fitChoice).toBe('native');
    expect(run.modelSize).toEqual([192, 128]);
    // Without --fit (auto), keyframes this small run natively too: the same frame, pixel for pixel.
    const auto = ['--out', join(dir, 'auto'), '--frames', '1', '--steps', '2'];
    expect(await main(['interpolate', ...args, ...auto])).toBe(0);
    const autoRun = JSON.parse(readFileSync(join(dir, 'auto', 'run.json'), 'utf8'));
    expect([autoRun.fit, autoRun.fitChoice, autoRun.modelSize]).toEqual([
      'native',
      'auto',
      [192, 128],
    ]);
    expect(readFileSync(join(dir, 'auto', 'frame_01.png'))).toEqual(
      readFileSync(join(dir, 'out', 'frame_01.png')),
    );
    writeFileSync(join(dir, 'big-a.png'), png(1400, 900, 40));
    writeFileSync(join(dir, 'big-b.png'), png(1400, 900, 200));
    const big = ['--start', join(dir, 'big-a.png'), '--end', join(dir, 'big-b.png')];
    expect(
      await main([
        'interpolate',
        ...['--pack', PACK, ...big, '--out', join(dir, 'big'), '--fit', 'native'],
      ]),
    ).toBe(1);
    expect(errors[0]).toMatch(/Native size would run the model on a 1408×960 frame.*Letterbox/);
    expect(existsSync(join(dir, 'big'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a second run into the folder leaves only its own files; transparent keys stay transparent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inbetween-again-'));
    const out = join(dir, 'out');
    const run = (frames: string, start = START, end = END) =>
      main([
        'interpolate',
        ...['--pack', PACK, '--start', start, '--end', end, '--out', out],
        ...['--frames', frames, '--steps', '2'],
      ]);
    expect(await run('3')).toBe(0);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    // The keys' sky made transparent, as a cel on its own layer.
    const clear = (file: string) => {
      const png = PNG.sync.read(readFileSync(file));
      for (let i = 0; i < png.data.length; i += 4)
        if (Math.abs(png.data[i]! - png.data[0]!) + Math.abs(png.data[i + 2]! - png.data[2]!) < 20)
          png.data[i + 3] = 0;
      const to = join(dir, `clear-${file.split('/').pop()}`);
      writeFileSync(to, PNG.sync.write(png));
      return to;
    };
    expect(await run('1', clear(START), clear(END))).toBe(0);
    expect(errors).toEqual([]);
    expect(readdirSync(out).sort()).toEqual(['frame_01.png', 'notes.txt', 'run.json']);
    const frame = PNG.sync.read(readFileSync(join(out, 'frame_01.png')));
    let transparent = 0;
    for (let i = 3; i < frame.data.length; i += 4) if (frame.data[i]! < 255) transparent++;
    expect(transparent).toBeGreaterThan(0.2 * 512 * 320);
    rmSync(dir, { recursive: true, force: true });
  });

  it('refuses --gt of another size than the keyframes before running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inbetween-gt-bad-'));
    writeFileSync(join(dir, 'small.png'), PNG.sync.write(new PNG({ width: 64, height: 64 })));
    const code = await main([
      'interpolate',
      ...['--pack', PACK, '--start', START, '--end', END, '--out', join(dir, 'out')],
      ...['--gt', join(dir, 'small.png'), '--lpips', lpipsDir],
    ]);
    expect(code).toBe(1);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      /^inbetween: the ground truth .*small\.png is 64×64 but the keyframes are 512×320/,
    );
    expect(existsSync(join(dir, 'out'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    [
      ['interpolate', '--pack', PACK, '--start', START, '--end', END],
      /^inbetween: --out is required$/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--fit', 'pad'],
      ],
      /^inbetween: --fit must be auto, letterbox, crop, native, got "pad"$/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--frames', '2', '--gt', END],
      ],
      /^inbetween: --gt scores the in-between at τ = 0\.5, and --frames 2 has none/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--lpips', '/tmp'],
      ],
      /^inbetween: --lpips is only used with --gt$/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--steps', '2', '--steps', '3'],
      ],
      /^inbetween: --steps is given more than once$/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--prompt', 'sketch'],
      ],
      /^inbetween: pack "tiny-random" has no prompts to choose from$/,
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
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--frames', '-1'],
      ],
      /^inbetween: --frames must be from 1 to 15, got -1$/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--seed', '-5'],
      ],
      /^inbetween: --seed must be from 0 to 4294967295, got -5$/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--variant', 'lora', '--lora-scale', ''],
      ],
      /^inbetween: --lora-scale must be a number such as 0\.15, got ""$/,
    ],
    [
      [
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', '/tmp/x'],
        ...['--variant', 'lora', '--lora-scale', '-0.5'],
      ],
      /^inbetween: --lora-scale must be from 0 to 1 for variant "lora", got -0\.5$/,
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

describe('hostile files and folders fail fast with a reason', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'inbetween-hostile-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const runCli = (start: string, out: string) =>
    main(['interpolate', '--pack', PACK, '--start', start, '--end', END, '--out', out]);

  it('refuses a decompression bomb from its header, before decoding it', async () => {
    const bomb = join(dir, 'bomb.png');
    writeFileSync(bomb, bigWhitePng(30000, 30000));
    const t0 = performance.now();
    expect(await runCli(bomb, join(dir, 'out'))).toBe(1);
    // Decoding it would take minutes and gigabytes; the header alone takes milliseconds.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(errors[0]).toMatch(
      /bomb\.png is 30000×30000 pixels \(900\.0 megapixels\); images may have at most 16\.8 megapixels/,
    );
    expect(errors[0]).toContain('Save it smaller');
    expect(existsSync(join(dir, 'out'))).toBe(false);
  }, 20_000);

  it('says an empty, cut-short or non-PNG file is one, in words', async () => {
    writeFileSync(join(dir, 'empty.png'), '');
    expect(await runCli(join(dir, 'empty.png'), join(dir, 'out'))).toBe(1);
    expect(errors[0]).toMatch(/empty\.png is empty \(0 bytes\): it holds no picture/);
    const whole = readFileSync(START);
    writeFileSync(join(dir, 'cut.png'), whole.subarray(0, whole.length - 200));
    expect(await runCli(join(dir, 'cut.png'), join(dir, 'out'))).toBe(1);
    expect(errors[1]).toMatch(/cut\.png is not a valid PNG/);
    expect(errors[1]).not.toMatch(/read requests|waitng/);
    writeFileSync(join(dir, 'photo.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 4, 0, 0]));
    expect(await runCli(join(dir, 'photo.jpg'), join(dir, 'out'))).toBe(1);
    expect(errors[2]).toMatch(/photo\.jpg is a JPEG image; the command line reads PNG files/);
    expect(await runCli(dir, join(dir, 'out'))).toBe(1);
    expect(errors[3]).toMatch(/cannot read .* \(it is a folder\)/);
  });

  it.each(['/proc/x', '/proc/self/x', '/proc/x/y/z'])(
    'refuses --out %s at once instead of hanging',
    async (out) => {
      expect(await runCli(START, out)).toBe(1);
      expect(errors[0]).toMatch(/^inbetween: cannot create the output folder \/proc\//);
      expect(errors[0]).toContain('choose a folder you can write to');
    },
    20_000,
  );

  it('refuses --out that is a file, and creates missing parents', async () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    expect(await runCli(START, file)).toBe(1);
    expect(errors[0]).toMatch(/a-file is a file, not a folder/);
    const nested = join(dir, 'new', 'deeper', 'out');
    expect(
      await main([
        'interpolate',
        ...['--pack', PACK, '--start', START, '--end', END, '--out', nested],
        ...['--steps', '1'],
      ]),
    ).toBe(0);
    expect(readdirSync(nested)).toEqual(['frame_01.png', 'run.json']);
  });
});
