"""Train the pack's denoiser on VAE latents of triplets (ATD-12K layout), v-prediction with the
zero-terminal-SNR scaled-linear schedule the pack's manifest will declare.

The VAE is frozen: its encoder's posterior means of every frame are computed once and cached in
<run>/latents.pt, with the latent scale factor (1 / std) the pack will use. Training samples a
random crop of a clip's three latents, noises the middle one, and conditions on the two keyframe
latents and τ = 0.5; a random temporal flip swaps the keyframes. Seeded, checkpointed
(<run>/denoiser_last.pt, atomic) and resumable; losses go to <run>/denoiser_log.csv.

    /usr/bin/python3 models/training/train_denoiser.py --data data/procedural --vae runs/vae/vae_last.pt \
        --run runs/denoiser --steps 50000
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
from diffusion import Schedule  # noqa: E402
from pack_model import Encoder  # noqa: E402
from tiny_model import DenoiserConfig, TinyDenoiser  # noqa: E402


def load_rgb(path: Path) -> torch.Tensor:
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(a).permute(2, 0, 1)


@torch.no_grad()
def cache_latents(data: Path, split: str, vae_ckpt: Path, out: Path) -> dict:
    """Encodes every clip's three frames with the frozen VAE encoder (posterior mean)."""
    if out.exists():
        return torch.load(out)
    enc = Encoder()
    enc.load_state_dict(torch.load(vae_ckpt)["enc"])
    enc.eval()
    clips = {}
    for clip in sorted((data / split).iterdir()):
        frames = [clip / f"frame{i}.png" for i in (1, 2, 3)]
        if not all(f.exists() for f in frames):
            continue
        x = torch.stack([load_rgb(f) for f in frames])
        h, w = x.shape[-2] // 8 * 8, x.shape[-1] // 8 * 8
        clips[clip.name] = enc(x[:, :, :h, :w])[0].half()
    stacked = torch.cat([c.float().flatten() for c in clips.values()])
    result = {"clips": clips, "std": float(stacked.std()), "mean": float(stacked.mean())}
    torch.save(result, out)
    return result


def batch_from(clips: dict, names: list[str], rng: random.Random, n: int, crop: int, scale: float):
    """Random latent crops: (start, middle, end) each [n,C,crop,crop], with random flips."""
    s, m, e = [], [], []
    for _ in range(n):
        lat = clips[rng.choice(names)].float() * scale  # [3,C,h,w]
        _, _, h, w = lat.shape
        c = min(crop, h, w)
        y, x = rng.randint(0, h - c), rng.randint(0, w - c)
        lat = lat[:, :, y:y + c, x:x + c]
        if rng.random() < 0.5:
            lat = lat.flip(-1)
        if rng.random() < 0.5:
            lat = lat.flip(0)  # play backwards: the middle frame stays the middle frame
        s.append(lat[0])
        m.append(lat[1])
        e.append(lat[2])
    return torch.stack(s), torch.stack(m), torch.stack(e)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/procedural")
    ap.add_argument("--vae", default="runs/vae/vae_last.pt")
    ap.add_argument("--run", default="runs/denoiser")
    ap.add_argument("--steps", type=int, default=50000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=16, help="latent crop size (16 = 128 px)")
    ap.add_argument("--width", type=int, default=48)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    train = cache_latents(Path(args.data), "train", Path(args.vae), run / "latents.pt")
    val = cache_latents(Path(args.data), "val", Path(args.vae), run / "latents_val.pt")
    scale = 1.0 / train["std"]
    sched = Schedule()
    model = TinyDenoiser(DenoiserConfig(width=args.width, emb_dim=128, groups=8))
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    step = 0
    ckpt = run / "denoiser_last.pt"
    if ckpt.exists():
        state = torch.load(ckpt)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step = state["step"]
        torch.set_rng_state(state["torch_rng"])
        rng.setstate(state["py_rng"])
        print(f"resumed from {ckpt} at step {step}")
    names = sorted(train["clips"])
    val_rng = random.Random(1234)
    vs, vm, ve = batch_from(val["clips"], sorted(val["clips"]), val_rng, 32, args.crop, scale)
    vt = torch.linspace(0, sched.train_steps - 1, 32).long()
    vnoise = torch.randn(vs.shape, generator=torch.Generator().manual_seed(5))
    log = open(run / "denoiser_log.csv", "a", newline="")
    writer = csv.writer(log)
    if step == 0:
        writer.writerow(["step", "loss", "val_loss", "seconds"])
    t0 = time.time()
    while step < args.steps:
        model.train()
        s, m, e = batch_from(train["clips"], names, rng, args.batch, args.crop, scale)
        t = torch.randint(0, sched.train_steps, (args.batch,))
        noise = torch.randn_like(m)
        xt, v = sched.noisy(m, t, noise)
        tau = torch.full((args.batch,), 0.5)
        loss = F.mse_loss(model(xt, t.float(), s, e, tau), v)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        val_loss = ""
        if step % args.ckpt_every == 0 or step == args.steps:
            model.eval()
            with torch.no_grad():
                xt, v = sched.noisy(vm, vt, vnoise)
                val_loss = f"{F.mse_loss(model(xt, vt.float(), vs, ve, torch.full((32,), 0.5)), v).item():.5f}"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "scale_factor": scale,
                        "torch_rng": torch.get_rng_state(), "py_rng": rng.getstate(), "args": vars(args)},
                       run / "denoiser_last.tmp")
            (run / "denoiser_last.tmp").replace(ckpt)
            print(f"step {step}: loss {loss.item():.4f} val {val_loss} ({time.time() - t0:.0f} s)", flush=True)
        writer.writerow([step, f"{loss.item():.5f}", val_loss, f"{time.time() - t0:.1f}"])
        log.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
