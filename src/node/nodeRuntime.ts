/**
 * Node side of the studio core: reads a pack folder or an LPIPS folder from disk (validated, every
 * file checked against its sha256), creates onnxruntime-node sessions, and reads/writes PNGs with
 * pngjs. Shared by the `inbetween` CLI, the benchmark and the tests that compare runtimes.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import * as ort from 'onnxruntime-node';
import { PNG } from 'pngjs';
import {
  checkGraphNames,
  SESSION_TUNING,
  wrapSession,
  type FloatTensor,
  type GraphRunner,
} from '../core/graph';
import { checkClipGraphs } from '../core/clip';
import { externalDataLocation } from '../core/externalData';
import { readPackConstant } from '../core/npy';
import { readPackTokenizer, type PromptTokenizer } from '../core/text';
import type { RgbaImage } from '../core/image';
import { checkImageFile, formatName } from '../core/imageHeader';
import {
  parseLpipsManifest,
  type LpipsGraphBackbone,
  type LpipsGraphSpec,
  type LpipsManifest,
} from '../core/lpips';
import {
  graphsForVariant,
  parseManifest,
  type PackManifest,
  type VariantGraph,
  type VariantSpec,
} from '../core/manifest';
import type { VariantGraphs } from '../core/pipeline';
import { verifyPackFile } from '../core/sha256';

/** Reads and validates `<dir>/manifest.json`. Throws one message listing every problem. */
export async function readPackManifest(dir: string): Promise<PackManifest> {
  let text: string;
  try {
    text = await readFile(join(dir, 'manifest.json'), 'utf8');
  } catch (e) {
    throw new Error(`no manifest.json in ${dir}`, { cause: e });
  }
  const result = parseManifest(text);
  if (!result.ok) throw new Error(`invalid manifest in ${dir}: ${result.errors.join('; ')}`);
  return result.manifest;
}

/**
 * Reads one file listed in a manifest, refusing names that escape the folder, and verifies its size
 * and sha256. `folder` names the folder in messages ("pack", "LPIPS folder").
 */
export async function readPackFile(
  dir: string,
  ref: { file: string; sizeBytes: number; sha256: string },
  folder = 'pack',
): Promise<Uint8Array> {
  const root = resolve(dir);
  const full = resolve(root, ref.file);
  if (!full.startsWith(root + sep)) throw new Error(`${ref.file} is outside the ${folder} folder`);
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(full));
  } catch (e) {
    throw new Error(`the ${folder} has no file ${ref.file}`, { cause: e });
  }
  await verifyPackFile(ref.file, bytes, ref);
  return bytes;
}

/** Where onnxruntime-node runs the graphs: the CPU, or NVIDIA GPUs through the CUDA provider. */
export type NodeDevice = 'cpu' | 'cuda';
let device: NodeDevice = 'cpu';

/**
 * Chooses the execution provider of every session this process creates from now on (the CLI's
 * `--device`). CUDA needs onnxruntime-node's CUDA libraries, which `npm ci` here does not fetch
 * (docs/evaluation.md says how to get them); operators CUDA lacks fall back to the CPU.
 */
export function setNodeDevice(d: NodeDevice): void {
  if (d !== 'cpu' && d !== 'cuda')
    throw new Error(`the device must be cpu or cuda, got "${String(d)}"`);
  device = d;
}

const CUDA_MISSING =
  "onnxruntime-node's CUDA provider is not installed: reinstall it with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm ci` on a Linux x64 host with CUDA 12 and cuDNN 9 (docs/evaluation.md, GPUs), or leave out --device cuda";

/** Session options for onnxruntime-node: the same graph optimisation level as the browser. */
export function nodeSessionOptions(threads?: number): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: device === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
    ...SESSION_TUNING,
    ...(threads ? { intraOpNumThreads: threads, interOpNumThreads: 1 } : {}),
  };
}

/**
 * The Node side's one session factory: a graph (bytes, and its external-data files when the pack
 * splits weights out) on onnxruntime-node's CPU provider with `nodeSessionOptions`, wrapped as a
 * GraphRunner named `what` in messages.
 */
export async function createNodeSession(
  what: string,
  bytes: Uint8Array,
  threads?: number,
  externalData: { path: string; data: Uint8Array }[] = [],
): Promise<GraphRunner> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      ...nodeSessionOptions(threads),
      ...(externalData.length ? { externalData } : {}),
    });
  } catch (e) {
    const message = (e as Error).message.split('\n')[0]!;
    if (device === 'cuda' && /Cuda|shared library/i.test(message))
      throw new Error(CUDA_MISSING, { cause: e });
    throw new Error(`could not load ${what}: ${message}`, { cause: e });
  }
  return wrapSession(session, ort, what);
}

/**
 * A graph's bytes and external-data files from the pack, each checked against its sha256; each
 * external file under the name the graph gives it (`externalDataLocation`).
 */
export async function readGraphFiles(
  dir: string,
  g: VariantGraph,
): Promise<{ bytes: Uint8Array; externalData: { path: string; data: Uint8Array }[] }> {
  const bytes = await readPackFile(dir, g.spec);
  const externalData = await Promise.all(
    (g.spec.externalData ?? []).map(async (x) => ({
      path: externalDataLocation(g.spec.file, x.file),
      data: await readPackFile(dir, x),
    })),
  );
  return { bytes, externalData };
}

/** Reads one graph's files from the pack folder and creates its checked session. */
async function loadGraph(
  dir: string,
  g: VariantGraph,
  threads?: number,
): Promise<{ runner: GraphRunner; sessionMs: number }> {
  const { bytes, externalData: external } = await readGraphFiles(dir, g);
  const t0 = performance.now();
  const runner = await createNodeSession(g.what, bytes, threads, external);
  checkGraphNames(g.what, runner, g.inputs, g.outputs);
  return { runner, sessionMs: performance.now() - t0 };
}

/**
 * Loads a variant with onnxruntime-node: its graphs (encoder, stages, decoder, motion graph,
 * denoiser — those the pack has) and format 2's constants.
 */
export async function loadVariantGraphs(
  dir: string,
  manifest: PackManifest,
  variantId: string,
  threads?: number,
): Promise<{ variant: VariantSpec; graphs: VariantGraphs; sessionMs: Record<string, number> }> {
  const graphs: Partial<Record<'encoder' | 'decoder' | 'motion' | 'denoiser', GraphRunner>> = {};
  const stages: Record<string, GraphRunner> = {};
  const loaded: GraphRunner[] = [];
  const sessionMs: Record<string, number> = {};
  const constants: Record<string, FloatTensor> = {};
  let tokenizer: PromptTokenizer | undefined;
  const variant = manifest.variants.find((v) => v.id === variantId)!;
  try {
    for (const g of graphsForVariant(manifest, variantId)) {
      const one = await loadGraph(dir, g, threads);
      loaded.push(one.runner);
      if (g.role === 'stage') for (const name of g.stages!) stages[name] = one.runner;
      else graphs[g.role] = one.runner;
      sessionMs[g.role === 'stage' ? g.key : g.role] = one.sessionMs;
    }
    for (const [name, spec] of Object.entries(manifest.constants ?? {})) {
      constants[name] = readPackConstant(name, spec, await readPackFile(dir, spec));
    }
    if (manifest.text) {
      tokenizer = readPackTokenizer(
        manifest.text,
        await readPackFile(dir, manifest.text.tokenizer),
      );
    }
    if (manifest.frames.mode === 'clip') {
      checkClipGraphs(manifest, variant, {
        stages,
        constants,
        denoiser: graphs.denoiser!,
        decoder: graphs.decoder!,
      });
    }
  } catch (e) {
    for (const r of loaded) await r.release().catch(() => undefined);
    throw e;
  }
  return {
    variant,
    graphs: {
      ...(graphs as Omit<VariantGraphs, 'stages' | 'constants'>),
      ...(manifest.stages ? { stages, constants } : {}),
      ...(tokenizer ? { tokenizer } : {}),
    },
    sessionMs,
  };
}

/**
 * Releases a variant's sessions, each once (stages that share a file share one session); the
 * constants and the tokeniser are plain data.
 */
export async function releaseVariantGraphs(graphs: VariantGraphs): Promise<void> {
  const { encoder, decoder, denoiser, motion, stages } = graphs;
  const runners = new Set([encoder, decoder, denoiser, motion, ...Object.values(stages ?? {})]);
  for (const g of runners) await g?.release();
}

/** One LPIPS graph loaded with onnxruntime-node, with the manifest entry it was checked against. */
export interface LoadedLpipsGraph {
  spec: LpipsGraphSpec;
  runner: GraphRunner;
}

/**
 * The LPIPS graphs of a folder built by models/training/export_lpips.py: `available: false` when
 * the folder has no manifest.json (not built yet); otherwise every graph its manifest lists.
 */
export type LpipsGraphs =
  | {
      available: true;
      /** Absolute path of the folder. */
      dir: string;
      manifest: LpipsManifest;
      graphs: Partial<Record<LpipsGraphBackbone, LoadedLpipsGraph>>;
    }
  | { available: false; dir: string };

/**
 * Loads the LPIPS graphs of `dir`: the manifest validated with `parseLpipsManifest`, every graph
 * checked against its size and sha256 (as pack files are) and against its tensor names. A folder
 * without manifest.json is `available: false`; an invalid manifest, a missing, corrupt or
 * mislabelled graph throws one line naming the folder.
 */
export async function loadLpipsGraphs(dir: string, threads?: number): Promise<LpipsGraphs> {
  const root = resolve(dir);
  let text: string;
  try {
    text = await readFile(join(root, 'manifest.json'), 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { available: false, dir: root };
    throw new Error(`cannot read ${join(root, 'manifest.json')} (${code ?? String(e)})`, {
      cause: e,
    });
  }
  let manifest: LpipsManifest;
  try {
    manifest = parseLpipsManifest(JSON.parse(text));
  } catch (e) {
    throw new Error(`${(e as Error).message.split('\n')[0]} (in ${root})`, { cause: e });
  }
  const graphs: Partial<Record<LpipsGraphBackbone, LoadedLpipsGraph>> = {};
  try {
    for (const backbone of ['alex', 'squeeze', 'vgg'] as const) {
      const spec = manifest.graphs[backbone];
      if (!spec) continue;
      const what = `the LPIPS ${backbone} graph (${spec.file} in ${root})`;
      const bytes = await readPackFile(root, spec, 'LPIPS folder');
      const runner = await createNodeSession(what, bytes, threads);
      graphs[backbone] = { spec, runner };
      checkGraphNames(what, runner, spec.inputs, spec.outputs);
    }
  } catch (e) {
    for (const g of Object.values(graphs)) await g.runner.release();
    const msg = (e as Error).message.split('\n')[0]!;
    throw new Error(msg.includes(root) ? msg : `${msg} (in ${root})`, { cause: e });
  }
  return { available: true, dir: root, manifest, graphs };
}

/**
 * Reads a PNG as 8-bit RGBA (16-bit PNGs are scaled down, grey and palette expanded). The size in
 * its header is checked against the pixel budget before anything is decoded (a 100 KB PNG can
 * declare 30000×30000 pixels), and a file that is empty, cut short or not a PNG says so.
 */
export async function readPng(path: string): Promise<RgbaImage> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(
      `cannot read ${path}${code === 'ENOENT' ? ' (no such file)' : code === 'EISDIR' ? ' (it is a folder)' : code ? ` (${code})` : ''}`,
      { cause: e },
    );
  }
  const header = checkImageFile(buf, path);
  if (header?.format !== 'png') {
    throw new Error(
      `${path} is ${header ? `a ${formatName(header.format)} image` : 'not an image file'}; the command line reads PNG files — convert it to PNG first`,
    );
  }
  if (header.width === null) throw new Error(`${path} is not a valid PNG (its header is damaged)`);
  let png: PNG;
  try {
    png = PNG.sync.read(buf);
  } catch (e) {
    // pngjs's own wording ("There are some read requests waiting on finished stream") means the
    // data ends early; say that instead.
    const detail = (e as Error).message;
    throw new Error(
      /read requests|finished stream|unexpected end/i.test(detail)
        ? `${path} is not a valid PNG: the file is cut short (${buf.length} bytes)`
        : `${path} is not a valid PNG (${detail})`,
      { cause: e },
    );
  }
  return {
    width: png.width,
    height: png.height,
    data: new Uint8ClampedArray(png.data.buffer, png.data.byteOffset, png.data.byteLength),
  };
}

/**
 * Makes sure `dir` is a folder this process can write into, creating it (and missing parents)
 * one level at a time. Node's recursive mkdir loops forever on /proc (Node 20), so it is not used;
 * callers run this before the model, so a bad --out fails at once, not after the work. The files
 * an earlier run of the same command wrote there (names matching `own`) are removed, so the folder
 * holds this run's files only (a shorter run left the longer one's frames beside its own record);
 * other files are left alone.
 */
export async function prepareOutputDir(dir: string, own?: RegExp): Promise<void> {
  const abs = resolve(dir);
  const missing: string[] = [];
  for (let p = abs; ;) {
    const st = await stat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw new Error(`cannot use the output folder ${dir}: ${p} cannot be read (${e.code})`);
    });
    if (st) {
      if (!st.isDirectory()) {
        throw new Error(`cannot use the output folder ${dir}: ${p} is a file, not a folder`);
      }
      break;
    }
    missing.unshift(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const p of missing) {
    try {
      await mkdir(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(p)).isDirectory()) continue;
      throw new Error(
        `cannot create the output folder ${dir}: ${dirname(p)} does not take new folders (${code}); choose a folder you can write to`,
        { cause: e },
      );
    }
  }
  const probe = join(abs, `.inbetween-write-check-${process.pid}`);
  try {
    await writeFile(probe, '');
    await rm(probe, { force: true });
  } catch (e) {
    throw new Error(
      `cannot write into the output folder ${dir} (${(e as NodeJS.ErrnoException).code}); choose a folder you can write to`,
      { cause: e },
    );
  }
  if (own)
    for (const entry of await readdir(abs, { withFileTypes: true }))
      if (entry.isFile() && own.test(entry.name)) await rm(join(abs, entry.name), { force: true });
}

/** Writes 8-bit RGBA as PNG. */
export async function writePng(path: string, img: RgbaImage): Promise<void> {
  const png = new PNG({ width: img.width, height: img.height });
  Buffer.from(img.data.buffer, img.data.byteOffset, img.data.byteLength).copy(png.data);
  await writeFile(path, PNG.sync.write(png));
}
