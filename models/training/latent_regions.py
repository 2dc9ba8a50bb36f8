"""Where the latent ablation's differences land in the frame: on TV-like validation clips (whose generator
knows every pixel's true motion and what hides what), the pack's decoder is given the keyframes' average
latent, a sampler's latent and the true middle frame's latent (the encoder's), and each middle-frame
pixel's squared error is summed by region:

- **visibility**: whether what the pixel shows is visible in both keyframes, in one (hidden in the
  other: an occlusion), or in neither (`tvlike.visibility`);
- **motion**: the larger of the pixel's two true flows, under 2 px, 2–10, 10–30, 30 px or more.

For each region: its share of the pixels, the mean squared error (pixels in [-1, 1]) of each latent's
decoding, and its share of the whole frame's error reduction from the average latent to the true latent
(what a perfect denoiser would give) and from the average to the sample (what the sampler gives). A
sampler that places what moves far shows its gain in the large-motion rows; one that only tells the
decoder which keyframe a disoccluded region comes from shows it in the occlusion row.

    /usr/bin/python3 -m models.training.latent_regions [--runs runs] [--set data/tvlike/val] [--limit 30]
        [--sampler baseline|student] [--steps N] [--seed 42]

The models are the pack's as `from_pack.py` (or the recipe) leaves them under `--runs`: the VAE's encoder,
the pack's decoder with its motion graph, the baseline (`--sampler baseline`, 25 DDIM steps) or the
student (4). Clip i is sampled from the noise of seed + i, as the report's probes do.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.training.cel_model import bind_motion
from models.training.data import tvlike
from models.training.diffusion import Schedule
from models.training.latents import load_denoiser, load_mean_encoder
from models.training.motion_fusion import pack_motion
from models.training.recipe import baseline_checkpoint, decoder_checkpoints, student_checkpoint
from models.training.trainlib import load_rgb
from models.training.tune_student import load_decoder

LATENTS = ("average", "sample", "true")
VISIBILITY = (
    (2, "visible in both keyframes"),
    (1, "visible in one (occluded in the other)"),
    (0, "visible in neither"),
)
MOTION = ((0.0, 2.0, "motion under 2 px"), (2.0, 10.0, "motion 2–10 px"), (10.0, 30.0, "motion 10–30 px"))
MOTION += ((30.0, float("inf"), "motion 30 px or more"),)


@dataclass
class Region:
    pixels: int = 0
    sse: dict[str, float] = field(default_factory=lambda: {k: 0.0 for k in LATENTS})

    def add(self, errors: dict[str, np.ndarray], mask: np.ndarray) -> None:
        self.pixels += int(mask.sum())
        for k in LATENTS:
            self.sse[k] += float(errors[k][mask].sum())


def regions_of(errors: dict[str, np.ndarray], seen: np.ndarray, flows: np.ndarray, into: dict[str, Region]) -> None:
    """Adds one clip's per-pixel squared errors ([H, W] for each of LATENTS) to `into`, by region."""
    into.setdefault("all", Region()).add(errors, np.ones(seen.shape[1:], bool))
    visible = seen.sum(0)
    for n, name in VISIBILITY:
        into.setdefault(name, Region()).add(errors, visible == n)
    motion = np.maximum(np.hypot(*flows[0]), np.hypot(*flows[1]))
    for lo, hi, name in MOTION:
        into.setdefault(name, Region()).add(errors, (motion >= lo) & (motion < hi))


def table(regions: dict[str, Region]) -> str:
    whole = regions["all"]
    to_true = whole.sse["average"] - whole.sse["true"]
    to_sample = whole.sse["average"] - whole.sse["sample"]

    def share(gain: float, total: float) -> str:
        return f"{gain / total:+.2f}" if abs(total) > 1e-12 else "—"

    lines = [
        "| pixels | share | average | sample | true | of average → true | of average → sample |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in regions.items():
        if not r.pixels:
            continue
        mse = [r.sse[k] / r.pixels for k in LATENTS]
        gains = (share(r.sse["average"] - r.sse["true"], to_true), share(r.sse["average"] - r.sse["sample"], to_sample))
        lines.append(
            f"| {name} | {r.pixels / whole.pixels:.3f} | {mse[0]:.4f} | {mse[1]:.4f} | {mse[2]:.4f} | "
            f"{gains[0]} | {gains[1]} |"
        )
    return "\n".join(lines)


def measure(args) -> dict[str, Region]:
    runs = Path(args.runs)
    decoders = decoder_checkpoints(runs)
    if not decoders:
        raise SystemExit(f"no decoder under {runs}: run from_pack.py (or the recipe) first")
    dec, _, state = load_decoder(decoders[-1])
    graph = pack_motion(runs, state)  # the pack's motion graph: the fusion with OpenCV's flows when it ran
    dec.eval()
    encoder = load_mean_encoder(runs / "vae" / "vae_last.pt")
    path = baseline_checkpoint(runs) if args.sampler == "baseline" else student_checkpoint(runs)
    sampler, scale = load_denoiser(path)
    steps = args.steps or (25 if args.sampler == "baseline" else 4)
    clips = sorted(p for p in Path(args.set).iterdir() if p.is_dir() and p.name.startswith("tv_"))[: args.limit]
    if not clips:
        raise SystemExit(f"no TV-like clips (tv_<seed>) in {args.set}: build them with data/tvlike.py")
    schedule, regions = Schedule(), {}
    with torch.no_grad():
        for i, clip in enumerate(clips):
            seen, flows = tvlike.visibility(tvlike.make_scene(int(clip.name[3:])))
            s, m, e = (load_rgb(clip / f)[None] for f in ("frame1.png", "frame2.png", "frame3.png"))
            if s.shape[-2:] != seen.shape[1:]:
                raise SystemExit(f"{clip}: {tuple(s.shape[-2:])} frames, not the generator's {seen.shape[1:]}")
            motion, tau = graph(s, e), torch.tensor([0.5])
            zs, ze = encoder(s), encoder(e)
            noise = torch.randn(zs.shape, generator=torch.Generator().manual_seed(args.seed + i))
            latents = {
                "average": (zs + ze) / 2,
                "sample": schedule.sample(bind_motion(sampler, motion), zs * scale, ze * scale, tau, steps, noise)
                / scale,
                "true": encoder(m),
            }
            errors = {
                k: ((dec(z, s, e, motion, tau).clamp(-1, 1) - m) ** 2).mean(1)[0].numpy() for k, z in latents.items()
            }
            regions_of(errors, seen, flows, regions)
            print(f"{clip.name}", file=sys.stderr, flush=True)
    return regions


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="runs")
    ap.add_argument("--set", default="data/tvlike/val")
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--sampler", choices=("baseline", "student"), default="baseline")
    ap.add_argument("--steps", type=int, default=0, help="DDIM steps (default: the sampler's own, 25 or 4)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(table(measure(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
