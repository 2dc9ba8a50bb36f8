/**
 * The CLI where onnxruntime-node cannot be loaded (no binary for the platform, or an install
 * without it): `inbetween` runs in a child Node whose module loader refuses `onnxruntime-node` as
 * Node does when its binary is missing. `--help` and `report` still work; a command that runs a
 * graph, and a CLI module that cannot be loaded, exit 1 with one line and no stack trace.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { captureConsole } from '../testing/console';
import { main } from './main';
import { loadNodeRuntime, RuntimeUnavailableError } from './runtime';

const ROOT = resolve(import.meta.dirname, '../..');
const CLI = join(ROOT, 'bin', 'inbetween.mjs');
const PACK = resolve(ROOT, process.env.TEST_PACK ?? 'models/tiny');
/** What Node says when onnxruntime-node's binary for the platform is not there. */
const MISSING =
  "Cannot find module '/x/onnxruntime-node/bin/napi-v6/darwin/x64/onnxruntime_binding.node'";

let root = '';

/**
 * A module for `node --import` that makes resolving any specifier `refused` matches fail with
 * `message`, as a missing native binary or module does.
 */
function refusingLoader(name: string, refused: RegExp, message: string): string {
  const hooks = join(root, `${name}-hooks.mjs`);
  writeFileSync(
    hooks,
    `export async function resolve(specifier, context, next) {
  if (${refused}.test(specifier)) throw new Error(${JSON.stringify(message + '\nRequire stack:\n- binding.js')});
  return next(specifier, context);
}\n`,
  );
  const entry = join(root, `${name}.mjs`);
  writeFileSync(
    entry,
    `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`,
  );
  return entry;
}

/** `inbetween …args` in a child Node that loads `loader` first. */
function cliWith(loader: string, args: string[]) {
  const r = spawnSync('node', ['--import', loader, CLI, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const { errors } = captureConsole();

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'no-ort-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('loadNodeRuntime', () => {
  it('turns a loader failure into one line naming the platform and the reason', async () => {
    const failing = () => Promise.reject(new Error(`${MISSING}\nRequire stack:\n- binding.js`));
    const e = await loadNodeRuntime(failing).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RuntimeUnavailableError);
    const message = (e as Error).message;
    expect(message).not.toContain('\n');
    expect(message).toContain(
      `ONNX Runtime for Node could not be loaded on ${process.platform}/${process.arch}: ${MISSING}.`,
    );
    expect(message).toContain('`inbetween report` and `inbetween --help` work without it');
  });

  it('loads the installed onnxruntime-node', async () => {
    await expect(loadNodeRuntime()).resolves.toBeUndefined();
  });
});

describe('inbetween without onnxruntime-node', () => {
  let noOrt = '';
  beforeAll(() => {
    noOrt = refusingLoader('no-ort', /^onnxruntime-node(\/|$)/, MISSING);
  });

  it('--help prints the usage', () => {
    const r = cliWith(noOrt, ['--help']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^usage:\n {2}inbetween interpolate/);
    expect(r.out).toContain('inbetween report RUN_DIR');
  });

  it('report reads an eval run made where it loads', async () => {
    // A one-clip dataset evaluated here (onnxruntime-node loads in this process)…
    const clip = join(root, 'data', 'test', 'clip_0');
    await mkdir(clip, { recursive: true });
    for (let f = 1; f <= 3; f++) {
      const png = new PNG({ width: 64, height: 64 });
      for (let i = 0; i < 64 * 64; i++) png.data.set([40 * f, 120, 200, 255], i * 4);
      writeFileSync(join(clip, `frame${f}.png`), PNG.sync.write(png));
    }
    const out = join(root, 'run');
    const code = await main([
      'eval',
      ...['--pack', PACK, '--data', join(root, 'data'), '--out', out],
      ...['--variants', 'baseline', '--steps', '1', '--quiet'],
    ]);
    expect(errors.filter((l) => l.startsWith('inbetween:'))).toEqual([]);
    expect(code).toBe(0);
    // … is reported where it does not.
    const r = cliWith(noOrt, ['report', out, '--format', 'csv']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('baseline');
  }, 120_000);

  it('a command that runs a graph says in one line that ONNX Runtime cannot be loaded', () => {
    for (const args of [
      ['interpolate', '--pack', PACK, '--start', 'a.png', '--end', 'b.png', '--out', root],
      ['score', 'a.png', 'b.png'],
      ['eval', '--pack', PACK, '--data', root, '--out', root],
    ]) {
      const r = cliWith(noOrt, args);
      expect(r.code, args[0]).toBe(1);
      expect(r.out).toBe('');
      expect(r.err).toBe(
        `inbetween: ONNX Runtime for Node could not be loaded on ${process.platform}/${process.arch}: ${MISSING}. ` +
          'This command runs models and needs it: onnxruntime-node ships binaries for Linux (glibc) ' +
          'x64/arm64, Windows x64/arm64 and macOS arm64 (`npm ci` installs them). ' +
          '`inbetween report` and `inbetween --help` work without it.\n',
      );
    }
  });
});

it('bin/inbetween.mjs says in one line when the CLI module cannot be loaded', () => {
  const loader = refusingLoader('no-cli', /\/cli\/main\.ts$/, "Cannot find module 'cli-progress'");
  const r = cliWith(loader, ['--help']);
  expect(r.code).toBe(1);
  expect(r.out).toBe('');
  expect(r.err).toBe(
    "inbetween: the command could not be loaded: Cannot find module 'cli-progress'. Reinstall its dependencies with `npm ci`.\n",
  );
});
