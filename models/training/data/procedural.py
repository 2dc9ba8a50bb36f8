"""Procedurally generated cel-style animation triplets in the ATD-12K layout.

Each clip is a small scene — flat or painted background, shapes and jointed figures with flat
colour fills and dark outlines — whose parameters are continuous functions of time t in [0, 1].
frame1, frame2, frame3 are rendered at t = 0, 0.5 and 1, so frame2 is the exact middle frame.
Objects translate on curved paths, rotate, squash and stretch, and occlude each other; the camera
pans and zooms. Everything is the project's own (generated), so it can be used freely.

    /usr/bin/python3 -m models.training.data.procedural --out data/procedural --train 2000 --val 200

Writes <out>/<split>/<clip>/frame{1,2,3}.png, and in training clips `tau_0.xyz.png` frames at other
positions t (so the denoiser learns every τ, not only ½). Clips are split by seed: train and
validation never share a clip. Deterministic for a given seed. `--style lineart` draws ink lines on
paper instead of colour fills (a distinct slice for the LoRA adapter).
"""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from models.training.data.clipdir import is_complete, partial, publish

SIZES = [(256, 160), (320, 192), (384, 256), (512, 320)]
SUPERSAMPLE = 3


def _ease(t: float, kind: int) -> float:
    if kind == 0:
        return t
    if kind == 1:
        return t * t * (3 - 2 * t)  # smoothstep
    if kind == 2:
        return t * t  # ease in
    return 1 - (1 - t) * (1 - t)  # ease out


def _palette(rng: np.random.Generator, n: int) -> list[tuple[int, int, int]]:
    """Saturated cel colours from random hues."""
    out = []
    for _ in range(n):
        h = rng.uniform(0, 1)
        s = rng.uniform(0.35, 0.9)
        v = rng.uniform(0.55, 1.0)
        i = int(h * 6) % 6
        f = h * 6 - int(h * 6)
        p, q, u = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
        r, g, b = [(v, u, p), (q, v, p), (p, v, u), (p, q, v), (u, p, v), (v, p, q)][i]
        out.append((int(r * 255), int(g * 255), int(b * 255)))
    return out


@dataclass
class Motion:
    """A 2-D path: quadratic Bezier from p0 via c to p1 with an easing curve."""

    p0: np.ndarray
    c: np.ndarray
    p1: np.ndarray
    ease: int

    def at(self, t: float) -> np.ndarray:
        s = _ease(t, self.ease)
        return (1 - s) ** 2 * self.p0 + 2 * (1 - s) * s * self.c + s * s * self.p1


@dataclass
class Shape:
    kind: str  # ellipse | rect | polygon | star | figure
    color: tuple[int, int, int]
    outline: tuple[int, int, int]
    line: float  # outline width in output pixels
    size: tuple[float, float]  # half extents, fraction of frame height
    path: Motion
    angle0: float
    angle1: float
    scale0: tuple[float, float]
    scale1: tuple[float, float]
    sides: int = 5
    irregular: np.ndarray = field(default_factory=lambda: np.ones(1))
    limbs: list[tuple[float, float, float, float]] = field(default_factory=list)  # (len, width, a0, a1)
    ease: int = 1


def _random_shape(rng: np.random.Generator, colors, ink) -> Shape:
    kind = rng.choice(["ellipse", "rect", "polygon", "star", "figure"], p=[0.25, 0.2, 0.2, 0.1, 0.25])
    size = (float(rng.uniform(0.06, 0.22)), float(rng.uniform(0.06, 0.22)))
    start = rng.uniform([0.1, 0.15], [0.9, 0.85])
    travel = rng.normal(0, 0.12, size=2) * rng.choice([0.3, 1.0, 1.6], p=[0.3, 0.5, 0.2])
    end = start + travel
    ctrl = (start + end) / 2 + rng.normal(0, 0.05, size=2)
    sx0, sy0 = 1.0, 1.0
    squash = rng.uniform(-0.25, 0.25) if rng.random() < 0.4 else 0.0
    limbs = []
    if kind == "figure":
        for _ in range(int(rng.integers(2, 5))):
            a0 = rng.uniform(0, 2 * math.pi)
            limbs.append(
                (
                    float(rng.uniform(0.6, 1.4)),
                    float(rng.uniform(0.18, 0.35)),
                    float(a0),
                    float(a0 + rng.normal(0, 0.8)),
                )
            )
    sides = int(rng.integers(3, 8))
    return Shape(
        kind=str(kind),
        color=colors[int(rng.integers(len(colors)))],
        outline=ink,
        line=float(rng.uniform(1.5, 3.5)),
        size=size,
        path=Motion(start, ctrl, end, int(rng.integers(0, 4))),
        angle0=float(rng.uniform(0, 2 * math.pi)),
        angle1=0.0,
        scale0=(sx0, sy0),
        scale1=(1.0 + squash, 1.0 - squash),
        sides=sides,
        irregular=rng.uniform(0.7, 1.3, size=sides),
        limbs=limbs,
        ease=int(rng.integers(0, 4)),
    )


@dataclass
class Scene:
    seed: int
    width: int
    height: int
    background: str  # flat | gradient | painted
    bg_colors: list
    shapes: list
    cam0: tuple[float, float, float]  # pan x, pan y (fraction of width/height), zoom
    cam1: tuple[float, float, float]
    texture: np.ndarray | None
    style: str = "color"


STYLES = ("color", "lineart")
PAPER = (250, 248, 240)


def make_scene(seed: int, size: tuple[int, int] | None = None, style: str = "color") -> Scene:
    """A random scene. style "lineart": dark ink lines on paper (unfilled look), for the LoRA slice."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}")
    rng = np.random.default_rng(seed)
    width, height = size or SIZES[int(rng.integers(len(SIZES)))]
    colors = _palette(rng, 6)
    ink = tuple(int(x) for x in rng.integers(10, 60, size=3))
    if style == "lineart":
        colors, ink = [PAPER] * 6, (20, 20, 24)
    shapes = [_random_shape(rng, colors, ink) for _ in range(int(rng.integers(1, 5)))]
    for s in shapes:
        s.angle1 = s.angle0 + float(rng.normal(0, 0.6))
    background = str(rng.choice(["flat", "gradient", "painted"], p=[0.35, 0.35, 0.3]))
    bg_colors = _palette(rng, 3)
    cam0 = (0.0, 0.0, 1.0)
    cam1 = cam0
    if rng.random() < 0.4:
        cam1 = (
            float(rng.normal(0, 0.06)),
            float(rng.normal(0, 0.04)),
            float(np.clip(rng.normal(1.0, 0.08), 0.85, 1.2)),
        )
    texture = None
    if style == "lineart":
        background, bg_colors = "flat", [PAPER] * 3
    if background == "painted":
        # Low-frequency painted texture, larger than the frame so the camera can pan over it.
        small = rng.uniform(0, 1, size=(6, 9, 3))
        texture = (
            np.asarray(
                Image.fromarray((small * 255).astype(np.uint8))
                .resize((width * 2, height * 2), Image.BICUBIC)
                .filter(ImageFilter.GaussianBlur(radius=width / 12)),
                dtype=np.float32,
            )
            / 255.0
        )
    return Scene(seed, width, height, background, bg_colors, shapes, cam0, cam1, texture, style)


def _camera(scene: Scene, t: float):
    c0, c1 = np.array(scene.cam0), np.array(scene.cam1)
    s = _ease(t, 1)
    px, py, zoom = (1 - s) * c0 + s * c1

    def to_px(x: float, y: float) -> tuple[float, float]:
        # Normalised scene coordinates (y in units of height) to supersampled pixels.
        cx, cy = (x - 0.5 - px) * zoom + 0.5, (y - 0.5 - py) * zoom + 0.5
        return cx * scene.width * SUPERSAMPLE, cy * scene.height * SUPERSAMPLE

    return to_px, zoom, (px, py)


def _background(scene: Scene, t: float, pan) -> Image.Image:
    W, H = scene.width * SUPERSAMPLE, scene.height * SUPERSAMPLE
    a, b, _ = scene.bg_colors
    if scene.background == "flat":
        return Image.new("RGB", (W, H), a)
    if scene.background == "gradient":
        ys = np.linspace(0, 1, H)[:, None, None] + pan[1]
        grad = (1 - ys) * np.array(a) + ys * np.array(b)
        return Image.fromarray(np.clip(np.broadcast_to(grad, (H, W, 3)), 0, 255).astype(np.uint8))
    tex = scene.texture
    th, tw = tex.shape[:2]
    ox = int(np.clip((0.25 + pan[0] * 0.5) * tw, 0, tw - scene.width))
    oy = int(np.clip((0.25 + pan[1] * 0.5) * th, 0, th - scene.height))
    crop = tex[oy : oy + scene.height, ox : ox + scene.width]
    base = np.array(a, dtype=np.float32) / 255.0
    img = np.clip(base * 0.6 + crop * 0.4, 0, 1)
    return Image.fromarray((img * 255).astype(np.uint8)).resize((W, H), Image.BILINEAR)


def _poly_points(shape: Shape, center, angle, sx, sy, to_px, aspect) -> list[tuple[float, float]]:
    """Outline points; sizes are fractions of the frame height, `aspect` = height / width."""
    rx, ry = shape.size[0] * sx, shape.size[1] * sy
    pts = []
    if shape.kind == "rect":
        local = [(-rx, -ry), (rx, -ry), (rx, ry), (-rx, ry)]
    elif shape.kind == "star":
        n = shape.sides + 2
        local = [
            (
                (rx if i % 2 == 0 else rx * 0.45) * math.cos(math.pi * i / n),
                (ry if i % 2 == 0 else ry * 0.45) * math.sin(math.pi * i / n),
            )
            for i in range(2 * n)
        ]
    elif shape.kind == "polygon":
        local = [
            (
                rx * shape.irregular[i] * math.cos(2 * math.pi * i / shape.sides),
                ry * shape.irregular[i] * math.sin(2 * math.pi * i / shape.sides),
            )
            for i in range(shape.sides)
        ]
    else:  # ellipse
        local = [(rx * math.cos(2 * math.pi * i / 48), ry * math.sin(2 * math.pi * i / 48)) for i in range(48)]
    ca, sa = math.cos(angle), math.sin(angle)
    for lx, ly in local:
        x = center[0] + (lx * ca - ly * sa) * aspect
        y = center[1] + (lx * sa + ly * ca)
        pts.append(to_px(x, y))
    return pts


def render(scene: Scene, t: float) -> Image.Image:
    """Renders the scene at time t (0…1) at its output size."""
    to_px, zoom, pan = _camera(scene, t)
    aspect = scene.height / scene.width
    img = _background(scene, t, pan)
    draw = ImageDraw.Draw(img)
    for shape in scene.shapes:
        center = shape.path.at(t)
        s = _ease(t, shape.ease)
        angle = (1 - s) * shape.angle0 + s * shape.angle1
        sx = (1 - s) * shape.scale0[0] + s * shape.scale1[0]
        sy = (1 - s) * shape.scale0[1] + s * shape.scale1[1]
        line = max(1, int(round(shape.line * SUPERSAMPLE * zoom)))
        if shape.kind == "figure":
            # A jointed figure: limbs (capsules) hinged at the body, drawn under the body.
            for length, width, a0, a1 in shape.limbs:
                a = (1 - s) * a0 + s * a1 + angle
                r = shape.size[1] * length
                end = (center[0] + math.cos(a) * r * aspect, center[1] + math.sin(a) * r)
                p0, p1 = to_px(*center), to_px(*end)
                wpx = shape.size[1] * width * scene.height * SUPERSAMPLE * zoom
                draw.line([p0, p1], fill=shape.outline, width=int(wpx + 2 * line))
                for p in (p1,):
                    rr = wpx / 2 + line
                    draw.ellipse([p[0] - rr, p[1] - rr, p[0] + rr, p[1] + rr], fill=shape.outline)
                draw.line([p0, p1], fill=shape.color, width=max(1, int(wpx)))
                rr = wpx / 2
                draw.ellipse([p1[0] - rr, p1[1] - rr, p1[0] + rr, p1[1] + rr], fill=shape.color)
            body = Shape(**{**shape.__dict__, "kind": "ellipse"})
            pts = _poly_points(body, center, angle, sx, sy, to_px, aspect)
        else:
            pts = _poly_points(shape, center, angle, sx, sy, to_px, aspect)
        draw.polygon(pts, fill=shape.color)
        draw.line(pts + [pts[0]], fill=shape.outline, width=line, joint="curve")
    return img.resize((scene.width, scene.height), Image.LANCZOS)


def extra_times(seed: int, n: int) -> list[float]:
    """n positions in (0.1, 0.9) besides ½, rounded to 1/1000 (they are written into file names)."""
    rng = np.random.default_rng(seed + 7_777_777)
    return [round(float(t), 3) for t in rng.uniform(0.1, 0.9, size=n)]


def write_clip(
    root: Path, split: str, seed: int, size: tuple[int, int] | None = None, style: str = "color", extra_taus: int = 0
) -> Path:
    """frame1/2/3 at t = 0, ½, 1 (ATD-12K layout), plus `extra_taus` frames `tau_0.xyz.png` at other t."""
    clip = root / split / f"{'proc' if style == 'color' else style}_{seed:07d}"
    times = [("frame1.png", 0.0), ("frame2.png", 0.5), ("frame3.png", 1.0)]
    times += [(f"tau_{t:.3f}.png", t) for t in extra_times(seed, extra_taus)]
    if size is None and is_complete(clip, [n for n, _ in times]):
        return clip  # an earlier run wrote it whole (clipdir.py); a clip at a given size is always drawn anew
    scene = make_scene(seed, size, style)
    tmp = partial(root, split, clip.name)
    for name, t in times:
        render(scene, t).save(tmp / name, optimize=False, compress_level=1)
    return publish(tmp, clip)


# Validation clips use seeds far from training seeds, so the two splits never share a scene.
VAL_SEED_OFFSET = 10_000_000


def build(root: Path, n_train: int, n_val: int, base_seed: int = 0, style: str = "color", extra_taus: int = 0) -> None:
    for i in range(n_train):
        write_clip(root, "train", base_seed + i, style=style, extra_taus=extra_taus)
    for i in range(n_val):
        write_clip(root, "val", VAL_SEED_OFFSET + base_seed + i, style=style)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/procedural")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--style", choices=STYLES, default="color", help="lineart: ink on paper (the LoRA slice)")
    ap.add_argument("--extra-taus", type=int, default=2, help="training clips also get frames at this many other t")
    args = ap.parse_args()
    build(Path(args.out), args.train, args.val, args.seed, args.style, args.extra_taus)
    print(f"wrote {args.train} train and {args.val} val clips to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
