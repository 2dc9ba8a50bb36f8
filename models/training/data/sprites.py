"""Triplets from the hand-drawn sprite animations of Debian's game-data packages, in the ATD-12K layout.

The packages are fetched at build time with `apt-get download` (no root needed) into a cache folder
and unpacked with `dpkg-deb -x`; nothing from them is committed. Two kinds of animation are read:

- numbered frame files, `<name><n>.png` with consecutive n (Battle for Wesnoth's units, e.g.
  `units/undead/ghost-n-1.png … ghost-n-5.png`: 876 sequences in `wesnoth-1.16-data`, 65 in `pingus-data`);
- sprite sheets described by `.sprite` files (Pingus: `(image "walker.png") (array 8 1) (size 32 32)`; 79).

Each clip takes three frames (i, i + k, i + 2k) of one sequence — the artist's in-between is the
middle one — scales them up by a whole factor (nearest-neighbour or bicubic, so both pixel-art and
smoothed outlines appear), places the sprite on a flat, gradient or painted background and, in some
clips, pans the camera by an even number of pixels (so the middle frame's pan is exactly half).
Clips are split by sprite group (one Wesnoth unit, one Pingus sheet), so validation never sees a
character trained on. Deterministic for a given seed and package version.

    /usr/bin/python3 -m models.training.data.sprites --out data/sprites --packages wesnoth-1.16-data pingus-data

The packages' artwork keeps its licence (Wesnoth: GPL-2+, Pingus: GPL-3+; see each package's
copyright file under the cache folder); the built dataset is for training, not for redistribution.
"""
from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from models.training.data.triplets import (
    SIZES,
    Sequence,
    background,
    frames_differ,
    load_rgba,
    numbered_sequences,
    safe_name,
    split_of,
    write_triplet,
)

DEFAULT_PACKAGES = ["wesnoth-1.16-data", "pingus-data"]


def fetch(package: str, cache: Path) -> Path:
    """Downloads `package`'s .deb with apt-get (once) and unpacks it; returns the unpacked folder."""
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / package
    if (root / ".unpacked").exists():
        return root
    debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        try:
            subprocess.run(["apt-get", "download", package], cwd=cache, check=True, capture_output=True, text=True)
        except FileNotFoundError as e:
            raise SystemExit("apt-get is not available: the sprite builder needs a Debian system") from e
        except subprocess.CalledProcessError as e:
            raise SystemExit(f"apt-get download {package} failed: {e.stderr.strip() or e}") from e
        debs = sorted(cache.glob(f"{package}_*.deb"))
    if not debs:
        raise SystemExit(f"apt-get download {package} wrote no .deb into {cache}")
    subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
    (root / ".unpacked").write_text(debs[-1].name)
    return root


_FIELD = re.compile(r"\((\w+)\s+([^()]*)\)")


def parse_sprite(text: str) -> dict:
    """The fields of a Pingus `(pingus-sprite (image "a.png") (array 8 1) (size 32 32) …)` file."""
    fields = {}
    for key, value in _FIELD.findall(text):
        value = value.strip()
        fields[key] = (
            value.strip('"') if value.startswith('"') else [int(v) for v in value.split() if re.fullmatch(r"-?\d+", v)]
        )
    return fields


def sheet_sequences(root: Path, min_frames: int = 3) -> list[Sequence]:
    """Animations described by `.sprite` files: the sheet's cells, row by row."""
    out = []
    for spec in sorted(root.rglob("*.sprite")):
        f = parse_sprite(spec.read_text(errors="replace"))
        if "image" not in f or "array" not in f or "size" not in f or len(f["array"]) != 2 or len(f["size"]) != 2:
            continue
        cols, rows = f["array"]
        if cols * rows < min_frames:
            continue
        rel = f["image"]
        if rel.startswith("/"):  # relative to the game's data folder: the nearest ancestor that has it
            image = next((a / rel[1:] for a in spec.parents if (a / rel[1:]).exists()), None)
        else:
            image = spec.parent / rel
        if image is None or not image.exists():
            continue
        sheet = Image.open(image).convert("RGBA")
        w, h = f["size"]
        x0, y0 = (f.get("position") or [0, 0])[:2]
        if x0 + cols * w > sheet.width or y0 + rows * h > sheet.height:
            continue
        cells = [
            sheet.crop((x0 + c * w, y0 + r * h, x0 + (c + 1) * w, y0 + (r + 1) * h))
            for r in range(rows)
            for c in range(cols)
        ]
        name = spec.relative_to(root).as_posix()
        out.append(Sequence(name, image.relative_to(root).as_posix(), cells))
    return out


def sequences(root: Path) -> list[Sequence]:
    return numbered_sequences(root) + sheet_sequences(root)


def compose(frames: list[Image.Image], rng: np.random.Generator) -> list[Image.Image] | None:
    """Three sprite frames -> three clip frames: scaled, placed on a background, maybe panned."""
    size = SIZES[rng.integers(len(SIZES))]
    sw = max(f.width for f in frames)
    sh = max(f.height for f in frames)
    top = max(2, int(min(0.85 * size[1] / sh, 0.6 * size[0] / sw)))
    scale = int(rng.integers(2, top + 1)) if top > 2 else 2
    if sh * scale > size[1] or sw * scale > size[0]:
        return None
    resample = Image.NEAREST if rng.random() < 0.5 else Image.BICUBIC
    sprites = [f.resize((f.width * scale, f.height * scale), resample) for f in frames]
    pan = (0, 0)
    if rng.random() < 0.4:  # an even pan in pixels, so that the middle frame's is exactly half
        pan = (2 * int(rng.integers(-12, 13)), 2 * int(rng.integers(-6, 7)))
    pad = (abs(pan[0]) + 2, abs(pan[1]) + 2)
    bg = background(rng, (size[0] + 2 * pad[0], size[1] + 2 * pad[1]))
    x = int(rng.integers(pad[0], pad[0] + size[0] - sw * scale + 1))
    y = int(rng.integers(pad[1], pad[1] + size[1] - sh * scale + 1))
    out = []
    for i, sprite in enumerate(sprites):
        canvas = bg.copy()
        # Anchored at the bottom centre (how sprite frames of one animation line up in the games).
        canvas.alpha_composite(sprite, (x + (sw * scale - sprite.width) // 2, y + sh * scale - sprite.height))
        ox, oy = pad[0] + pan[0] * i // 2, pad[1] + pan[1] * i // 2
        out.append(canvas.crop((ox, oy, ox + size[0], oy + size[1])))
    return out


def build(roots: list[Path], out: Path, max_clips: int, val_fraction: float, seed: int, per_sequence: int = 2) -> dict:
    """Writes up to `max_clips` clips from the sequences under `roots`; returns counts per split."""
    seqs = [s for r in roots for s in sequences(r)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(seqs))
    counts = {"train": 0, "val": 0, "sequences": len(seqs)}
    for idx in order:
        if counts["train"] + counts["val"] >= max_clips:
            break
        seq = seqs[int(idx)]
        frames = [load_rgba(f) for f in seq.frames]
        if len({f.size for f in frames}) != 1:
            continue
        split = split_of(seq.group, val_fraction, salt="sprites")
        steps = [k for k in (1, 2) if 2 * k < len(frames)]
        for j in range(per_sequence):
            if counts["train"] + counts["val"] >= max_clips:
                break
            k = steps[int(rng.integers(len(steps)))]
            i = int(rng.integers(0, len(frames) - 2 * k))
            trio = [frames[i], frames[i + k], frames[i + 2 * k]]
            if not frames_differ(trio, 0.2):
                continue
            clip = compose(trio, rng)
            if clip is None or not frames_differ(clip):
                continue
            short = "_".join(Path(seq.name).parts[-3:])  # e.g. units/undead/ghost-n-1-5
            write_triplet(out, split, f"sprite_{safe_name(short)}_{i}_{k}_{j}", clip)
            counts[split] += 1
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="data/sprites")
    ap.add_argument("--packages", nargs="+", default=DEFAULT_PACKAGES, help="Debian game-data packages")
    ap.add_argument("--cache", default="data/debs", help="where the .deb files are downloaded and unpacked")
    ap.add_argument("--max-clips", type=int, default=1200)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    roots = [fetch(p, Path(args.cache)) for p in args.packages]
    counts = build(roots, Path(args.out), args.max_clips, args.val_fraction, args.seed)
    print(f"{counts['sequences']} sequences; wrote {counts['train']} train and {counts['val']} val clips to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
