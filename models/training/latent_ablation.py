"""Where the pack's quality comes from: the pack decoder (the last decoder stage in --runs) decodes
each validation clip's in-between from four latents — the true one (the VAE encoder's, an upper
bound for any denoiser), the baseline's cached sample (runs/decoder/samples_val.pt: 25 DDIM steps
from seeded noise, what the studio produces), the mean of the two keyframe latents (no denoiser at
all) and zeros (no latent information) — and scores each against the true middle frame (PSNR over
the clip's own pixels, cropped to a multiple of 8) next to frame blend and the classical flow warp
(OpenCV's Farnebäck both ways at issue 20's settings, `classical_flow.opencv_motion`, both keyframes
warped halfway and averaged: the report's anchor).
A decoder with the motion prior gets its motion graph's flows (the learned one its checkpoint carries,
else Farnebäck's) and τ = ½, as in the studio. With the
LPIPS-Alex weights at hand (../shared/data/lpips, or --lpips-weights) every row also gets LPIPS-Alex.

    /usr/bin/python3 -m models.training.latent_ablation [--runs runs] [--data data/procedural] [--limit 60]
        [--decoder runs/decoder6/decoder_last.pt]      (default: the last decoder stage in --runs)

If the sampled latent scores like the keyframe average, the denoiser adds nothing the decoder could
not get from the keyframes; the gap between the true latent and the sampled one is what a better
denoiser can win with this decoder.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

from models.training.cel_model import FlowDecoder
from models.training.classical_flow import halfway_warp, opencv_motion
from models.training.losses import LPIPS_DIR, perceptual_loss
from models.training.motion_fusion import pack_motion
from models.training.recipe import SAMPLES_RUN, decoder_checkpoints
from models.training.trainlib import clip_targets, load_rgb, psnr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=Path, default=Path("runs"))
    ap.add_argument("--data", type=Path, default=Path("data/procedural"))
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument(
        "--decoder", type=Path, default=None, help="a decoder checkpoint (default: the last stage in --runs)"
    )
    ap.add_argument("--lpips-weights", type=Path, default=LPIPS_DIR / "lpips_alex_v0.1.safetensors")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    path = args.decoder
    if path is None:
        found = decoder_checkpoints(args.runs)
        if not found:
            raise SystemExit(f"no decoder stage under {args.runs} (train_decoder.py, or from_pack.py)")
        path = found[-1]
    ck = torch.load(path)
    dec = FlowDecoder(**ck.get("decoder_config", {}))
    dec.load_state_dict(ck["ema"])
    dec.eval()
    samples = torch.load(args.runs / SAMPLES_RUN / "samples_val.pt")
    latents = torch.load(args.runs / "denoiser" / "latents_val.pt")["clips"]
    names = [n for n in sorted(latents) if "baseline" in samples.get(n, {})][: args.limit]
    if not names:
        raise SystemExit("no validation clip has a cached baseline sample (train_decoder.py caches them)")
    lpips = perceptual_loss(args.lpips_weights, "cpu", "alex")
    graph = pack_motion(args.runs, ck)  # the pack's motion graph: the fusion with OpenCV's flows when it ran
    scores: dict[str, list[tuple[float, float]]] = {}

    def score(name: str, y: torch.Tensor, m: torch.Tensor) -> None:
        y = y.clamp(-1, 1)
        scores.setdefault(name, []).append((psnr(y, m), lpips(y, m).item() if lpips else float("nan")))

    with torch.no_grad():
        for n in names:
            c, clip = latents[n], args.data / "val" / n
            h, w = c["keys"].shape[-2] * 8, c["keys"].shape[-1] * 8
            s, e, m = (
                load_rgb(p)[:, :h, :w][None]
                for p in (clip / "frame1.png", clip / "frame3.png", clip_targets(clip)[0][0])
            )
            extra = (graph(s, e), torch.tensor([0.5])) if dec.motion else ()
            true = c["targets"][:1].float()
            for name, z in (
                ("true latent", true),
                ("baseline sample", samples[n]["baseline"][:1].float()),
                ("keyframe average", c["keys"].float().mean(0, keepdim=True)),
                ("zeros", torch.zeros_like(true)),
            ):
                score(name, dec(z, s, e, *extra), m)
            a = opencv_motion(s, e)
            score("flow warp", halfway_warp(s, e, a[:, :2], a[:, 2:]), m)
            score("frame blend", (s + e) / 2, m)
    print(f"{len(names)} validation clips of {args.data}, decoder {path}{' (motion prior)' if dec.motion else ''}:")
    for name, v in scores.items():
        p, lp = (sum(x[i] for x in v) / len(v) for i in (0, 1))
        print(f"  {name:18s} {p:6.2f} dB" + (f"  LPIPS-Alex {lp:.4f}" if lpips else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
