"""Triplets from Synfig animations (.sif), rendered by Debian's `synfig` at any size, in the ATD-12K layout.

Synfig is a vector animation tool; its command line renders any time of a document at any size, so
these clips have exact middle frames at several resolutions: for an animation at F fps, frames at
times t, t + k/F and t + 2k/F (k = 1…3 frames), rendered once per size as a frame sequence. Without
the `synfig` program (`apt-get install synfig`), PNG sequences already rendered next to the documents
(`<name>.<nnnn>.png`) are used instead, at their own size.

Splitting by clip: each animation's timeline is cut into one-second blocks and a stable tenth of the
blocks (by hash) is validation; a triplet lies inside one block, so validation frames are never seen in
training. Frames with transparency are put on a background (flat, gradient or painted).

    /usr/bin/python3 -m models.training.data.synfig_clips --sif ../shared/data/synfig --out data/synfig

The animations keep their own licence (the examples in ../shared/data/synfig: GPL-2+, see the
copyright file there); the built dataset is for training, not for redistribution.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from models.training.data.triplets import (
    background,
    frames_differ,
    load_rgba,
    numbered_sequences,
    safe_name,
    split_of,
    write_triplet,
)

DEFAULT_SIF = Path(__file__).resolve().parents[4] / "shared" / "data" / "synfig"
WIDTHS = [256, 384, 512]


def canvas_info(sif: Path) -> dict:
    """time_start / time_end (seconds), frame_rate, w, h of a document, from `synfig --canvas-info`."""
    res = subprocess.run(
        ["synfig", str(sif), "--canvas-info=time_start,time_end,frame_rate,w,h"],
        capture_output=True,
        text=True,
        check=True,
    )
    info = dict(re.findall(r"^(\w+)=([\d.]+)s?$", res.stdout, re.MULTILINE))
    missing = {"time_start", "time_end", "frame_rate", "w", "h"} - set(info)
    if missing:
        raise ValueError(f"{sif}: synfig printed no {', '.join(sorted(missing))}")
    return {k: float(v) for k, v in info.items()}


def render_sequence(sif: Path, size: tuple[int, int], info: dict, out: Path) -> list[Path]:
    """Renders every frame of the document at `size` into `out` (one synfig process)."""
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "synfig",
            str(sif),
            "-t",
            "png",
            "-w",
            str(size[0]),
            "-h",
            str(size[1]),
            "-q",
            "--begin-time",
            f"{info['time_start']}s",
            "--end-time",
            f"{info['time_end']}s",
            "-o",
            str(out / "f.png"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    frames = sorted(out.glob("f.*.png"))
    if len(frames) < 3:
        raise ValueError(f"{sif}: synfig rendered {len(frames)} frames")
    return frames


def size_for(info: dict, width: int) -> tuple[int, int]:
    """`width` × the document's aspect, both multiples of 32 (the pack's sizes are multiples of 64;
    training crops anywhere)."""
    h = max(160, int(round(width * info["h"] / info["w"] / 32)) * 32)
    return width, h


def triplets_from(
    frames: list, fps: float, name: str, out: Path, rng: np.random.Generator, val_fraction: float, stride: int = 2
) -> dict:
    """Clips (i, i + k, i + 2k), k in 1…3, starting every `stride` frames, inside one-second blocks."""
    counts = {"train": 0, "val": 0}
    block = max(3, int(round(fps)))
    for i in range(0, len(frames) - 2, stride):
        k = int(rng.integers(1, 4))
        if (i + 2 * k) // block != i // block or i + 2 * k >= len(frames):
            continue
        split = split_of(f"{name}/{i // block}", val_fraction, salt="synfig")
        trio = [load_rgba(frames[j]) for j in (i, i + k, i + 2 * k)]
        if not frames_differ(trio):
            continue
        if any(f.getextrema()[3][0] < 255 for f in trio):  # transparency: one background for all three
            bg = background(rng, trio[0].size)
            trio = [Image.alpha_composite(bg, f) for f in trio]
        write_triplet(out, split, f"synfig_{safe_name(name)}_{i:04d}_{k}", trio)
        counts[split] += 1
    return counts


def build(
    sources: list[Path], out: Path, widths: list[int], val_fraction: float, seed: int, use_synfig: bool | None = None
) -> dict:
    """Clips from every .sif under `sources` (rendered at each width), or from their pre-rendered PNG
    sequences when synfig is absent (or `use_synfig` is False). Returns counts per split."""
    if use_synfig is None:
        use_synfig = shutil.which("synfig") is not None
    rng = np.random.default_rng(seed)
    counts = {"train": 0, "val": 0, "rendered": use_synfig}
    sifs = sorted(p for s in sources for p in ([s] if s.is_file() else s.rglob("*.sif")))

    def add(got: dict) -> None:
        for k in ("train", "val"):
            counts[k] += got[k]

    if use_synfig:
        for sif in sifs:
            info = canvas_info(sif)
            for width in widths:
                size = size_for(info, width)
                with tempfile.TemporaryDirectory() as tmp:
                    frames = render_sequence(sif, size, info, Path(tmp))
                    add(
                        triplets_from(
                            frames, info["frame_rate"], f"{sif.stem}_{size[0]}x{size[1]}", out, rng, val_fraction
                        )
                    )
    else:
        for s in sources:
            for seq in numbered_sequences(s if s.is_dir() else s.parent):
                add(triplets_from(seq.frames, 24.0, seq.name, out, rng, val_fraction))
    return counts


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sif", type=Path, nargs="+", default=[DEFAULT_SIF], help=".sif files or folders of them")
    ap.add_argument("--out", default="data/synfig")
    ap.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="render widths (heights keep the aspect)")
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prerendered", action="store_true", help="use the PNG sequences beside the documents")
    args = ap.parse_args()
    missing = [p for p in args.sif if not p.exists()]
    if missing:
        raise SystemExit(f"not found: {', '.join(map(str, missing))}")
    counts = build(
        args.sif,
        Path(args.out),
        [int(w) for w in args.widths.split(",")],
        args.val_fraction,
        args.seed,
        use_synfig=False if args.prerendered else None,
    )
    how = "rendered with synfig" if counts["rendered"] else "from pre-rendered PNG sequences"
    print(f"wrote {counts['train']} train and {counts['val']} val clips ({how}) to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
