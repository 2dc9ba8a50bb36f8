"""Train the pack's VAE on triplet datasets (ATD-12K layout: <root>/<split>/<clip>/frame{1,2,3}.png).

Seeded, checkpointed and resumable: every --ckpt-every steps it writes <run>/vae_last.pt (model,
optimiser, step, RNG states); rerunning the same command resumes from it. Losses go to
<run>/vae_log.csv. Loss: L1 + edge (Sobel) L1 on pixels + a small KL term keeping latents near
unit scale, as latent diffusion expects.

    /usr/bin/python3 models/training/train_vae.py --data data/procedural --run runs/vae --steps 20000
"""
from __future__ import annotations

import argparse
import csv
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pack_model import Decoder, Encoder  # noqa: E402


def list_frames(root: Path, split: str) -> list[Path]:
    return sorted(p for clip in sorted((root / split).iterdir()) if clip.is_dir() for p in clip.glob("frame[123].png"))


class FrameCrops:
    """Random crops (multiples of 8) of single frames, with flips, as tensors in [-1, 1]."""

    def __init__(self, paths: list[Path], crop: int, rng: random.Random):
        self.paths, self.crop, self.rng = paths, crop, rng

    def batch(self, n: int) -> torch.Tensor:
        out = []
        for _ in range(n):
            img = Image.open(self.rng.choice(self.paths)).convert("RGB")
            w, h = img.size
            c = min(self.crop, w, h) // 8 * 8
            x, y = self.rng.randint(0, w - c), self.rng.randint(0, h - c)
            a = np.asarray(img.crop((x, y, x + c, y + c)), dtype=np.float32) / 127.5 - 1
            if self.rng.random() < 0.5:
                a = a[:, ::-1]
            out.append(torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1))
        return torch.stack(out)


def sobel(x: torch.Tensor) -> torch.Tensor:
    k = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]])
    kx = k.view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    ky = k.t().contiguous().view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return torch.cat([F.conv2d(x, kx, padding=1, groups=3), F.conv2d(x, ky, padding=1, groups=3)], 1)


def vae_loss(enc, dec, x, kl_weight: float):
    mean, logvar = enc(x)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
    y = dec(z)
    l1 = (y - x).abs().mean()
    edge = (sobel(y) - sobel(x)).abs().mean()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
    return l1 + 0.5 * edge + kl_weight * kl, {"l1": l1.item(), "edge": edge.item(), "kl": kl.item()}


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = ((a - b) / 2).pow(2).mean().item()
    return 10 * np.log10(1 / max(mse, 1e-12))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/procedural")
    ap.add_argument("--run", default="runs/vae")
    ap.add_argument("--steps", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--kl", type=float, default=1e-4)
    ap.add_argument("--ckpt-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    enc, dec = Encoder(), Decoder()
    opt = torch.optim.AdamW(list(enc.parameters()) + list(dec.parameters()), lr=args.lr, weight_decay=0.0)
    step = 0
    ckpt = run / "vae_last.pt"
    if ckpt.exists():
        state = torch.load(ckpt)
        enc.load_state_dict(state["enc"])
        dec.load_state_dict(state["dec"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
        rng.setstate(state["py_rng"])
        print(f"resumed from {ckpt} at step {step}")
    root = Path(args.data)
    train = FrameCrops(list_frames(root, "train"), args.crop, rng)
    val_paths = list_frames(root, "val")[:48]
    val = FrameCrops(val_paths, args.crop, random.Random(1234)).batch(min(16, len(val_paths)))
    log = open(run / "vae_log.csv", "a", newline="")
    writer = csv.writer(log)
    if step == 0:
        writer.writerow(["step", "loss", "l1", "edge", "kl", "val_psnr", "seconds"])
    t0 = time.time()
    while step < args.steps:
        enc.train()
        dec.train()
        x = train.batch(args.batch)
        loss, parts = vae_loss(enc, dec, x, args.kl)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(enc.parameters()) + list(dec.parameters()), 1.0)
        opt.step()
        step += 1
        val_psnr = ""
        if step % args.ckpt_every == 0 or step == args.steps:
            enc.eval()
            dec.eval()
            with torch.no_grad():
                val_psnr = f"{psnr(dec(enc(val)[0]), val):.2f}"
            torch.save({"enc": enc.state_dict(), "dec": dec.state_dict(), "opt": opt.state_dict(), "step": step,
                        "torch_rng": torch.get_rng_state(), "py_rng": rng.getstate(), "args": vars(args)},
                       run / "vae_last.tmp")
            (run / "vae_last.tmp").replace(ckpt)  # atomic: an interrupted save never corrupts the checkpoint
            print(f"step {step}: loss {loss.item():.4f} val PSNR {val_psnr} dB ({time.time() - t0:.0f} s)", flush=True)
        writer.writerow([step, f"{loss.item():.5f}", f"{parts['l1']:.5f}", f"{parts['edge']:.5f}", f"{parts['kl']:.5f}",
                         val_psnr, f"{time.time() - t0:.1f}"])
        log.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
