"""Tune a sampler end to end through the pack's decoder — the few-step student, or with --role
baseline the 25-step baseline: each step samples in-between latents with the model's own DDIM steps
from fresh noise (autograd through every step, or through the last --grad-steps: DRaFT-K), decodes
them with the FlowDecoder (its motion graph's flows and τ, as in the studio) and scores the decoded
crops against the true in-betweens — L1 + ½ Sobel-edge L1 + LPIPS-Alex × --lpips + the crops' PSNR ×
--psnr (the decoder stages' loss) + --latent × the latent's MSE to the encoder's latent of the true
in-between (keeps the samples latents). The decoder stays frozen unless --decoder-lr is set; with --lr 0
the sampler stays frozen instead and the decoder alone learns, on the sampler's fresh samples;
--still-share makes a share of the crops still (one frame three times, or held outside a random
rectangle) and --prior-candidates widens the decoder with the keyframes warped along the motion prior
alone (cel_model.FlowDecoder). Not recipe stages: a decoder tuned this way loses what the decoder-tone
stage taught it (the LoRA's grade; docs/experiment-log.md).

What it is for: the denoiser's samples are trained to be right *as the decoder reads them*, which
plain distillation (velocity and x̂₀ against the teacher and the truth) never asks for. The latent
ablation (latent_ablation.py, the REPORT) measures what that buys against the keyframes' average.

Crops of --crop latent cells from the training splits of every --data set (a set picked uniformly,
then a clip); the motion graph runs once per clip on its whole keyframes and the flows are cropped with
the frames; random horizontal flips and time reversal. Seeded, checkpointed (<run>/student_last.pt, in
the format build_pack.py and load_denoiser read, with an EMA; <run>/denoiser_last.pt for the baseline;
with --decoder-lr also
<run>/decoder_last.pt in train_decoder.py's format) and resumable; losses go to <run>/tune_log.csv.

    /usr/bin/python3 -m models.training.tune_student --data data/tvlike,data/sprites,data/procedural \\
        --student runs/student/student_last.pt --decoder runs/decoder12/decoder_last.pt --run runs/student2
    /usr/bin/python3 -m models.training.tune_student --role baseline --student runs/denoiser/denoiser_last.pt \\
        --sample-steps 25 --grad-steps 3 --run runs/denoiser2 ...
"""
from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import torch

from models.training.cel_model import FlowDecoder, bind_motion
from models.training.decoder_data import flip_and_reverse, still_crop
from models.training.diffusion import Schedule
from models.training.flow_net import MotionGraph, load_motion_net
from models.training.latents import denoiser_from, load_mean_encoder
from models.training.losses import LPIPS_DIR, crop_psnr_loss, perceptual_loss, sobel
from models.training.trainlib import (
    Checkpoint,
    CsvLog,
    FrameCache,
    StepBudget,
    add_run_options,
    clip_targets,
    ema_update,
    list_clips,
    lr_at,
    optimizer_step,
    pick_device,
    seeded,
    to_float,
)


class MotionCrops(FrameCache):
    """Aligned crops (start, in-between, end as uint8, the motion graph's flows, τ) from the training
    splits of several sets; each set is picked with equal probability. Flows are computed once per
    clip on its whole keyframes (cropped to a multiple of 8) and kept."""

    def __init__(self, roots: list[Path], graph: MotionGraph, crop: int, rng: random.Random, still: float = 0.0):
        super().__init__()
        self.graph, self.crop, self.rng, self.still = graph, crop, rng, still
        self.flows: dict[Path, torch.Tensor] = {}
        self.sets = []
        for root in roots:
            clips = [c for c in list_clips(root, "train") if clip_targets(c)]
            if not clips:
                raise SystemExit(f"{root}: no training clips with an in-between")
            self.sets.append(clips)

    def item(self):
        c = self.crop
        for _ in range(1000):
            clip = self.rng.choice(self.rng.choice(self.sets))
            start = self.raw(clip / "frame1.png")
            h, w = start.shape[-2] // 8, start.shape[-1] // 8
            if h >= c and w >= c:
                break
        else:
            raise SystemExit(f"no training clip of at least {8 * c}×{8 * c} px")
        targets = clip_targets(clip)
        k = 0 if len(targets) == 1 or self.rng.random() < 0.5 else self.rng.randrange(1, len(targets))
        middle, end = self.raw(targets[k][0]), self.raw(clip / "frame3.png")
        if clip not in self.flows:
            with torch.no_grad():
                whole = [to_float(f[None, :, : 8 * h, : 8 * w]) for f in (start, end)]
                self.flows[clip] = self.graph(*whole)[0].half()
        y, x = self.rng.randint(0, h - c), self.rng.randint(0, w - c)
        rows, cols = slice(8 * y, 8 * (y + c)), slice(8 * x, 8 * (x + c))
        frames = [f[:, rows, cols] for f in (start, middle, end)]
        flows, tau = self.flows[clip][:, rows, cols].float(), float(targets[k][1])
        frames, flows, tau, _ = flip_and_reverse(self.rng, frames, flows, tau)
        if self.still and self.rng.random() < self.still:
            frames, flows, _ = still_crop(self.rng, frames, flows, self.graph)
        return frames, flows, tau

    def batch(self, n: int):
        items = [self.item() for _ in range(n)]
        s, m, e = (to_float(torch.stack([it[0][i] for it in items])) for i in range(3))
        return s, m, e, torch.stack([it[1] for it in items]), torch.tensor([it[2] for it in items])


def decoder_note(step: int, args: argparse.Namespace, before: str | None = None) -> str:
    """What the pack's description says of a decoder tuned here, after what its checkpoint said (`before`)."""
    how = "on the frozen student's samples" if args.lr <= 0 else "together with the student"
    extra = [f"{args.still_share:.0%} of its crops still"] if args.still_share else []
    if args.prior_candidates:
        extra.append("the keyframes warped along the prior alone as two more candidates")
    tuned = f"tuned {step} steps {how} (tune_student.py" + "".join(f"; {e}" for e in extra) + ")"
    return f"{before}, then {tuned}" if before else f"decoder: {tuned}"


# The checkpoint each role writes (<run>/<name>_last.pt): the names build_pack.py reads.
ROLES = {"student": "student", "baseline": "denoiser"}


def load_decoder(path: Path) -> tuple[FlowDecoder, MotionGraph, dict]:
    """The pack decoder (its EMA weights) and the learned motion graph its checkpoint carries."""
    state = torch.load(path, map_location="cpu")
    if "motion_net" not in state:
        raise SystemExit(f"{path}: not a decoder trained with the learned motion graph (no motion_net)")
    dec = FlowDecoder(**state.get("decoder_config", {}))
    dec.load_state_dict(state["ema"])
    return dec, MotionGraph(load_motion_net(state)).eval().requires_grad_(False), state


def tuned_note(note: str | None, step: int, role: str = "student", how: str = "") -> str:
    """What the pack's description says about the model ("student: …", see build_pack.py): how it was
    made when its checkpoint says so, then this tuning."""
    tuned = f"tuned {step} steps through the pack decoder{how} (tune_student.py)"
    if role == "baseline":  # the recipe's student was distilled from the baseline before this tuning
        tuned = f"after the student was distilled from it, {tuned}"
    made = "distilled" if role == "student" else "trained"
    return f"{note}, then {tuned}" if note else f"{role}: {made}, then {tuned}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", default="data/tvlike,data/sprites,data/procedural", help="comma-separated sets (training splits)"
    )
    ap.add_argument("--vae", default="runs/vae/vae_last.pt")
    ap.add_argument("--role", choices=ROLES, default="student", help="which of the pack's samplers this is")
    ap.add_argument("--student", default="runs/student/student_last.pt", help="the checkpoint to start from")
    ap.add_argument("--decoder", default="runs/decoder12/decoder_last.pt", help="the pack decoder")
    ap.add_argument("--run", default="runs/student2")
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=24, help="crop side in latent cells (8 px each)")
    ap.add_argument("--sample-steps", type=int, default=4, help="DDIM steps of each sample (the model's own)")
    ap.add_argument("--grad-steps", type=int, default=0, help="> 0: gradients only through the last N steps")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--decoder-lr", type=float, default=0.0, help="> 0: the decoder trains too, at this rate")
    ap.add_argument(
        "--still-share",
        type=float,
        default=0.0,
        help="share of crops made still: one frame three times, or held outside a random rectangle",
    )
    ap.add_argument(
        "--prior-candidates",
        action="store_true",
        help="widen the decoder with the keyframes warped along the motion prior alone (needs --decoder-lr)",
    )
    ap.add_argument("--lpips", type=float, default=2.0)
    ap.add_argument("--psnr", type=float, default=0.3)
    ap.add_argument("--latent", type=float, default=0.1)
    ap.add_argument("--lpips-weights", type=Path, default=LPIPS_DIR / "lpips_alex_v0.1.safetensors")
    ap.add_argument("--ema", type=float, default=0.99)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    add_run_options(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rng = seeded(args.threads, args.seed)
    budget = StepBudget(args.minutes)
    device = pick_device(args.device)
    run = Path(args.run)
    lpips = perceptual_loss(args.lpips_weights, device, "alex")
    if lpips is None and args.lpips > 0:
        raise SystemExit(f"LPIPS-Alex weights not found at {args.lpips_weights} (or pass --lpips 0)")
    encoder = load_mean_encoder(Path(args.vae), device)
    init = torch.load(args.student, map_location="cpu")
    student = denoiser_from(init)  # its EMA weights, trainable
    scale = float(init["scale_factor"])
    dec, graph, dec_state = load_decoder(Path(args.decoder))
    if args.prior_candidates and not dec.prior_candidates:
        config = {**dec_state.get("decoder_config", {}), "prior_candidates": True}
        wide = FlowDecoder(**config)
        wide.load_widening(dec.state_dict())
        dec, dec_state = wide, {**dec_state, "decoder_config": config}
    student.to(device).train()
    ema = copy.deepcopy(student).eval().requires_grad_(False)
    dec.to(device)
    tune_decoder = args.decoder_lr > 0
    if args.lr <= 0 and not tune_decoder:
        raise SystemExit("--lr 0 freezes the sampler: give --decoder-lr, or there is nothing to train")
    if args.prior_candidates and not tune_decoder:
        raise SystemExit("--prior-candidates adds decoder weights: give --decoder-lr to train them")
    dec.train(tune_decoder).requires_grad_(tune_decoder)
    dec_ema = copy.deepcopy(dec).eval().requires_grad_(False) if tune_decoder else None
    # --lr 0: the sampler only samples (the decoder alone learns, on its fresh samples).
    student.requires_grad_(args.lr > 0)
    groups = [{"params": list(student.parameters()), "lr": args.lr}] if args.lr > 0 else []
    if tune_decoder:
        groups.append({"params": list(dec.parameters()), "lr": args.decoder_lr})
    rates = [g["lr"] for g in groups]  # each group's peak rate; the schedule scales them alike
    opt = torch.optim.Adam(groups)
    ckpt = Checkpoint(run, ROLES[args.role])
    step = ckpt.resume(rng, model=student, ema=ema, opt=opt)
    dec_ckpt = Checkpoint(run, "decoder") if tune_decoder else None
    if dec_ckpt and step:
        dec_ckpt.resume(random.Random(), dec=dec, ema=dec_ema)
    crops = MotionCrops([Path(d) for d in args.data.split(",")], graph, args.crop, rng, args.still_share)
    sched = Schedule()
    how = f", gradients through its last {args.grad_steps} of {args.sample_steps} DDIM steps" if args.grad_steps else ""
    fields = ["step", "loss", "l1", "lpips", "psnr", "latent", "lr", "seconds"]
    log = CsvLog(run / "tune_log.csv", fields, step)
    t0 = time.time()
    total = args.steps
    while step < total:
        total = budget.total(step, args.steps)
        frac = lr_at(step, total, 1.0, warmup=20)
        for group, rate in zip(opt.param_groups, rates):
            group["lr"] = rate * frac
        lr = args.lr * frac
        s, m, e, flows, tau = (t.to(device) for t in crops.batch(args.batch))
        with torch.no_grad():
            zs, ze, zm = encoder(s) * scale, encoder(e) * scale, encoder(m) * scale
        noise = torch.randn(zs.shape).to(device)  # drawn on the CPU: the same stream on every device
        sampler = bind_motion(student, flows)
        z = sched.sample_with_grad(sampler, zs, ze, tau, args.sample_steps, noise, args.grad_steps or None)
        y = dec(z / scale, s, e, flows, tau)
        l1 = (y - m).abs().mean()
        edge = (sobel(y) - sobel(m)).abs().mean()
        perc = lpips(y, m) if lpips else torch.zeros((), device=device)
        pixel = crop_psnr_loss(y, m)
        lat = ((z - zm) ** 2).mean()
        loss = l1 + 0.5 * edge + args.lpips * perc + args.psnr * pixel + args.latent * lat
        optimizer_step(opt, loss, [p for g in groups for p in g["params"]])
        ema_update(ema, student, args.ema)
        if tune_decoder:
            ema_update(dec_ema, dec, args.ema)
        step += 1
        if step % args.ckpt_every == 0 or step == total:
            extra = {
                "scale_factor": scale,
                "config": init["config"],
                "args": {k: str(v) for k, v in vars(args).items()},
                "base_step": init.get("step", 0),  # the distillation's steps (build_pack states both)
                "note": tuned_note(init.get("note"), step, args.role, how),
            }
            ckpt.save(step, rng, extra, model=student, ema=ema, opt=opt)
            if dec_ckpt:
                dec_extra = {
                    "decoder_config": dec_state.get("decoder_config", {}),
                    "motion_net": dec_state["motion_net"],
                    "note": decoder_note(step, args, dec_state.get("note")),
                }
                dec_ckpt.save(step, random.Random(), dec_extra, dec=dec, ema=dec_ema)
            print(
                f"step {step}: loss {loss.item():.4f} (l1 {l1.item():.4f} lpips {perc.item():.4f} "
                f"psnr {-10 * pixel.item():.2f} dB latent {lat.item():.3f}) ({time.time() - t0:.0f} s)",
                flush=True,
            )
        log.row(
            {
                "step": step,
                "loss": f"{loss.item():.5f}",
                "l1": f"{l1.item():.5f}",
                "lpips": f"{perc.item():.5f}",
                "psnr": f"{-10 * pixel.item():.3f}",
                "latent": f"{lat.item():.5f}",
                "lr": f"{lr:.7f}",
                "seconds": f"{time.time() - t0:.1f}",
            }
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
