"""Train the pack's VAE on triplets (ATD-12K layout: <root>/<split>/<clip>/frame{1,2,3}.png).

The encoder sees one frame; the decoder (cel_model.RefDecoder) rebuilds the in-between from its
latent and the two keyframes (ToonCrafter-style reference features), so it learns to take detail
from the keyframes. Targets are frame2 (τ = ½) or the clip's tau_*.png frames. Some items get another
clip's keyframes (--ref-mismatch), so the decoder cannot ignore the latent. Loss: L1 + Sobel-edge L1
on pixels + a very small KL term (as in Stable Diffusion's VAE).

Seeded, checkpointed and resumable: every --ckpt-every steps it writes <run>/vae_last.pt atomically
(models, optimiser, step, RNG states); rerunning the same command resumes. Losses and validation
PSNR go to <run>/vae_log.csv.

    /usr/bin/python3 -m models.training.train_vae --data data/procedural --run runs/vae --steps 4000
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

from models.training.cel_model import CelEncoder, RefDecoder
from models.training.losses import sobel
from models.training.trainlib import (
    Checkpoint,
    CsvLog,
    TripletCrops,
    list_clips,
    lr_at,
    optimizer_step,
    psnr,
    seeded,
    set_lr,
)


def mismatch_references(s: torch.Tensor, e: torch.Tensor, p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """With probability p per item, the keyframes of another item in the batch. Without this the
    decoder learns to copy its references and ignore the latent (a zero latent decodes the same);
    with it, it must check the references against the latent, as in moving regions at inference."""
    if p <= 0 or s.shape[0] < 2:
        return s, e
    swap = (torch.rand(s.shape[0]) < p).view(-1, 1, 1, 1)
    return torch.where(swap, s.roll(1, 0), s), torch.where(swap, e.roll(1, 0), e)


def vae_loss(enc, dec, s, m, e, kl_weight: float):
    mean, logvar = enc(m)
    z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
    y = dec(z, s, e)
    l1 = (y - m).abs().mean()
    edge = (sobel(y) - sobel(m)).abs().mean()
    kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
    return l1 + 0.5 * edge + kl_weight * kl, {"l1": l1.item(), "edge": edge.item(), "kl": kl.item()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/procedural")
    ap.add_argument("--run", default="runs/vae")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument(
        "--kl",
        type=float,
        default=1e-6,
        help="KL weight; larger values let the decoder lean on its references and the latent carry little",
    )
    ap.add_argument(
        "--ref-mismatch", type=float, default=0.3, help="share of items decoded with another clip's keyframes"
    )
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (torch picks 1 on this 2-vCPU machine)")
    args = ap.parse_args()
    rng = seeded(args.threads, args.seed)
    enc, dec = CelEncoder(), RefDecoder()
    params = list(enc.parameters()) + list(dec.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    ckpt = Checkpoint(Path(args.run), "vae")
    step = ckpt.resume(rng, enc=enc, dec=dec, opt=opt)
    root = Path(args.data)
    train = TripletCrops(list_clips(root, "train"), args.crop, rng)
    val = TripletCrops(list_clips(root, "val")[:64], args.crop, random.Random(1234), mid_prob=1.0).batch(16)
    log = CsvLog(Path(args.run) / "vae_log.csv", ["step", "loss", "l1", "edge", "kl", "val_psnr", "seconds"], step)
    t0 = time.time()
    while step < args.steps:
        enc.train()
        dec.train()
        set_lr(opt, lr_at(step, args.steps, args.lr))
        batch = train.batch(args.batch)
        s, m, e = batch.start, batch.middle, batch.end
        s, e = mismatch_references(s, e, args.ref_mismatch)
        loss, parts = vae_loss(enc, dec, s, m, e, args.kl)
        optimizer_step(opt, loss, params)
        step += 1
        val_psnr = ""
        if step % args.ckpt_every == 0 or step == args.steps:
            enc.eval()
            dec.eval()
            with torch.no_grad():
                val_psnr = f"{psnr(dec(enc(val.middle)[0], val.start, val.end), val.middle):.2f}"
            ckpt.save(step, rng, {"args": vars(args)}, enc=enc, dec=dec, opt=opt)
            print(f"step {step}: loss {loss.item():.4f} val PSNR {val_psnr} dB ({time.time() - t0:.0f} s)", flush=True)
        log.row(
            {
                "step": step,
                "loss": f"{loss.item():.5f}",
                "l1": f"{parts['l1']:.5f}",
                "edge": f"{parts['edge']:.5f}",
                "kl": f"{parts['kl']:.5f}",
                "val_psnr": val_psnr,
                "seconds": f"{time.time() - t0:.1f}",
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
