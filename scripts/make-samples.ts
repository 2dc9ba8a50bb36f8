/**
 * Draws the bundled sample keyframes (public/samples/bounce-{start,end}.png) and their exact middle
 * frame (bounce-middle.png, a ground truth): a cel-style
 * ball with a dark outline and a flat shadow crossing a flat background. The project's own
 * drawing, so it can be bundled; run with `npx tsx scripts/make-samples.ts`.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { PNG } from 'pngjs';

type Rgb = [number, number, number];
const W = 512;
const H = 320;

function blend(png: PNG, x: number, y: number, c: Rgb, a: number): void {
  if (x < 0 || y < 0 || x >= W || y >= H || a <= 0) return;
  const i = (y * W + x) * 4;
  const d = png.data;
  for (let k = 0; k < 3; k++) d[i + k] = Math.round(d[i + k]! * (1 - a) + c[k]! * a);
  d[i + 3] = 255;
}

/** Fills an ellipse with `fill` and a `line`-wide dark outline, anti-aliased by 4×4 supersampling. */
function ellipse(
  png: PNG,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  fill: Rgb,
  line: number,
  ink: Rgb,
): void {
  for (let y = Math.floor(cy - ry - line - 1); y <= cy + ry + line + 1; y++) {
    for (let x = Math.floor(cx - rx - line - 1); x <= cx + rx + line + 1; x++) {
      let inInk = 0;
      let inFill = 0;
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          const px = x + (sx + 0.5) / 4 - cx;
          const py = y + (sy + 0.5) / 4 - cy;
          const r = Math.hypot(px / rx, py / ry);
          const edge = (r - 1) * Math.min(rx, ry);
          if (edge <= line / 2) inInk++;
          if (edge <= -line / 2) inFill++;
        }
      }
      blend(png, x, y, ink, inInk / 16);
      blend(png, x, y, fill, inFill / 16);
    }
  }
}

function frame(t: number): PNG {
  const png = new PNG({ width: W, height: H });
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const ground = y > 230;
      blend(png, x, y, ground ? [132, 196, 120] : [182, 222, 246], 1);
    }
  }
  for (let x = 0; x < W; x++) for (let y = 229; y < 232; y++) blend(png, x, y, [40, 44, 52], 1);
  const cx = 90 + t * 330;
  const cy = 110 + t * 60;
  ellipse(png, cx, 236, 46 - t * 6, 7, [96, 150, 88], 0, [96, 150, 88]);
  ellipse(png, cx, cy, 48, 48, [236, 92, 64], 4, [34, 30, 36]);
  ellipse(png, cx - 16, cy - 18, 12, 8, [250, 196, 170], 0, [250, 196, 170]);
  // A stripe around the ball that rotates with it.
  const angle = t * Math.PI * 0.6;
  for (let s = -40; s <= 40; s += 0.5) {
    const x = Math.round(cx + Math.cos(angle) * s);
    const y = Math.round(cy + Math.sin(angle) * s);
    for (let k = -3; k <= 3; k++)
      blend(
        png,
        x - Math.round(Math.sin(angle) * k),
        y + Math.round(Math.cos(angle) * k),
        [252, 214, 92],
        1,
      );
  }
  return png;
}

mkdirSync('public/samples', { recursive: true });
writeFileSync('public/samples/bounce-start.png', PNG.sync.write(frame(0)));
writeFileSync('public/samples/bounce-end.png', PNG.sync.write(frame(1)));
// The exact middle frame: a ground truth for τ = 0.5 (a sample triplet).
writeFileSync('public/samples/bounce-middle.png', PNG.sync.write(frame(0.5)));
console.log('wrote public/samples/bounce-{start,middle,end}.png');
