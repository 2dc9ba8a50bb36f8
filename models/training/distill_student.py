"""Distil the pack's few-step student: a smaller denoiser (cel_model.CelDenoiser at --widths) taught
by the frozen baseline (its EMA weights), made for 4 DDIM steps.

Each step noises an in-between latent at a timestep the student will meet at inference (the
trailing 4-step schedule 999, 749, 499, 249 most of the time, any timestep otherwise) and adds
  - velocity: MSE between the student's and the teacher's v on the same noisy latent;
  - latent: MSE between the student's x̂₀ and the true latent;
  - pixels: L1 between the frozen decoder's image of the student's x̂₀ (with the keyframe
    references) and the true frame, on a few crops of the batch.
Seeded, checkpointed (<run>/student_last.pt, atomic, with an EMA) and resumable; losses go to
<run>/student_log.csv.

    /usr/bin/python3 -m models.training.distill_student --data data/procedural --vae runs/vae/vae_last.pt \\
        --teacher runs/denoiser/denoiser_last.pt --run runs/student --steps 1500
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from models.training.cel_model import CelConfig, CelDenoiser, RefDecoder
from models.training.diffusion import Schedule
from models.training.latents import CROPS, LatentCrop, LatentTriplets, cache_latents, load_denoiser
from models.training.trainlib import (
    Checkpoint,
    CsvLog,
    FrameCache,
    StepBudget,
    add_bf16_option,
    add_run_options,
    clip_frames,
    clip_targets,
    ema_update,
    lr_at,
    mixed_precision,
    optimizer_step,
    pick_device,
    seeded,
    set_lr,
    to_float,
)

FEW_STEP_TIMESTEPS = [999, 749, 499, 249]  # trailing spacing, 4 steps, 1000 training steps


class PixelCrops(FrameCache):
    """The image crops matching LatentTriplets' latent crops (8× the coordinates)."""

    def __init__(self, root: Path):
        super().__init__()
        self.root = root

    def crops(self, where: list[LatentCrop]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        s, m, e = [], [], []
        for c in where:
            clip = self.root / c.clip
            frames = [
                self.raw(clip / "frame1.png"),
                self.raw(clip_targets(clip)[c.target][0]),
                self.raw(clip / "frame3.png"),
            ]
            frames = [f[:, 8 * c.y : 8 * (c.y + c.h), 8 * c.x : 8 * (c.x + c.w)] for f in frames]
            if c.flipped:
                frames = [f.flip(-1) for f in frames]
            if c.reversed:
                frames = frames[::-1]
            s.append(frames[0])
            m.append(frames[1])
            e.append(frames[2])
        return to_float(torch.stack(s)), to_float(torch.stack(m)), to_float(torch.stack(e))


def pixel_decoder(vae: Path, pixel_batch: int, device) -> RefDecoder | None:
    """The VAE stage's own decoder (frozen) for the pixel term; None with `pixel_batch` 0. A VAE read back
    from a pack (from_pack.py) has no decoder: the pack ships the encoder only."""
    if pixel_batch <= 0:
        return None
    state = torch.load(vae, map_location="cpu")
    if "dec" not in state:
        raise SystemExit(
            f"{vae} has no VAE decoder (a VAE read back from a pack has the encoder only): "
            "--pixel-batch 0 distils without the pixel term"
        )
    decoder = RefDecoder()
    decoder.load_state_dict(state["dec"])
    return decoder.eval().requires_grad_(False).to(device)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/procedural")
    ap.add_argument("--vae", default="runs/vae/vae_last.pt")
    ap.add_argument("--teacher", default="runs/denoiser/denoiser_last.pt")
    ap.add_argument("--latents", default=None, help="latent cache folder (default: the teacher's run folder)")
    ap.add_argument("--run", default="runs/student")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument(
        "--pixel-batch",
        type=int,
        default=4,
        help="crops of each batch decoded for the pixel term; 0: no pixel term (needs no VAE decoder)",
    )
    ap.add_argument("--widths", default="24,48,48")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--ema", type=float, default=0.995)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    add_run_options(ap)
    add_bf16_option(ap)
    args = ap.parse_args()
    rng = seeded(args.threads, args.seed)
    budget = StepBudget(args.minutes)
    device = pick_device(args.device)
    run = Path(args.run)
    teacher, scale = load_denoiser(Path(args.teacher))
    teacher.to(device)
    decoder = pixel_decoder(Path(args.vae), args.pixel_batch, device)
    cache_dir = Path(args.latents) if args.latents else Path(args.teacher).parent
    train = cache_latents(Path(args.data), "train", Path(args.vae), cache_dir / "latents_train.pt", device)
    cfg = CelConfig(widths=tuple(int(w) for w in args.widths.split(",")))
    student = CelDenoiser(cfg).to(device)
    ema = copy.deepcopy(student).eval()
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=0.0)
    ckpt = Checkpoint(run, "student")
    step = ckpt.resume(rng, model=student, ema=ema, opt=opt)
    sched = Schedule()
    data = LatentTriplets(train["clips"], scale, rng)
    pixels = PixelCrops(Path(args.data) / "train") if decoder is not None else None  # the pixel term's frames
    if pixels is not None:
        pixels.preload(
            [f for name in sorted(train["clips"]) for f in clip_frames(Path(args.data) / "train" / name)],
            workers=2 * args.threads,
        )
    few = torch.tensor(FEW_STEP_TIMESTEPS)
    alphas_cumprod = sched.alphas_cumprod.to(device)
    log = CsvLog(run / "student_log.csv", ["step", "loss", "velocity", "latent", "pixels", "lr", "seconds"], step)
    t0 = time.time()
    total = args.steps  # until the budget says otherwise
    while step < total:
        total = budget.total(step, args.steps)
        student.train()
        lr = lr_at(step, total, args.lr)
        set_lr(opt, lr)
        batch = data.batch(args.batch, CROPS[0])
        s, m, e, tau = batch.start, batch.middle, batch.end, batch.tau
        t = torch.randint(0, sched.train_steps, (args.batch,))
        use_few = torch.rand(args.batch) < 0.7
        t = torch.where(use_few, few[torch.randint(0, len(few), (args.batch,))], t)
        noise = torch.randn_like(m)  # drawn on the CPU: the same stream on every device
        s, m, e, tau, t, noise = (v.to(device) for v in (s, m, e, tau, t, noise))
        xt, _ = sched.noisy(m, t, noise)
        with mixed_precision(device, args.bf16):
            with torch.no_grad():
                v_teacher = teacher(xt, t.float(), s, e, tau).float()
            v = student(xt, t.float(), s, e, tau).float()
        ab = alphas_cumprod[t].view(-1, 1, 1, 1)
        x0 = ab.sqrt() * xt - (1 - ab).sqrt() * v
        l_v = F.mse_loss(v, v_teacher)
        l_lat = F.mse_loss(x0, m)
        l_pix = torch.zeros((), device=device)
        if decoder is not None and pixels is not None:
            n = args.pixel_batch
            ps, pm, pe = (v.to(device) for v in pixels.crops(batch.crops[:n]))
            with mixed_precision(device, args.bf16):
                y = decoder(x0[:n] / scale, ps, pe).float()
            l_pix = (y - pm).abs().mean()
        loss = l_v + 0.5 * l_lat + l_pix
        optimizer_step(opt, loss, student.parameters())
        ema_update(ema, student, args.ema if step > 100 else 0.0)
        step += 1
        if step % args.ckpt_every == 0 or step == total:
            ckpt.save(
                step,
                rng,
                {"scale_factor": scale, "config": cfg.to_dict(), "args": vars(args)},
                model=student,
                ema=ema,
                opt=opt,
            )
            print(
                f"step {step}: loss {loss.item():.4f} (v {l_v.item():.4f} x0 {l_lat.item():.4f} px {l_pix.item():.4f})"
                f" ({time.time() - t0:.0f} s)",
                flush=True,
            )
        log.row(
            {
                "step": step,
                "loss": f"{loss.item():.5f}",
                "velocity": f"{l_v.item():.5f}",
                "latent": f"{l_lat.item():.5f}",
                "pixels": f"{l_pix.item():.5f}",
                "lr": f"{lr:.6f}",
                "seconds": f"{time.time() - t0:.1f}",
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
