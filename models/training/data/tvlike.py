"""Triplets that look and move like TV animation, in the ATD-12K layout: the project's own stand-in for
real drawn cels (issue 20), since the procedural set (procedural.py: flat shapes, small motions on
plain backdrops) does not predict how a pack does on real animation.

Each clip is a scene at 512×320 whose every parameter is a continuous function of time t; frame1,
frame2 and frame3 are rendered at t = 0, ½ and 1, so frame2 is the exact middle frame. What makes it
look like a TV cut rather than procedural.py's shapes:

- **Painted backgrounds** larger than the frame: a sky gradient, hills and buildings with painted
  (multi-scale noise) texture, soft shading bands; the camera pans 0–60 px and zooms (0.92–1.1×)
  across them, as in a camera move over a background painting.
- **Characters** built of parts: torso, arm, head, face (eyes with irises and highlights, mouth),
  hair as a cap plus 7–15 pointed strands that swing with a lag; each part cel-shaded (a base
  colour with a painted gradient that moves with the part, a hard shadow tone on the side away from
  the light, a highlight on the hair) and outlined in ink 1–4 px wide (thinner inner lines between
  hair strands).
- **Motion of TV size**: characters travel 20–100 px along curved eased paths, heads turn and tilt,
  arms swing, so a head or a face moves by tens of pixels between keyframes; parts occlude each
  other, and in some clips a foreground prop (a post, a bush) slides past faster than the
  background (parallax) and covers part of a character.
- A light blur at the end, as frames taken from video are.

With `--flows`, training clips also get `flows_0.500.npz` (float16 `to_start`, `to_end`, each [2, H, W]):
the true backward flows from frame2 to frame1 and frame3 (`flows`: exact for the backdrop, the prop
and rigid parts; hair swing and shading are not followed): the supervision of the pack's learned
motion graph (flow_net.py). `--backfill-flows` adds the file to clips written without it.

Everything is generated (the project's own, free to use). Validation and training clips come from
disjoint seeds (`VAL_SEED_OFFSET`), so a pack can be trained on the train split and validated on the
val split without sharing a scene.

    /usr/bin/python3 -m models.training.data.tvlike --out data/tvlike --val 60 [--train 0]
"""
from __future__ import annotations

import argparse
import colorsys
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter

from models.training.data.clipdir import is_complete, partial, publish

WIDTH, HEIGHT = 512, 320
SS = 2  # supersampling
VAL_SEED_OFFSET = 20_000_000


def _ease(t: float, kind: int) -> float:
    return [t, t * t * (3 - 2 * t), t * t, 1 - (1 - t) ** 2][kind]


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, min(max(s, 0), 1), min(max(v, 0), 1))) * 255


def _noise(rng: np.random.Generator, h: int, w: int, cells: tuple[int, ...] = (3, 8, 24, 64)) -> np.ndarray:
    """Multi-scale value noise in about [-1, 1], [h, w] (painted texture)."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for c in cells:
        small = rng.normal(0, 1, (max(2, h * c // w + 2), c + 2)).astype(np.float32)
        t = torch.from_numpy(small)[None, None]
        out += amp * F.interpolate(t, size=(h, w), mode="bicubic", align_corners=False)[0, 0].numpy()
        amp *= 0.55
    return out / 1.6


def _mask(size: tuple[int, int], polys: list[list[tuple[float, float]]]) -> np.ndarray:
    img = Image.new("L", size, 0)
    d = ImageDraw.Draw(img)
    for p in polys:
        if len(p) >= 3:
            d.polygon(p, fill=255)
    return np.asarray(img, dtype=np.float32) / 255.0


def _dilate(m: np.ndarray, r: int) -> np.ndarray:
    if r <= 0:
        return m
    t = torch.from_numpy(m)[None, None]
    return F.max_pool2d(t, 2 * r + 1, 1, r)[0, 0].numpy()


def _shift(m: np.ndarray, dx: int, dy: int) -> np.ndarray:
    out = np.zeros_like(m)
    h, w = m.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = m[ys, xs]
    return out


@dataclass
class Affine:
    """A 2-D similarity: x' = R(angle)·(s·x) + (tx, ty)."""

    tx: float
    ty: float
    angle: float = 0.0
    scale: float = 1.0

    def apply(self, pts: np.ndarray) -> np.ndarray:
        c, s = math.cos(self.angle), math.sin(self.angle)
        x, y = pts[:, 0] * self.scale, pts[:, 1] * self.scale
        return np.stack([c * x - s * y + self.tx, s * x + c * y + self.ty], 1)

    def invert(self, pts: np.ndarray) -> np.ndarray:
        """Points mapped back to local coordinates (the inverse of `apply`)."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        x, y = pts[:, 0] - self.tx, pts[:, 1] - self.ty
        return np.stack([c * x + s * y, -s * x + c * y], 1) / self.scale

    def then(self, outer: "Affine") -> "Affine":
        o = outer.apply(np.array([[self.tx, self.ty]]))[0]
        return Affine(float(o[0]), float(o[1]), self.angle + outer.angle, self.scale * outer.scale)


@dataclass
class Part:
    """A filled, shaded, outlined piece of a character in its parent's coordinates (pixels)."""

    polys: list  # list of [N, 2] arrays (local coordinates)
    color: np.ndarray
    shadow: np.ndarray
    line: float
    inner_lines: list = field(default_factory=list)  # polylines drawn thin inside the part
    highlight: np.ndarray | None = None


def _ellipse(rx: float, ry: float, n: int = 40, cx: float = 0.0, cy: float = 0.0) -> np.ndarray:
    a = np.linspace(0, 2 * math.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(a), cy + ry * np.sin(a)], 1)


def _capsule(length: float, width: float, n: int = 12) -> np.ndarray:
    """From (0, 0) along +y to (0, length), rounded ends."""
    a = np.linspace(0, math.pi, n)
    bottom = np.stack([width * np.cos(a), length + width * np.sin(a)], 1)
    top = np.stack([-width * np.cos(a), -width * np.sin(a)], 1)
    return np.concatenate([bottom, top])


@dataclass
class Character:
    height: float  # head radius in output px
    start: np.ndarray
    ctrl: np.ndarray
    end: np.ndarray
    ease: int
    tilt: tuple[float, float]
    turn: tuple[float, float]
    arm: tuple[float, float]
    skin: np.ndarray
    hair: np.ndarray
    cloth: np.ndarray
    eye: np.ndarray
    line: float
    strands: list  # (base angle, length, width, swing)
    light: tuple[int, int]


def _make_character(rng: np.random.Generator, bounds: tuple[float, float]) -> Character:
    w, h = bounds
    r = float(rng.uniform(30, 85))
    start = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.35, 0.75) * h])
    dist = float(rng.uniform(20, 100))
    ang = float(rng.normal(0, 0.5)) + (math.pi if rng.random() < 0.5 else 0.0)
    end = start + dist * np.array([math.cos(ang), math.sin(ang) * 0.6])
    ctrl = (start + end) / 2 + rng.normal(0, dist * 0.15, 2)
    hue = rng.uniform(0, 1)
    hair = _hsv(hue, rng.uniform(0.3, 0.9), rng.uniform(0.25, 0.95))
    skin = _hsv(rng.uniform(0.03, 0.09), rng.uniform(0.15, 0.4), rng.uniform(0.85, 1.0))
    cloth = _hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.85), rng.uniform(0.35, 0.95))
    eye = _hsv(rng.uniform(0, 1), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.8))
    rng.uniform(0.05, 0.25)  # a draw kept (once an ink colour; outlines use one ink) so seeds keep their scenes
    strands = []
    for _ in range(int(rng.integers(7, 16))):
        strands.append(
            (
                float(rng.uniform(-2.6, -0.5)),  # base angle on the head (up is -π/2)
                float(rng.uniform(0.5, 1.4)),
                float(rng.uniform(0.18, 0.35)),
                float(rng.normal(0, 0.25)),
            )
        )
    rng.integers(1 << 30)  # likewise a draw kept (once a per-character seed)
    return Character(
        height=r,
        start=start,
        ctrl=ctrl,
        end=end,
        ease=int(rng.integers(4)),
        tilt=(float(rng.normal(0, 0.12)), float(rng.normal(0, 0.22))),
        turn=(float(rng.uniform(-0.3, 0.3)), float(rng.uniform(-0.3, 0.3))),
        arm=(float(rng.uniform(-1.2, 1.2)), float(rng.uniform(-1.2, 1.2))),
        skin=skin,
        hair=hair,
        cloth=cloth,
        eye=eye,
        line=float(rng.uniform(1.0, 4.0)),
        strands=strands,
        light=(int(rng.choice([-1, 1])), int(rng.choice([-1, 0, 1]))),
    )


def _character_parts(c: Character, t: float) -> list[tuple[Part, Affine]]:
    """The character's parts at time t, each with its placement in frame pixels (before the camera)."""
    s = _ease(t, c.ease)
    pos = (1 - s) ** 2 * c.start + 2 * (1 - s) * s * c.ctrl + s * s * c.end
    r = c.height
    bob = math.sin(t * math.pi * 2) * r * 0.05
    root = Affine(float(pos[0]), float(pos[1] + bob), 0.0, 1.0)
    tilt = (1 - s) * c.tilt[0] + s * c.tilt[1]
    turn = (1 - s) * c.turn[0] + s * c.turn[1]
    arm = (1 - s) * c.arm[0] + s * c.arm[1]
    dark = lambda col, k=0.72: col * k  # noqa: E731
    parts: list[tuple[Part, Affine]] = []
    body = Affine(0.0, r * 1.9, tilt * 0.4).then(root)
    arm_at = Affine(-r * 0.8, -r * 0.5, arm).then(body)
    parts.append((Part([_capsule(r * 1.4, r * 0.22)], c.cloth * 0.92, dark(c.cloth), c.line), arm_at))
    torso = np.array([[-r * 0.9, -r * 0.8], [r * 0.9, -r * 0.8], [r * 1.2, r * 1.6], [-r * 1.2, r * 1.6]])
    parts.append((Part([torso], c.cloth, dark(c.cloth), c.line), body))
    head = Affine(0.0, 0.0, tilt).then(root)
    parts.append((Part([_ellipse(r, r * 1.08)], c.skin, dark(c.skin, 0.85), c.line), head))
    # Face: eyes shift with the head's turn.
    fx = turn * r * 0.6
    for side in (-1, 1):
        ex = fx + side * r * 0.38
        parts.append(
            (
                Part(
                    [_ellipse(r * 0.17, r * 0.24, 24, ex, r * 0.22)],
                    np.array([250.0, 250, 250]),
                    np.array([225.0, 225, 235]),
                    c.line * 0.7,
                ),
                head,
            )
        )
        parts.append(
            (
                Part(
                    [_ellipse(r * 0.1, r * 0.16, 20, ex + turn * r * 0.05, r * 0.26)],
                    c.eye,
                    dark(c.eye, 0.55),
                    0.0,
                    highlight=np.array([255.0, 255, 255]),
                ),
                head,
            )
        )
    mouth = np.array([[fx - r * 0.15, r * 0.62], [fx, r * 0.7], [fx + r * 0.15, r * 0.62], [fx, r * 0.66]])
    parts.append((Part([mouth], dark(c.skin, 0.6), dark(c.skin, 0.6), c.line * 0.5), head))
    # Hair: a cap over the top of the head plus pointed strands swinging with a lag.
    cap = _ellipse(r * 1.08, r * 0.62, 40, fx * 0.3, -r * 0.55)
    polys, inner = [cap], []
    lag = math.sin((t - 0.15) * math.pi) * 0.25
    for base, length, width, swing in c.strands:
        a = base + swing * (s - 0.5) + lag * 0.5
        bx, by = math.cos(a) * r * 0.95 + fx * 0.3, math.sin(a) * r * 0.95 - r * 0.25
        tip_a = a + math.pi * 0.5 * (1 if base > -math.pi / 2 else -1) * 0.6 + swing
        tx, ty = bx + math.cos(tip_a) * r * length, by + math.sin(tip_a) * r * length + r * 0.3
        nx, ny = -math.sin(a) * r * width, math.cos(a) * r * width
        polys.append(np.array([[bx - nx, by - ny], [tx, ty], [bx + nx, by + ny]]))
        inner.append(np.array([[bx, by], [(bx + tx) / 2, (by + ty) / 2]]))
    parts.append(
        (Part(polys, c.hair, dark(c.hair, 0.62), c.line, inner, highlight=np.minimum(c.hair * 1.35 + 40, 255)), head)
    )
    return parts


@dataclass
class Scene:
    seed: int
    background: np.ndarray  # [Hb, Wb, 3] float, larger than the frame
    cam0: tuple[float, float, float]
    cam1: tuple[float, float, float]
    cam_ease: int
    characters: list
    prop: dict | None


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """A painted backdrop [h, w, 3] (floats 0–255): sky gradient, hills or buildings, painted texture."""
    y = np.linspace(0, 1, h)[:, None, None]
    top, bottom = _hsv(rng.uniform(0.5, 0.68), rng.uniform(0.2, 0.6), 1.0), _hsv(rng.uniform(0, 1), 0.15, 0.98)
    img = (1 - y) * top + y * bottom + np.zeros((1, w, 1))
    img = img + _noise(rng, h, w, (2, 5))[..., None] * 10
    horizon = rng.uniform(0.45, 0.7) * h
    for layer in range(int(rng.integers(2, 4))):
        col = _hsv(
            rng.uniform(0.15, 0.45) if rng.random() < 0.6 else rng.uniform(0, 1),
            rng.uniform(0.2, 0.6),
            rng.uniform(0.35, 0.85),
        )
        if rng.random() < 0.5:  # hills
            ridge = horizon - layer * 18 + _noise(rng, 1, w, (2, 6, 14))[0] * rng.uniform(15, 45)
        else:  # buildings: a skyline of blocks
            ridge = np.full(w, horizon + 30 - layer * 10, np.float32)
            x = 0
            while x < w:
                bw = int(rng.uniform(25, 90))
                ridge[x : x + bw] = horizon - rng.uniform(10, 110) + layer * 20
                x += bw + int(rng.uniform(0, 12))
        ys = np.arange(h)[:, None]
        m = (ys >= ridge[None, :]).astype(np.float32)
        tex = _noise(rng, h, w, (4, 16, 48, 120))[..., None] * rng.uniform(8, 22)
        shade = (ys - ridge[None, :]).clip(0, 60)[..., None] / 60.0 * -25  # darker under the ridge
        fill = col + tex + shade
        img = img * (1 - m[..., None]) + fill * m[..., None]
        edge = (m - _shift(m, 0, 2)).clip(0, 1)[..., None]  # a thin darker line on the ridge
        img = img * (1 - edge * 0.5) + col * 0.5 * edge * 0.5
    return np.clip(img, 0, 255).astype(np.float32)


def make_scene(seed: int) -> Scene:
    rng = np.random.default_rng(seed)
    margin = 1.35
    bw, bh = int(WIDTH * margin), int(HEIGHT * margin)
    bg = _background(rng, bw, bh)
    cam0 = (0.0, 0.0, 1.0)
    cam1 = (0.0, 0.0, 1.0)
    kind = rng.random()
    if kind < 0.4:  # pan
        a = rng.uniform(0, 2 * math.pi)
        d = rng.uniform(10, 60)
        cam1 = (d * math.cos(a), d * math.sin(a) * 0.5, 1.0)
    elif kind < 0.6:  # zoom
        cam1 = (float(rng.normal(0, 8)), float(rng.normal(0, 5)), float(rng.uniform(0.92, 1.1)))
    chars = [_make_character(rng, (WIDTH, HEIGHT)) for _ in range(int(rng.choice([1, 1, 2])))]
    prop = None
    if rng.random() < 0.3:
        x0 = rng.uniform(-0.1, 1.1) * WIDTH
        prop = {
            "x0": float(x0),
            "x1": float(x0 + rng.choice([-1, 1]) * rng.uniform(40, 140)),
            "width": float(rng.uniform(18, 60)),
            "kind": "post" if rng.random() < 0.5 else "bush",
            "color": _hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6)),
            "top": float(rng.uniform(0.05, 0.6) * HEIGHT),
        }
    return Scene(seed, bg, cam0, cam1, int(rng.integers(4)), chars, prop)


def _camera(scene: Scene, t: float) -> Affine:
    """Frame pixel (output scale) → background pixel, as a similarity about the frame's centre."""
    s = _ease(t, scene.cam_ease)
    px, py, z = ((1 - s) * np.array(scene.cam0) + s * np.array(scene.cam1)).tolist()
    return Affine(px, py, 0.0, z)


def _draw_part(
    canvas: np.ndarray, part: Part, place: Affine, light: tuple[int, int], ids: np.ndarray | None = None, k: int = 0
) -> None:
    """Fills, shades and outlines one part on the supersampled canvas [H, W, 3] in place; with `ids`
    ([H, W] ints), also writes `k` where the part (outline included) covers a pixel."""
    H, W = canvas.shape[:2]
    pts = [place.apply(poly) * SS for poly in part.polys]
    # Work in the part's bounding box with a margin wider than any shift or outline below (the same
    # result as on the whole canvas: every mask is zero outside it).
    allp = np.concatenate(pts)
    margin = 80 + int(part.line * SS * place.scale)
    x0, y0 = (max(0, int(math.floor(v)) - margin) for v in allp.min(0))
    x1, y1 = min(W, int(math.ceil(allp[:, 0].max())) + margin), min(H, int(math.ceil(allp[:, 1].max())) + margin)
    if x1 <= x0 or y1 <= y0:
        return
    canvas = canvas[y0:y1, x0:x1]  # a view: writes below land in the frame
    idv = ids[y0:y1, x0:x1] if ids is not None else None
    h, w = canvas.shape[:2]
    polys = [[(float(x) - x0, float(y) - y0) for x, y in p] for p in pts]
    m = _mask((w, h), polys)
    if m.max() == 0:
        return
    # Painted gradient attached to the part: along its own local y.
    ys = (np.arange(h, dtype=np.float32)[:, None] + y0) / SS - place.ty
    xs = (np.arange(w, dtype=np.float32)[None, :] + x0) / SS - place.tx
    c, s_ = math.cos(-place.angle), math.sin(-place.angle)
    local_y = (s_ * xs + c * ys) / max(place.scale, 1e-3)
    grad = np.clip(local_y / 80.0, -1, 1)[..., None] * 14.0
    off = max(2, int(round(3 * SS * place.scale)))
    shadow = (m * (1 - _shift(m, -light[0] * off * 2, -light[1] * off * 2 + off))).clip(0, 1)
    fill = part.color + grad
    fill = fill * (1 - shadow[..., None]) + (part.shadow + grad * 0.5) * shadow[..., None]
    if part.highlight is not None:
        hl = (
            m
            * _shift(m, light[0] * off * 3, light[1] * off * 3 + off * 2)
            * (1 - _shift(m, light[0] * off * 5, light[1] * off * 5 + off * 4))
        ).clip(0, 1)
        fill = fill * (1 - hl[..., None] * 0.8) + part.highlight * hl[..., None] * 0.8
    canvas[:] = canvas * (1 - m[..., None]) + np.clip(fill, 0, 255) * m[..., None]
    lw = int(round(part.line * SS * place.scale / 2))
    ring = np.zeros_like(m)
    if lw > 0:
        ink = np.array([20.0, 18, 24])
        ring = (_dilate(m, lw) - m).clip(0, 1)
        canvas[:] = canvas * (1 - ring[..., None]) + ink * ring[..., None]
    if idv is not None:
        idv[(m + ring) > 0.5] = k
    if part.inner_lines:
        img = Image.new("L", (w, h), 0)
        d = ImageDraw.Draw(img)
        for line in part.inner_lines:
            d.line(
                [(float(x) - x0, float(y) - y0) for x, y in place.apply(line) * SS],
                fill=255,
                width=max(1, int(part.line * SS * 0.5)),
            )
        il = np.asarray(img, dtype=np.float32)[..., None] / 255.0 * m[..., None]
        canvas[:] = canvas * (1 - il) + part.shadow * 0.7 * il


def _frame_transform(scene: Scene, t: float) -> Affine:
    """Background-plane coordinates (where characters live) → frame pixels at time t."""
    cam = _camera(scene, t)
    z = cam.scale
    return Affine(-(WIDTH / 2 + cam.tx) / z + WIDTH / 2, -(HEIGHT / 2 + cam.ty) / z + HEIGHT / 2, 0.0, 1 / z)


def _prop_x(scene: Scene, t: float) -> float:
    p = scene.prop
    return (1 - t) * p["x0"] + t * p["x1"] - _camera(scene, t).tx * 1.6


def render(scene: Scene, t: float, ids: np.ndarray | None = None) -> Image.Image:
    """The frame at time t. With `ids` ([HEIGHT·SS, WIDTH·SS] ints, zeros), also the index of what
    covers each supersampled pixel: 0 the backdrop, 1… the characters' parts in drawing order, then the
    prop."""
    cam = _camera(scene, t)
    H, W = HEIGHT * SS, WIDTH * SS
    bh, bw = scene.background.shape[:2]
    # Background: each output pixel p samples the backdrop at centre + z·(p − centre) + pan.
    z = cam.scale
    gy = ((np.arange(H) + 0.5) / SS - HEIGHT / 2) * z + HEIGHT / 2 + cam.ty + (bh - HEIGHT) / 2
    gx = ((np.arange(W) + 0.5) / SS - WIDTH / 2) * z + WIDTH / 2 + cam.tx + (bw - WIDTH) / 2
    grid = torch.stack(
        torch.meshgrid(
            torch.from_numpy(gx / bw * 2 - 1).float(), torch.from_numpy(gy / bh * 2 - 1).float(), indexing="xy"
        ),
        -1,
    )[None]
    bg = torch.from_numpy(scene.background).permute(2, 0, 1)[None]
    canvas = (
        F.grid_sample(bg, grid, mode="bicubic", padding_mode="border", align_corners=False)[0]
        .permute(1, 2, 0)
        .numpy()
        .copy()
    )
    # Characters live in the background's plane: the camera maps them like the backdrop.
    to_frame = _frame_transform(scene, t)
    k = 0
    for ch in scene.characters:
        for part, place in _character_parts(ch, t):
            k += 1
            _draw_part(canvas, part, place.then(to_frame), ch.light, ids, k)
    if scene.prop:  # a foreground prop with parallax (it moves on its own, faster than the backdrop)
        p = scene.prop
        x = _prop_x(scene, t)
        if p["kind"] == "post":
            poly = np.array(
                [
                    [x - p["width"] / 2, p["top"]],
                    [x + p["width"] / 2, p["top"]],
                    [x + p["width"] / 2, HEIGHT + 10],
                    [x - p["width"] / 2, HEIGHT + 10],
                ]
            )
        else:
            poly = _ellipse(p["width"] * 1.6, p["width"] * 1.2, 30, x, HEIGHT - p["width"] * 0.5)
            poly[:, 0] += np.sin(np.arange(30) * 2.1) * p["width"] * 0.15
        _draw_part(canvas, Part([poly], p["color"], p["color"] * 0.7, 3.0), Affine(0, 0), (1, 0), ids, k + 1)
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).resize((WIDTH, HEIGHT), Image.LANCZOS)
    return img.filter(ImageFilter.GaussianBlur(0.5))


def flows(
    scene: Scene, t: float, targets: tuple[float, ...] = (0.0, 1.0), ids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The true backward flows from the frame at time t to the frames at each target time: [len(targets),
    2, HEIGHT, WIDTH] float32 in output pixels (x, y), where each pixel of frame t was in frame u, and the
    index map of what covers each pixel ([HEIGHT, WIDTH], as `render`'s ids, sampled at the output grid).

    Exact for the backdrop (the camera's pan and zoom), the prop and every rigid part (torso, arm, head)
    — also where the place is hidden in frame u (an occlusion: compare the index maps). Hair strands
    swing and eyes shift with the head's turn within the head's frame; their flow is the head's, so it is
    off by that swing (a few pixels at the tips). Shading is lit from a fixed direction on screen, so a
    turning part's shadow edge does not follow the flow either. Points are pixel centres. `ids`: frame
    t's supersampled index map when `render` already made it (else it is rendered here)."""
    if ids is None:
        ids = np.zeros((HEIGHT * SS, WIDTH * SS), np.int32)
        render(scene, t, ids)
    idc = output_ids(ids)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64) + 0.5
    pts = np.stack([xs.ravel(), ys.ravel()], 1)
    flat = idc.ravel()

    def places(u: float) -> list[Affine]:
        to_frame = _frame_transform(scene, u)
        return [place.then(to_frame) for ch in scene.characters for _, place in _character_parts(ch, u)]

    here = places(t)
    out = np.zeros((len(targets), 2, HEIGHT, WIDTH), np.float32)
    for i, u in enumerate(targets):
        there = places(u)
        # The backdrop: frame t → backdrop plane → frame u.
        moved = _frame_transform(scene, u).apply(_frame_transform(scene, t).invert(pts))
        for k, (a, b) in enumerate(zip(here, there), 1):
            sel = flat == k
            if sel.any():
                moved[sel] = b.apply(a.invert(pts[sel]))
        if scene.prop:
            sel = flat == len(here) + 1
            moved[sel] = pts[sel] + np.array([_prop_x(scene, u) - _prop_x(scene, t), 0.0])
        out[i] = (moved - pts).T.reshape(2, HEIGHT, WIDTH)
    return out, idc


def output_ids(ids: np.ndarray) -> np.ndarray:
    """A supersampled index map (`render`'s ids) sampled at the output pixel grid."""
    return ids[SS // 2 :: SS, SS // 2 :: SS]


def write_clip(root: Path, split: str, seed: int, extra_taus: int = 0, with_flows: bool = False) -> Path:
    """frame1/2/3 at t = 0, ½, 1, `extra_taus` frames `tau_0.xyz.png` at other t and, with `with_flows`, the
    true flows; written whole or not at all, and kept when an earlier run wrote it whole (clipdir.py)."""
    clip = root / split / f"tv_{seed:08d}"
    times = [("frame1.png", 0.0), ("frame2.png", 0.5), ("frame3.png", 1.0)]
    rng = np.random.default_rng(seed + 7_777_777)
    times += [(f"tau_{t:.3f}.png", t) for t in (round(float(x), 3) for x in rng.uniform(0.1, 0.9, extra_taus))]
    if is_complete(clip, [n for n, _ in times] + (["flows_0.500.npz"] if with_flows else [])):
        return clip
    scene = make_scene(seed)
    tmp = partial(root, split, clip.name)
    ids = np.zeros((HEIGHT * SS, WIDTH * SS), np.int32) if with_flows else None
    for name, t in times:
        render(scene, t, ids if t == 0.5 else None).save(tmp / name, optimize=False, compress_level=1)
    if with_flows:
        f, _ = flows(scene, 0.5, ids=ids)
        np.savez_compressed(tmp / "flows_0.500.npz", to_start=f[0].astype(np.float16), to_end=f[1].astype(np.float16))
    return publish(tmp, clip)


def visibility(scene: Scene, t: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Whether what each pixel of the frame at t shows is visible in the keyframes (t = 0 and 1): [2,
    HEIGHT, WIDTH] bool, True where the place the true flow carries the pixel to lies inside that frame
    and shows the same thing there (the same index in `render`'s map, sampled at the nearest output
    pixel); and the true flows ([2, 2, HEIGHT, WIDTH], as `flows` gives them)."""
    ids = np.zeros((HEIGHT * SS, WIDTH * SS), np.int32)
    render(scene, t, ids)
    f, here = flows(scene, t, ids=ids)
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float64) + 0.5
    seen = np.zeros((2, HEIGHT, WIDTH), bool)
    for j, u in enumerate((0.0, 1.0)):
        there = np.zeros((HEIGHT * SS, WIDTH * SS), np.int32)
        render(scene, u, there)
        x, y = xs + f[j, 0], ys + f[j, 1]
        inside = (x >= 0) & (x < WIDTH) & (y >= 0) & (y < HEIGHT)
        qx, qy = np.clip(np.floor(x).astype(int), 0, WIDTH - 1), np.clip(np.floor(y).astype(int), 0, HEIGHT - 1)
        seen[j] = inside & (output_ids(there)[qy, qx] == here)
    return seen, f


def backfill_flows(split: Path, part: int = 0, parts: int = 1) -> int:
    """Adds `flows_0.500.npz` to the clips of `split` that lack it (a clip's seed is in its name); every
    `parts`-th clip from `part`, so that several processes can share the work. Returns how many got it."""
    done = 0
    for clip in sorted(split.glob("tv_*"))[part::parts]:
        if (clip / "flows_0.500.npz").exists():
            continue
        f, _ = flows(make_scene(int(clip.name[3:])), 0.5)
        tmp = clip / "flows_0.500.partial.npz"  # renamed when whole: a killed backfill leaves no broken file
        np.savez_compressed(tmp, to_start=f[0].astype(np.float16), to_end=f[1].astype(np.float16))
        tmp.replace(clip / "flows_0.500.npz")
        done += 1
    return done


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/tvlike")
    ap.add_argument("--train", type=int, default=0)
    ap.add_argument("--val", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--extra-taus", type=int, default=2, help="training clips also get frames at this many other t")
    ap.add_argument(
        "--flows",
        action="store_true",
        help="training clips also get flows_0.500.npz: the true backward flows from frame2 to frame1 and frame3",
    )
    ap.add_argument(
        "--backfill-flows",
        metavar="SPLIT_DIR",
        help="add flows_0.500.npz to the clips in this folder that lack it (e.g. data/tvlike/train) and stop",
    )
    ap.add_argument("--part", default="0/1", help="with --backfill-flows: K/N does every N-th clip from the K-th")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.backfill_flows:
        k, n = (int(x) for x in args.part.split("/"))
        n_done = backfill_flows(Path(args.backfill_flows), k, n)
        print(f"flows added to {n_done} clips in {args.backfill_flows} (part {args.part})")
        return 0
    root = Path(args.out)
    for i in range(args.train):
        write_clip(root, "train", args.seed + i, args.extra_taus, args.flows)
    for i in range(args.val):
        write_clip(root, "val", VAL_SEED_OFFSET + args.seed + i)
    print(f"wrote {args.train} train and {args.val} val clips to {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
