/**
 * Serves (dev, preview) and emits (build) the files the studio fetches at run time:
 *  - `/models/index.json`: the list of bundled packs (every `models/<dir>/manifest.json`);
 *  - `/models/<dir>/<file>`: the pack files named by each manifest, and nothing else under models/
 *    (training code and data stay private);
 *  - `/ort/<file>`: ONNX Runtime Web's runtime (.mjs + .wasm), self-hosted, never a CDN.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve, sep } from 'node:path';
import type { Plugin } from 'vite';

const root = resolve(import.meta.dirname, '..');
const modelsDir = join(root, 'models');

/**
 * ORT runtime files: the native WebGPU build's (`onnxruntime-web/webgpu`, asyncify) for WebGPU
 * sessions, and the WASM-only build's (`onnxruntime-web/wasm`) for WASM sessions; see
 * src/workers/ortEnv.ts.
 */
export const ORT_RUNTIME_FILES = [
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
] as const;

function ortDistDir(): string {
  const require = createRequire(import.meta.url);
  return dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm'));
}

export interface BundledPackEntry {
  id: string;
  name: string;
  path: string;
  trained: boolean;
}

/**
 * LPIPS graphs built by models/training/export_lpips.py into models/lpips (third-party weights:
 * never committed; served only when a person has built them here).
 */
export function listLpipsFiles(): string[] {
  const manifestPath = join(modelsDir, 'lpips', 'manifest.json');
  if (!existsSync(manifestPath)) return [];
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as {
      format?: unknown;
      graphs?: unknown;
    };
    if (manifest.format !== 'lpips-onnx') return [];
    const files = collectFileNames(manifest.graphs).filter((f) =>
      existsSync(join(modelsDir, 'lpips', f)),
    );
    return ['lpips/manifest.json', ...files.map((f) => `lpips/${f}`)];
  } catch {
    return [];
  }
}

/** Scans models/ for pack folders; a folder with an unreadable manifest is skipped here and
 * reported by the studio's validator when a person opens it. */
export function listBundledPacks(): { entries: BundledPackEntry[]; files: string[] } {
  const entries: BundledPackEntry[] = [];
  const files: string[] = [];
  if (!existsSync(modelsDir)) return { entries, files };
  for (const dir of readdirSync(modelsDir).sort()) {
    const manifestPath = join(modelsDir, dir, 'manifest.json');
    if (!existsSync(manifestPath)) continue;
    let manifest: {
      format?: unknown;
      id?: unknown;
      name?: unknown;
      trained?: unknown;
      graphs?: Record<string, unknown>;
      stages?: unknown;
      constants?: unknown;
      text?: unknown;
    };
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    } catch {
      continue;
    }
    // Other model folders (models/lpips, training outputs) are not interpolation packs.
    if (manifest.format !== 'inbetween-pack') continue;
    entries.push({
      id: String(manifest.id ?? dir),
      name: String(manifest.name ?? dir),
      path: `${dir}/`,
      trained: manifest.trained === true,
    });
    files.push(`${dir}/manifest.json`);
    // Graphs, and format 2's stages, constants and tokenizer.
    const named = {
      graphs: manifest.graphs,
      stages: manifest.stages,
      constants: manifest.constants,
      text: manifest.text,
    };
    for (const f of collectFileNames(named)) {
      const full = join(modelsDir, dir, f);
      // Only plain files inside the pack folder are served.
      if (
        full.startsWith(join(modelsDir, dir) + sep) &&
        existsSync(full) &&
        statSync(full).isFile()
      ) {
        files.push(`${dir}/${f}`);
      }
    }
  }
  return { entries, files };
}

function collectFileNames(node: unknown): string[] {
  const out: string[] = [];
  const visit = (n: unknown): void => {
    if (Array.isArray(n)) n.forEach(visit);
    else if (n && typeof n === 'object') {
      for (const [k, v] of Object.entries(n)) {
        if (k === 'file' && typeof v === 'string' && !v.includes('..')) out.push(v);
        else visit(v);
      }
    }
  };
  visit(node);
  return out;
}

function contentType(name: string): string {
  if (name.endsWith('.json')) return 'application/json';
  if (name.endsWith('.wasm')) return 'application/wasm';
  if (name.endsWith('.mjs') || name.endsWith('.js')) return 'text/javascript';
  return 'application/octet-stream';
}

/** The Vite plugin. */
export function packAssetsPlugin(): Plugin {
  const serve = (url: string): { body: Buffer | string; type: string } | null => {
    const path = decodeURIComponent(url.split('?')[0] ?? '');
    if (path === '/models/index.json') {
      return { body: JSON.stringify(listBundledPacks().entries), type: 'application/json' };
    }
    if (path.startsWith('/models/')) {
      const rel = path.slice('/models/'.length);
      if (!listBundledPacks().files.includes(rel) && !listLpipsFiles().includes(rel)) return null;
      return { body: readFileSync(join(modelsDir, rel)), type: contentType(rel) };
    }
    if (path.startsWith('/ort/')) {
      const name = path.slice('/ort/'.length);
      if (!(ORT_RUNTIME_FILES as readonly string[]).includes(name)) return null;
      return { body: readFileSync(join(ortDistDir(), name)), type: contentType(name) };
    }
    return null;
  };
  return {
    name: 'inbetween-pack-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const hit = req.url ? serve(req.url) : null;
        if (!hit) return next();
        res.setHeader('Content-Type', hit.type);
        res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
        res.setHeader('Cache-Control', 'no-cache');
        res.end(hit.body);
      });
    },
    generateBundle() {
      const { entries, files } = listBundledPacks();
      this.emitFile({
        type: 'asset',
        fileName: 'models/index.json',
        source: JSON.stringify(entries),
      });
      for (const f of [...files, ...listLpipsFiles()]) {
        this.emitFile({
          type: 'asset',
          fileName: `models/${f}`,
          source: readFileSync(join(modelsDir, f)),
        });
      }
      for (const name of ORT_RUNTIME_FILES) {
        this.emitFile({
          type: 'asset',
          fileName: `ort/${name}`,
          source: readFileSync(join(ortDistDir(), name)),
        });
      }
    },
  };
}
