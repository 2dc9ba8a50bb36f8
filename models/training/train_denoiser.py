"""Train the pack's denoiser on VAE latents of triplets (ATD-12K layout), v-prediction with the
zero-terminal-SNR scaled-linear schedule the pack's manifest declares.

The VAE is frozen: its encoder's posterior means of every frame are computed once and cached in
<latent cache> (keyframes, the middle frame and any tau_*.png frames, with the latent scale factor
1 / std the pack will use). Training takes a random crop of a clip's latents, noises an in-between
(τ = ½ or another τ the clip has), and conditions on both keyframe latents and τ; flips and time
reversal (start ↔ end, τ → 1 − τ) augment. An exponential moving average of the weights is kept and
exported. Seeded, checkpointed (<run>/denoiser_last.pt, atomic) and resumable; losses go to
<run>/denoiser_log.csv. With --motion <decoder checkpoint> the denoiser is also conditioned on the
keyframe latents warped along that decoder's learned motion graph (each clip's motion cached once
beside its latents).

    /usr/bin/python3 -m models.training.train_denoiser --data data/procedural --vae runs/vae/vae_last.pt \\
        --run runs/denoiser --steps 3000
"""
from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from models.training.cel_model import CelConfig, CelDenoiser
from models.training.diffusion import Schedule
from models.training.latents import CROPS, LatentTriplets, cache_clips
from models.training.trainlib import (
    Checkpoint,
    CsvLog,
    StepBudget,
    add_bf16_option,
    add_run_options,
    ema_update,
    lr_at,
    mixed_precision,
    optimizer_step,
    pick_device,
    seeded,
    set_lr,
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data",
        default="data/procedural",
        help="triplet set(s), comma-separated; each set's latents are cached under its own name",
    )
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
    add_bf16_option(ap)
    ap.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this denoiser checkpoint's EMA weights and config (fine-tuning; fresh optimiser)",
    )
    ap.add_argument(
        "--motion",
        type=Path,
        default=None,
        help="condition the denoiser also on the keyframe latents warped along the motion graph of this "
        "decoder (or flow_net) checkpoint; with --init from a denoiser without it, the new input weights "
        "start at zero (it starts as that denoiser)",
    )
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
            part = cache_clips(d, split, Path(args.vae), cache_dir, f"{split}{tag}", args.motion, device)
            acc["clips"].update({f"{d.name}/{k}" if i else k: v for k, v in part["clips"].items()})
            if i == 0:
                acc["std"] = part["std"]
    sched = Schedule()
    if args.init:
        init = torch.load(args.init, map_location="cpu")
        cfg = CelConfig.from_dict(init["config"], **({"motion": True} if args.motion else {}))
        scale = float(init["scale_factor"])
    else:
        cfg = CelConfig(widths=tuple(int(w) for w in args.widths.split(",")), motion=bool(args.motion))
        scale = 1.0 / train["std"]
    model = CelDenoiser(cfg)
    if args.init:
        if cfg.motion and not init["config"].get("motion"):
            model.load_without_motion(init["ema"])
        else:
            model.load_state_dict(init["ema"])
    model.to(device)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    ckpt = Checkpoint(run, "denoiser")
    step = ckpt.resume(rng, model=model, ema=ema, opt=opt)
    data = LatentTriplets(train["clips"], scale, rng)
    fixed = LatentTriplets(val["clips"], scale, random.Random(1234), mid_prob=1.0).batch(32, CROPS[0])
    vs, vm, ve, vtau, vmot = fixed.start, fixed.middle, fixed.end, fixed.tau, fixed.motion
    vt = torch.linspace(0, sched.train_steps - 1, 32).long()
    vnoise = torch.randn(vs.shape, generator=torch.Generator().manual_seed(5))
    vs, vm, ve, vtau, vt, vnoise = (v.to(device) for v in (vs, vm, ve, vtau, vt, vnoise))
    vmot = None if vmot is None else vmot.to(device)
    log = CsvLog(run / "denoiser_log.csv", ["step", "loss", "val_loss", "lr", "seconds"], step)
    t0 = time.time()
    total = args.steps  # until the budget says otherwise
    while step < total:
        total = budget.total(step, args.steps)
        model.train()
        lr = lr_at(step, total, args.lr)
        set_lr(opt, lr)
        batch = data.batch(args.batch)
        s, m, e, tau = batch.start, batch.middle, batch.end, batch.tau
        t = torch.randint(0, sched.train_steps, (args.batch,))
        noise = torch.randn_like(m)  # drawn on the CPU: the same stream on every device
        s, m, e, tau, t, noise = (v.to(device) for v in (s, m, e, tau, t, noise))
        mot = None if batch.motion is None else batch.motion.to(device)
        xt, v = sched.noisy(m, t, noise)
        with mixed_precision(device, args.bf16):
            pred = model(xt, t.float(), s, e, tau, cell_motion=mot)
        loss = F.mse_loss(pred.float(), v)
        optimizer_step(opt, loss, model.parameters())
        ema_update(ema, model, args.ema if step > 200 else 0.0)
        step += 1
        val_loss = ""
        if step % args.ckpt_every == 0 or step == total:
            with torch.no_grad():
                xt, v = sched.noisy(vm, vt, vnoise)
                val_loss = f"{F.mse_loss(ema(xt, vt.float(), vs, ve, vtau, cell_motion=vmot), v).item():.5f}"
            ckpt.save(
                step,
                rng,
                {"scale_factor": scale, "config": cfg.to_dict(), "args": vars(args)},
                model=model,
                ema=ema,
                opt=opt,
            )
            print(f"step {step}: loss {loss.item():.4f} val {val_loss} ({time.time() - t0:.0f} s)", flush=True)
        log.row(
            {
                "step": step,
                "loss": f"{loss.item():.5f}",
                "val_loss": val_loss,
                "lr": f"{lr:.6f}",
                "seconds": f"{time.time() - t0:.1f}",
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
