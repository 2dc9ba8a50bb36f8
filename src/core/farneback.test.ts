import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { farnebackFlow } from './farneback';
import { createRgbaImage, type RgbaImage } from './image';

const REPO = resolve(import.meta.dirname, '../..');

/** A textured box on a textured ground, moved by (dx, dy). */
function scene(w: number, h: number, dx: number, dy: number): RgbaImage {
  const img = createRgbaImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const bx = x - dx;
      const by = y - dy;
      const box = bx > 20 && bx < 44 && by > 14 && by < 34;
      const v = box
        ? 60 + 40 * Math.sin(bx * 0.7) * Math.cos(by * 0.5)
        : 170 + 30 * Math.sin(x * 0.21 + y * 0.13);
      img.data.set([v, v * 0.9, 255 - v, 255], (y * w + x) * 4);
    }
  return img;
}

describe('farnebackFlow', () => {
  it('equals the PyTorch Farnebäck of models/training/classical_flow.py (its default settings)', () => {
    const [w, h] = [64, 48];
    const a = scene(w, h, 0, 0);
    const b = scene(w, h, 3, -2);
    const dir = mkdtempSync(join(tmpdir(), 'flow-'));
    writeFileSync(join(dir, 'a.bin'), a.data);
    writeFileSync(join(dir, 'b.bin'), b.data);
    const py = `
import numpy as np, torch
from models.training.classical_flow import Farneback
def load(p):
    x = np.frombuffer(open(p, 'rb').read(), np.uint8).reshape(${h}, ${w}, 4)[..., :3].astype(np.float32)
    return torch.from_numpy(x / 127.5 - 1).permute(2, 0, 1)[None]
f = Farneback(levels=3, iterations=3, window=15, poly_radius=5, poly_sigma=1.2)
with torch.no_grad():
    flow = f(load('${dir}/a.bin'), load('${dir}/b.bin'))[0].numpy().astype(np.float32)
open('${dir}/flow.bin', 'wb').write(flow.tobytes())
`;
    const r = spawnSync('/usr/bin/python3', ['-c', py], { cwd: REPO, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const ref = new Float32Array(new Uint8Array(readFileSync(join(dir, 'flow.bin'))).buffer);
    const flow = farnebackFlow(a, b);
    let worst = 0;
    for (let i = 0; i < w * h; i++) {
      worst = Math.max(
        worst,
        Math.abs(flow.u[i]! - ref[i]!),
        Math.abs(flow.v[i]! - ref[w * h + i]!),
      );
    }
    expect(worst).toBeLessThan(1e-4);
    // And it finds the motion: the box's centre moved by (3, −2).
    const c = 24 * w + 32;
    expect(flow.u[c]).toBeCloseTo(3, 0);
    expect(flow.v[c]).toBeCloseTo(-2, 0);
  }, 60_000);
});
