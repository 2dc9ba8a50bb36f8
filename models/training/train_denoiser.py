"""Train the pack's denoiser on VAE latents of triplets (ATD-12K layout), v-prediction with the
zero-terminal-SNR scaled-linear schedule the pack's manifest declares.

The VAE is frozen: its encoder's posterior means of every frame are computed once and cached in
<latent cache> (keyframes, the middle frame and any tau_*.png frames, with the latent scale factor
1 / std the pack will use). Training takes a random crop of a clip's latents, noises an in-between
(τ = ½ or another τ the clip has), and conditions on both keyframe latents and τ; flips and time
reversal (start ↔ end, τ → 1 − τ) augment. An exponential moving average of the weights is kept and
exported. Seeded, checkpointed (<run>/denoiser_last.pt, atomic) and resumable; losses go to
<run>/denoiser_log.csv.

    /usr/bin/python3 models/training/train_denoiser.py --data data/procedural --vae runs/vae/vae_last.pt \\
        --run runs/denoiser --steps 3000
"""
from __future__ import annotations

import argparse
import copy
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cel_model import CelConfig, CelDenoiser, CelEncoder  # noqa: E402
from diffusion import Schedule  # noqa: E402
from trainlib import (Checkpoint, CsvLog, StepBudget, add_run_options, clip_frames, clip_targets,  # noqa: E402
                      ema_update, list_clips, load_rgb, lr_at, optimizer_step, pick_device, seeded, set_lr)

# Latent crop sizes (h, w) a batch may use; every clip is at least 20×32 latents (160×256 px).
CROPS = [(20, 32), (32, 48)]


@torch.no_grad()
def cache_latents(data: Path, split: str, vae_ckpt: Path, out: Path, device: torch.device | str = "cpu") -> dict:
    """Encodes every clip's frames with the frozen VAE encoder (posterior mean), once; the cache
    holds CPU tensors whatever device encoded it."""
    if out.exists():
        return torch.load(out, map_location="cpu")
    enc = CelEncoder()
    enc.load_state_dict(torch.load(vae_ckpt, map_location="cpu")["enc"])
    enc.eval().to(device)
    clips = {}
    found = list_clips(data, split)
    load = lambda clip: torch.stack([load_rgb(p) for p in clip_frames(clip)])  # noqa: E731
    with ThreadPoolExecutor(max_workers=8) as pool:  # PNG decoding releases the GIL
        for i in range(0, len(found), 64):  # in chunks: the decoded frames of a whole set need not fit in memory
            chunk = found[i:i + 64]
            for clip, x in zip(chunk, pool.map(load, chunk)):
                h, w = x.shape[-2] // 8 * 8, x.shape[-1] // 8 * 8
                lat = enc(x[:, :, :h, :w].to(device))[0].half().cpu()
                clips[clip.name] = {"keys": lat[:2], "targets": lat[2:], "taus": [t for _, t in clip_targets(clip)]}
    stacked = torch.cat([c["keys"].float().flatten() for c in clips.values()])
    result = {"clips": clips, "std": float(stacked.std()), "mean": float(stacked.mean())}
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(result, out)
    return result


def load_denoiser(path: Path) -> tuple[CelDenoiser, float]:
    """A trained denoiser's EMA weights, frozen and in eval mode, and its latent scale factor."""
    state = torch.load(path, map_location="cpu")
    model = CelDenoiser(CelConfig.from_dict(state["config"]))
    model.load_state_dict(state["ema"])
    return model.eval().requires_grad_(False), float(state["scale_factor"])


class LatentTriplets:
    """Random latent crops (start, target, end, τ, clip, y, x, flipped, reversed) with augmentation."""

    def __init__(self, clips: dict, scale: float, rng: random.Random, mid_prob: float = 0.5):
        self.clips, self.scale, self.rng, self.mid_prob = clips, scale, rng, mid_prob
        self.names = sorted(clips)

    def batch(self, n: int, crop: tuple[int, int] | None = None):
        ch, cw = crop or self.rng.choice(CROPS)
        names = [k for k in self.names if self.clips[k]["keys"].shape[-2] >= ch and self.clips[k]["keys"].shape[-1] >= cw]
        s, m, e, taus, where = [], [], [], [], []
        for _ in range(n):
            name = self.rng.choice(names)
            c = self.clips[name]
            k = 0 if len(c["taus"]) == 1 or self.rng.random() < self.mid_prob else self.rng.randrange(1, len(c["taus"]))
            lat = torch.cat([c["keys"][:1], c["targets"][k:k + 1], c["keys"][1:]]).float() * self.scale
            tau = c["taus"][k]
            _, _, h, w = lat.shape
            y, x = self.rng.randint(0, h - ch), self.rng.randint(0, w - cw)
            lat = lat[:, :, y:y + ch, x:x + cw]
            flip = self.rng.random() < 0.5
            if flip:
                lat = lat.flip(-1)
            rev = self.rng.random() < 0.5
            if rev:
                lat, tau = lat.flip(0), 1.0 - tau
            s.append(lat[0])
            m.append(lat[1])
            e.append(lat[2])
            taus.append(tau)
            where.append((name, k, y, x, ch, cw, flip, rev))
        return torch.stack(s), torch.stack(m), torch.stack(e), torch.tensor(taus, dtype=torch.float32), where


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/procedural",
                    help="triplet set(s), comma-separated; each set's latents are cached under its own name")
    ap.add_argument("--vae", default="runs/vae/vae_last.pt")
    ap.add_argument("--run", default="runs/denoiser")
    ap.add_argument("--latents", default=None, help="latent cache folder (default: the run folder)")
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--widths", default="48,96,96")
    ap.add_argument("--lr", type=float, default=4e-4)
    ap.add_argument("--ema", type=float, default=0.998)
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    add_run_options(ap)
    ap.add_argument("--init", type=Path, default=None,
                    help="start from this denoiser checkpoint's EMA weights and config (fine-tuning; fresh optimiser)")
    args = ap.parse_args()
    rng = seeded(args.threads, args.seed)
    budget = StepBudget(args.minutes)
    device = pick_device(args.device)
    run = Path(args.run)
    cache_dir = Path(args.latents) if args.latents else run
    sets = [Path(d) for d in args.data.split(",")]
    train, val = ({"clips": {}}, {"clips": {}})
    for i, d in enumerate(sets):
        # The first set keeps the plain cache names (and sets the latent scale): older runs resume as they were.
        tag = "" if i == 0 else f"_{d.name}"
        for split, acc in (("train", train), ("val", val)):
            part = cache_latents(d, split, Path(args.vae), cache_dir / f"latents_{split}{tag}.pt", device)
            acc["clips"].update({f"{d.name}/{k}" if i else k: v for k, v in part["clips"].items()})
            if i == 0:
                acc["std"] = part["std"]
    sched = Schedule()
    if args.init:
        init = torch.load(args.init, map_location="cpu")
        cfg = CelConfig.from_dict(init["config"])
        scale = float(init["scale_factor"])
    else:
        cfg = CelConfig(widths=tuple(int(w) for w in args.widths.split(",")))
        scale = 1.0 / train["std"]
    model = CelDenoiser(cfg)
    if args.init:
        model.load_state_dict(init["ema"])
    model.to(device)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    ckpt = Checkpoint(run, "denoiser")
    step = ckpt.resume(rng, model=model, ema=ema, opt=opt)
    data = LatentTriplets(train["clips"], scale, rng)
    vs, vm, ve, vtau, _ = LatentTriplets(val["clips"], scale, random.Random(1234), mid_prob=1.0).batch(32, CROPS[0])
    vt = torch.linspace(0, sched.train_steps - 1, 32).long()
    vnoise = torch.randn(vs.shape, generator=torch.Generator().manual_seed(5))
    vs, vm, ve, vtau, vt, vnoise = (v.to(device) for v in (vs, vm, ve, vtau, vt, vnoise))
    log = CsvLog(run / "denoiser_log.csv", ["step", "loss", "val_loss", "lr", "seconds"], step)
    t0 = time.time()
    total = args.steps  # until the budget says otherwise
    while step < total:
        total = budget.total(step, args.steps)
        model.train()
        lr = lr_at(step, total, args.lr)
        set_lr(opt, lr)
        s, m, e, tau, _ = data.batch(args.batch)
        t = torch.randint(0, sched.train_steps, (args.batch,))
        noise = torch.randn_like(m)  # drawn on the CPU: the same stream on every device
        s, m, e, tau, t, noise = (v.to(device) for v in (s, m, e, tau, t, noise))
        xt, v = sched.noisy(m, t, noise)
        loss = F.mse_loss(model(xt, t.float(), s, e, tau), v)
        optimizer_step(opt, loss, model.parameters())
        ema_update(ema, model, args.ema if step > 200 else 0.0)
        step += 1
        val_loss = ""
        if step % args.ckpt_every == 0 or step == total:
            with torch.no_grad():
                xt, v = sched.noisy(vm, vt, vnoise)
                val_loss = f"{F.mse_loss(ema(xt, vt.float(), vs, ve, vtau), v).item():.5f}"
            ckpt.save(step, rng, {"scale_factor": scale, "config": cfg.to_dict(), "args": vars(args)},
                      model=model, ema=ema, opt=opt)
            print(f"step {step}: loss {loss.item():.4f} val {val_loss} ({time.time() - t0:.0f} s)", flush=True)
        log.row([step, f"{loss.item():.5f}", val_loss, f"{lr:.6f}", f"{time.time() - t0:.1f}"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
