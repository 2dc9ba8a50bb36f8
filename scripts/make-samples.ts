/**
 * Draws the bundled sample keyframes (public/samples/bounce-{start,end}.png) and their exact middle
 * frame (bounce-middle.png, a ground truth): a cel-style
 * ball with a dark outline and a flat shadow crossing a flat background. The project's own
 * drawing, so it can be bundled; run with `npx tsx scripts/make-samples.ts`.
 *
 * It also draws the kiosk pairs of the demo booth's attract loop,
 * public/samples/kiosk/<id>-{start,end}.png, and their list, public/samples/kiosk/index.json (the
 * bounce pair last): the same cel style (flat colours, dark anti-aliased outlines, flat shadows,
 * a two-tone background) with moderate motions, about 20–35 px between the keyframes: checked with
 * the cel pack's CLI in-betweens, larger moves (60–70 px) came out as double images, while these
 * read as one figure moving (with a soft halo). The bounce pair itself moves far more (~330 px).
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

// ---------------------------------------------------------------------------------------------
// Kiosk pairs: shapes given by signed distances (negative inside, in pixels), drawn like
// `ellipse` above (4×4 supersampled ink band `line` wide centred on the edge, fill inside it).

type Sdf = (x: number, y: number) => number;
type Pt = [number, number];
type Box = [number, number, number, number];

const INK: Rgb = [34, 30, 36];

/** Fills the shape `sdf` (within `box`: x0, y0, x1, y1) with `fill` and a `line`-wide outline. */
function shape(png: PNG, box: Box, sdf: Sdf, fill: Rgb, line = 4, ink: Rgb = INK): void {
  const pad = line + 2;
  const x0 = Math.max(0, Math.floor(box[0] - pad));
  const y0 = Math.max(0, Math.floor(box[1] - pad));
  const x1 = Math.min(W - 1, Math.ceil(box[2] + pad));
  const y1 = Math.min(H - 1, Math.ceil(box[3] + pad));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      let inInk = 0;
      let inFill = 0;
      for (let sy = 0; sy < 4; sy++) {
        for (let sx = 0; sx < 4; sx++) {
          const d = sdf(x + (sx + 0.5) / 4, y + (sy + 0.5) / 4);
          if (d <= line / 2) inInk++;
          if (d <= -line / 2) inFill++;
        }
      }
      if (line > 0) blend(png, x, y, ink, inInk / 16);
      blend(png, x, y, fill, inFill / 16);
    }
  }
}

function boxOf(points: Pt[], grow = 0): Box {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  return [
    Math.min(...xs) - grow,
    Math.min(...ys) - grow,
    Math.max(...xs) + grow,
    Math.max(...ys) + grow,
  ];
}

function segmentDistance(x: number, y: number, a: Pt, b: Pt): number {
  const vx = b[0] - a[0];
  const vy = b[1] - a[1];
  const len2 = vx * vx + vy * vy;
  const t = len2 > 0 ? Math.max(0, Math.min(1, ((x - a[0]) * vx + (y - a[1]) * vy) / len2)) : 0;
  return Math.hypot(x - a[0] - t * vx, y - a[1] - t * vy);
}

/** A disc of radius `r` (an exact distance, unlike `ellipse`). */
function circle(png: PNG, cx: number, cy: number, r: number, fill: Rgb, line = 4): void {
  shape(
    png,
    [cx - r, cy - r, cx + r, cy + r],
    (x, y) => Math.hypot(x - cx, y - cy) - r,
    fill,
    line,
  );
}

/** A closed polygon (even-odd inside test). */
function polygon(png: PNG, points: Pt[], fill: Rgb, line = 4): void {
  const sdf: Sdf = (x, y) => {
    let d = Infinity;
    let inside = false;
    for (let i = 0, j = points.length - 1; i < points.length; j = i++) {
      const a = points[j]!;
      const b = points[i]!;
      d = Math.min(d, segmentDistance(x, y, a, b));
      if (a[1] > y !== b[1] > y && x < ((b[0] - a[0]) * (y - a[1])) / (b[1] - a[1]) + a[0])
        inside = !inside;
    }
    return inside ? -d : d;
  };
  shape(png, boxOf(points), sdf, fill, line);
}

/** A rectangle `w`×`h` centred on (cx, cy), corners rounded by `r`, turned by `angle` radians. */
function roundedRect(
  png: PNG,
  cx: number,
  cy: number,
  w: number,
  h: number,
  r: number,
  fill: Rgb,
  line = 4,
  angle = 0,
): void {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const sdf: Sdf = (x, y) => {
    const lx = (x - cx) * c + (y - cy) * s;
    const ly = -(x - cx) * s + (y - cy) * c;
    const qx = Math.abs(lx) - w / 2 + r;
    const qy = Math.abs(ly) - h / 2 + r;
    return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r;
  };
  const e = Math.hypot(w, h) / 2;
  shape(png, [cx - e, cy - e, cx + e, cy + e], sdf, fill, line);
}

/** A stroke of width `width` with round caps and joins along `points` (ink only, no outline). */
function stroke(png: PNG, points: Pt[], width: number, colour: Rgb = INK): void {
  const sdf: Sdf = (x, y) => {
    let d = Infinity;
    for (let i = 1; i < points.length; i++)
      d = Math.min(d, segmentDistance(x, y, points[i - 1]!, points[i]!));
    return d - width / 2;
  };
  shape(png, boxOf(points, width / 2), sdf, colour, 0);
}

/** A flat shadow: an ellipse in a darker tone of the floor, no outline. */
function shadow(png: PNG, cx: number, cy: number, rx: number, ry: number, tone: Rgb): void {
  ellipse(png, cx, cy, rx, ry, tone, 0, tone);
}

/** Two-tone backdrop: `sky` above the horizon, `floor` below, a dark 3 px line between. */
function backdrop(sky: Rgb, floor: Rgb, horizon: number): PNG {
  const png = new PNG({ width: W, height: H });
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) blend(png, x, y, y > horizon ? floor : sky, 1);
  for (let x = 0; x < W; x++)
    for (let y = horizon - 1; y <= horizon + 1; y++) blend(png, x, y, INK, 1);
  return png;
}

const lerp = (a: number, b: number, t: number): number => a + (b - a) * t;
const rad = (deg: number): number => (deg * Math.PI) / 180;

/** An eye: white with an outline, a pupil shifted by (px, py), a small highlight. */
function eye(png: PNG, x: number, y: number, rx: number, ry: number, px: number, py: number): void {
  ellipse(png, x, y, rx, ry, [255, 255, 255], 3, INK);
  ellipse(png, x + px, y + py, rx * 0.5, ry * 0.55, INK, 0, INK);
  ellipse(
    png,
    x + px - rx * 0.18,
    y + py - ry * 0.22,
    rx * 0.16,
    rx * 0.16,
    [255, 255, 255],
    0,
    INK,
  );
}

/** A green blob with two eyes hops to the right: squashed on the floor, then stretched in the air. */
function blobHop(t: number): PNG {
  const png = backdrop([196, 226, 244], [236, 214, 160], 236);
  const cx = lerp(208, 238, t);
  const rx = lerp(50, 45, t);
  const ry = lerp(36, 42, t);
  const cy = lerp(254, 238, t) - ry;
  shadow(png, cx, 256, lerp(50, 40, t), 8, [206, 180, 124]);
  ellipse(png, cx, cy, rx, ry, [120, 200, 96], 4, INK);
  ellipse(png, cx - rx * 0.45, cy - ry * 0.4, rx * 0.2, ry * 0.14, [186, 234, 164], 0, INK);
  const look = lerp(2, 4, t);
  eye(png, cx - 6, cy - ry * 0.25, 10, 13, look, lerp(1, -2, t));
  eye(png, cx + 22, cy - ry * 0.25, 10, 13, look, lerp(1, -2, t));
  return png;
}

/** A weighted arm swings on a pin, from 5° left of vertical to 5° right. */
function pendulum(t: number): PNG {
  const png = backdrop([238, 226, 206], [176, 150, 124], 266);
  const pivot: Pt = [256, 44];
  roundedRect(png, 256, 28, 120, 22, 6, [120, 128, 146]);
  const a = rad(lerp(-5, 5, t));
  const len = 180;
  const bob: Pt = [pivot[0] + Math.sin(a) * len, pivot[1] + Math.cos(a) * len];
  shadow(png, bob[0], 292, 30, 7, [150, 126, 102]);
  const mid: Pt = [(pivot[0] + bob[0]) / 2, (pivot[1] + bob[1]) / 2];
  roundedRect(png, mid[0], mid[1], 16, len, 8, [196, 138, 82], 4, -a);
  circle(png, bob[0], bob[1], 30, [80, 120, 210]);
  ellipse(png, bob[0] - 10, bob[1] - 11, 9, 6, [164, 192, 240], 0, INK);
  circle(png, pivot[0], pivot[1], 8, [252, 214, 92], 3);
  return png;
}

/** A round face tilts its head from one side to the other, turning about the neck. */
function headTilt(t: number): PNG {
  const png = backdrop([250, 214, 200], [214, 150, 150], 276);
  const pivot: Pt = [256, 262];
  const a = rad(lerp(-5, 5, t));
  // Points given upright relative to the head's centre, turned about the neck.
  const at = (dx: number, dy: number): Pt => {
    const x = dx;
    const y = dy - 112;
    return [
      pivot[0] + x * Math.cos(a) - y * Math.sin(a),
      pivot[1] + x * Math.sin(a) + y * Math.cos(a),
    ];
  };
  roundedRect(png, 256, 300, 200, 80, 36, [90, 140, 200]);
  const skin: Rgb = [246, 196, 160];
  for (const side of [-1, 1]) {
    const [x, y] = at(side * 82, 4);
    ellipse(png, x, y, 14, 20, skin, 4, INK);
  }
  const [hx, hy] = at(0, 0);
  ellipse(png, hx, hy, 84, 88, skin, 4, INK);
  // Hair: a cap along the top of the head outline, with a zigzag fringe.
  const hair: Pt[] = [];
  for (let k = 0; k <= 16; k++) {
    const u = Math.PI * (1.08 + (0.84 * k) / 16);
    hair.push(at(Math.cos(u) * 84, Math.sin(u) * 88));
  }
  hair.push(at(56, -46), at(30, -56), at(8, -44), at(-18, -56), at(-44, -46));
  polygon(png, hair, [96, 64, 50]);
  for (const side of [-1, 1]) {
    const [ex, ey] = at(side * 30, -6);
    eye(png, ex, ey, 13, 16, 0, 2);
    const [kx, ky] = at(side * 48, 26);
    ellipse(png, kx, ky, 11, 7, [240, 160, 150], 0, INK);
  }
  const [nx, ny] = at(0, 18);
  ellipse(png, nx, ny, 7, 6, [226, 160, 126], 3, INK);
  const mouth: Pt[] = [];
  for (let k = 0; k <= 12; k++) {
    const u = k / 12 - 0.5;
    mouth.push(at(u * 44, 44 + 10 * (1 - 4 * u * u)));
  }
  stroke(png, mouth, 5);
  return png;
}

/** Two balls pass: a big blue one rolls right in front of a smaller orange one rolling left. */
function twoBalls(t: number): PNG {
  const png = backdrop([210, 236, 224], [150, 196, 168], 210);
  const bx = lerp(318, 292, t);
  shadow(png, bx, 222, 26, 5, [120, 170, 140]);
  circle(png, bx, 150, 30, [246, 150, 60]);
  ellipse(png, bx - 10, 140, 8, 5, [252, 204, 156], 0, INK);
  const fx = lerp(214, 244, t);
  shadow(png, fx, 262, 40, 7, [120, 170, 140]);
  circle(png, fx, 214, 42, [70, 120, 214]);
  ellipse(png, fx - 14, 200, 11, 7, [160, 192, 244], 0, INK);
  return png;
}

/** A red balloon on a string floats up and a little to the right. */
function balloon(t: number): PNG {
  const png = backdrop([190, 226, 248], [150, 204, 130], 262);
  const x = lerp(250, 262, t);
  const y = lerp(130, 104, t);
  shadow(png, x, 282, lerp(40, 34, t), 7, [120, 176, 104]);
  const string: Pt[] = [];
  for (let k = 0; k <= 10; k++) string.push([x + Math.sin(k * 0.7) * 5 - k * 0.8, y + 62 + k * 9]);
  stroke(png, string, 3);
  polygon(
    png,
    [
      [x - 8, y + 66],
      [x + 8, y + 66],
      [x, y + 54],
    ],
    [226, 70, 90],
    3,
  );
  ellipse(png, x, y, 50, 60, [232, 76, 96], 4, INK);
  ellipse(png, x - 18, y - 24, 10, 14, [246, 170, 180], 0, INK);
  return png;
}

/** A kiosk pair; `draw(t)` draws the scene at t ∈ [0, 1] (0: start, 1: end); none: the bounce pair. */
interface KioskPair {
  id: string;
  title: string;
  caption: string;
  draw?: (t: number) => PNG;
}

const KIOSK: KioskPair[] = [
  {
    id: 'pendulum',
    title: 'Pendulum',
    caption: 'A weighted arm swings from left to right about its pin.',
    draw: pendulum,
  },
  {
    id: 'two-balls',
    title: 'Passing balls',
    caption: 'A blue ball rolls right in front of an orange one rolling left.',
    draw: twoBalls,
  },
  {
    id: 'balloon',
    title: 'Balloon',
    caption: 'A red balloon floats up and drifts a little to the right.',
    draw: balloon,
  },
  {
    id: 'blob-hop',
    title: 'Blob hop',
    caption: 'A green blob springs off the floor and hops to the right.',
    draw: blobHop,
  },
  {
    id: 'head-tilt',
    title: 'Head tilt',
    caption: 'A smiling face tilts its head from one side to the other.',
    draw: headTilt,
  },
  {
    id: 'bounce',
    title: 'Bouncing ball',
    caption: 'A striped ball flies down and across to the right, turning as it goes.',
  },
];

mkdirSync('public/samples', { recursive: true });
writeFileSync('public/samples/bounce-start.png', PNG.sync.write(frame(0)));
writeFileSync('public/samples/bounce-end.png', PNG.sync.write(frame(1)));
// The exact middle frame: a ground truth for τ = 0.5 (a sample triplet).
writeFileSync('public/samples/bounce-middle.png', PNG.sync.write(frame(0.5)));
console.log('wrote public/samples/bounce-{start,middle,end}.png');

mkdirSync('public/samples/kiosk', { recursive: true });
const pairs = KIOSK.map(({ id, title, caption, draw }) => {
  if (!draw)
    return { id, title, caption, start: `samples/${id}-start.png`, end: `samples/${id}-end.png` };
  const start = `samples/kiosk/${id}-start.png`;
  const end = `samples/kiosk/${id}-end.png`;
  writeFileSync(`public/${start}`, PNG.sync.write(draw(0)));
  writeFileSync(`public/${end}`, PNG.sync.write(draw(1)));
  return { id, title, caption, start, end };
});
writeFileSync('public/samples/kiosk/index.json', JSON.stringify({ pairs }, null, 2) + '\n');
console.log(`wrote ${pairs.length - 1} kiosk pairs and public/samples/kiosk/index.json`);
