"""Shared by the triplet builders for real drawn animation (sprites.py, synfig_clips.py): numbered frame
sequences, a stable train/validation split, backgrounds, and writing a clip in the ATD-12K layout.

A triplet taken from a drawn sequence is (frame i, frame i + k, frame i + 2k): the artist's own
in-between, k frames from each keyframe. Its timing is the animation's, so "the middle" is the middle
in frame count, not necessarily half the motion (as in ATD-12K itself).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from models.training.data.clipdir import partial, publish

# Frame sizes of written clips, as in procedural.py (width, height); all multiples of 32 and at least
# 256 × 160, so the trainers' latent crops fit.
SIZES = [(256, 160), (320, 192), (384, 256), (512, 320)]

_NUMBERED = re.compile(r"^(?P<stem>.*?)(?P<num>\d+)\.png$", re.IGNORECASE)


@dataclass
class Sequence:
    """Frames of one drawn animation, in order. `group` decides the split: sequences of one group
    (one unit, one sprite sheet, one animation file) always land in the same split."""

    name: str
    group: str
    frames: list  # PIL RGBA images, or paths to them


def load_rgba(frame) -> Image.Image:
    return frame if isinstance(frame, Image.Image) else Image.open(frame).convert("RGBA")


def numbered_sequences(root: Path, min_frames: int = 3) -> list[Sequence]:
    """Runs of files `<stem><n>.png`, `<stem><n+1>.png`, … under `root` (e.g. Wesnoth's
    `units/undead/ghost-n-1.png … ghost-n-5.png`, Synfig's `eye.0100.png …`), at least `min_frames`
    long with consecutive numbers. The group is the stem up to its first '-' or '.' (one unit), so an
    attack and a walk of one unit share a split."""
    by_stem: dict[tuple[Path, str], dict[int, Path]] = {}
    for path in sorted(root.rglob("*.png")):
        m = _NUMBERED.match(path.name)
        if m:
            by_stem.setdefault((path.parent, m["stem"]), {})[int(m["num"])] = path
    out = []
    for (folder, stem), frames in sorted(by_stem.items()):
        nums = sorted(frames)
        run: list[int] = []
        for n in nums + [None]:
            if n is not None and run and n == run[-1] + 1:
                run.append(n)
                continue
            if len(run) >= min_frames:
                rel = folder.relative_to(root).as_posix()
                unit = re.split(r"[-._]", stem, maxsplit=1)[0] or stem
                out.append(Sequence(f"{rel}/{stem}{run[0]}-{run[-1]}", f"{rel}/{unit}", [frames[k] for k in run]))
            run = [n] if n is not None else []
    return out


def split_of(group: str, val_fraction: float, salt: str = "") -> str:
    """'val' for a stable `val_fraction` of groups (by hash of the group's name), else 'train'."""
    h = int.from_bytes(hashlib.sha1(f"{salt}{group}".encode()).digest()[:8], "big") / 2**64
    return "val" if h < val_fraction else "train"


def background(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A flat colour, a soft two-colour gradient or a painted (blurred noise) backdrop."""
    w, h = size
    base = rng.uniform(90, 245, 3)
    kind = rng.integers(3)
    if kind == 0:
        arr = np.broadcast_to(base, (h, w, 3)).copy()
    elif kind == 1:
        other = np.clip(base + rng.uniform(-70, 70, 3), 0, 255)
        ramp = np.linspace(0, 1, h)[:, None, None]
        arr = np.broadcast_to(base * (1 - ramp) + other * ramp, (h, w, 3)).copy()
    else:
        noise = rng.normal(0, 1, (h // 48 + 2, w // 48 + 2, 3))
        img = Image.fromarray(np.uint8(np.clip(128 + 40 * noise, 0, 255))).resize((w, h), Image.BICUBIC)
        img = img.filter(ImageFilter.GaussianBlur(6))
        arr = base + (np.asarray(img, dtype=np.float64) - 128) * 0.5
    return Image.fromarray(np.uint8(np.clip(arr, 0, 255))).filter(ImageFilter.GaussianBlur(0.5)).convert("RGBA")


def frames_differ(frames: list[Image.Image], min_mean: float = 0.5) -> bool:
    """True when the keyframes differ (there is motion to interpolate)."""
    a, b = (np.asarray(f.convert("RGB"), dtype=np.int16) for f in (frames[0], frames[-1]))
    return a.shape == b.shape and float(np.abs(a - b).mean()) >= min_mean


def write_triplet(root: Path, split: str, clip: str, frames: list[Image.Image]) -> Path:
    """Writes <root>/<split>/<clip>/frame1.png, frame2.png, frame3.png (RGB), whole or not at all (clipdir.py)."""
    tmp = partial(root, split, clip)
    for i, frame in enumerate(frames, 1):
        frame.convert("RGB").save(tmp / f"frame{i}.png", optimize=False, compress_level=1)
    return publish(tmp, root / split / clip)


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_")
