/**
 * Test fixture shared by the LPIPS and scoring suites: the reference values of
 * ../shared/data/metrics-reference.json and a folder of LPIPS graphs — models/lpips when it is what
 * models/training/export_lpips.py would build now from ../shared/data/lpips, otherwise a fresh build
 * in a temporary folder. Missing shared data throws (suites fail, never skip).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const SHARED = resolve(REPO, '..', 'shared');
export const LPIPS_DATA = join(SHARED, 'data', 'lpips');
export const REFERENCE = join(SHARED, 'data', 'metrics-reference.json');
const EXPORTER = join(REPO, 'models', 'training', 'export_lpips.py');
const BUILT = join(REPO, 'models', 'lpips');
const BACKBONES = ['alex', 'squeeze'] as const;

/** One pair of metrics-reference.json; paths are relative to ../shared. */
export interface ReferencePair {
  a: string;
  b: string;
  size: [number, number, number];
  psnr_rgb_uint8: number;
  ssim_rgb_gauss: number;
  ssim_y_gauss: number;
  'lpips_alex_v0.1': number;
  'lpips_squeeze_v0.1': number;
}

const sha256File = (path: string): string =>
  createHash('sha256').update(readFileSync(path)).digest('hex');

/** models/lpips, if it is what the exporter would build now from ../shared/data/lpips. */
function reusableBuild(): string | undefined {
  try {
    const m = JSON.parse(readFileSync(join(BUILT, 'manifest.json'), 'utf8')) as {
      exporter?: { sha256?: string };
      graphs: Record<string, { file: string; sha256: string; weights?: { sha256: string }[] }>;
    };
    if (m.exporter?.sha256 !== sha256File(EXPORTER)) return undefined;
    for (const b of BACKBONES) {
      const g = m.graphs[b];
      const source = join(LPIPS_DATA, `lpips_${b}_v0.1.safetensors`);
      if (!g || g.weights?.length !== 1 || g.weights[0]!.sha256 !== sha256File(source))
        return undefined;
      if (sha256File(join(BUILT, g.file)) !== g.sha256) return undefined;
    }
    return BUILT;
  } catch {
    return undefined;
  }
}

/** Throws a clear error naming what is missing from ../shared/data. */
export function assertSharedData(): void {
  const missing = [
    ...BACKBONES.map((b) => join(LPIPS_DATA, `lpips_${b}_v0.1.safetensors`)),
    REFERENCE,
  ].filter((p) => !existsSync(p));
  if (missing.length) {
    throw new Error(
      `LPIPS test data missing: ${missing.join(', ')} — ../shared/data beside the repository must hold data/lpips and metrics-reference.json`,
    );
  }
}

/** The reference pairs. */
export function readReferencePairs(): ReferencePair[] {
  assertSharedData();
  return (JSON.parse(readFileSync(REFERENCE, 'utf8')) as { pairs: ReferencePair[] }).pairs;
}

/** A folder holding the LPIPS graphs and their manifest, and how to clean it up afterwards. */
export function prepareLpipsGraphs(): { dir: string; cleanup: () => void } {
  assertSharedData();
  const reuse = reusableBuild();
  if (reuse) return { dir: reuse, cleanup: () => undefined };
  const tmp = mkdtempSync(join(tmpdir(), 'lpips-graphs-'));
  const proc = spawnSync('/usr/bin/python3', [EXPORTER, '--out', tmp], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 240_000,
  });
  if (proc.status !== 0) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(
      `export_lpips.py failed (status ${proc.status}): ${(proc.stderr || String(proc.error)).slice(-3000)}`,
    );
  }
  return { dir: tmp, cleanup: () => rmSync(tmp, { recursive: true, force: true }) };
}
