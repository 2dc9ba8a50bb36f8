"""A colour-graded twin of a clip set: every frame of every clip through one colour grade, the clip
names' seeds kept (`proc_0000123` -> `night_0000123`), so that each graded clip and its original form a
style pair (latents.style_twins; train_lora.py --keys-from, train_decoder.py --style-pairs).

A grade is a per-channel affine map of 8-bit values (v' = gain·v + offset). `sepia` is a faded
sepia print (brown paper, dark-brown ink, half the contrast); `night` a day-for-night grade (dark,
low in contrast, blue). Both are styles that live in a latent at 1/8 of the frame (a tone, not a
line), so a decoder can show them while it takes the lines from the keyframes. Under the pack's VAE
a sepia frame's latent has about half the standard deviation of the original's (a night frame's
more, its channels' means being far apart).

    /usr/bin/python3 -m models.training.data.grade --src data/procedural --out data/sepia --grade sepia
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from models.training.data.clipdir import partial, publish
from models.training.latents import seed_of

# name: (gain per channel, offset per channel in 8-bit levels)
GRADES: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "sepia": ((0.55, 0.45, 0.3), (60.0, 45.0, 25.0)),
    "night": ((0.35, 0.45, 0.7), (6.0, 12.0, 34.0)),
}


def graded(image: Image.Image, grade: str) -> Image.Image:
    """`image` (RGB) through the grade `grade`."""
    gain, offset = (np.asarray(v, np.float32) for v in GRADES[grade])
    rgb = np.asarray(image.convert("RGB"), np.float32)
    return Image.fromarray(np.clip(np.rint(rgb * gain + offset), 0, 255).astype(np.uint8))


def grade_set(src: Path, out: Path, grade: str, limit: int | None = None) -> int:
    """Writes <out>/<split>/<grade>_<seed>/ for each clip folder of <src>/<split> (at most `limit` per
    split, in name order): its PNG frames graded, other files copied. Returns the clips written."""
    if grade not in GRADES:
        raise SystemExit(f"unknown grade {grade!r} (known: {', '.join(GRADES)})")
    written = 0
    for split in ("train", "val"):
        if not (src / split).is_dir():
            continue
        clips = sorted(p for p in (src / split).iterdir() if p.is_dir())[:limit]
        for clip in clips:
            name = f"{grade}_{seed_of(clip.name)}"
            tmp = partial(out, split, name)  # the twin appears whole or not at all (clipdir.py)
            for f in sorted(clip.iterdir()):
                if f.suffix.lower() == ".png":
                    graded(Image.open(f), grade).save(tmp / f.name)
                elif f.is_file():
                    shutil.copy2(f, tmp / f.name)
            publish(tmp, out / split / name)
            written += 1
    if not written:
        raise SystemExit(f"{src}: no clip folders under train/ or val/")
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--src", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--grade", default="sepia", choices=sorted(GRADES))
    ap.add_argument("--limit", type=int, default=None, help="at most this many clips per split")
    args = ap.parse_args()
    print(f"{grade_set(args.src, args.out, args.grade, args.limit)} clips graded into {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
