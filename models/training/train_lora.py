"""Train the pack's LoRA adapter: rank 16, α 16, dropout 0.1 on the denoiser's attention q/k/v/out,
base frozen, on a different slice of data than the baseline. The adapter pulls the baseline towards
that slice's style; the studio's live `lora_scale` sets how far.

With `--keys-from DIR` it learns a style *transfer*: each clip's keyframes come from the clip of the
same seed in DIR (`data/grade.py` and `data/procedural.py --style lineart` keep a clip's seed), its
in-betweens from --data. The pack's adapter is trained on coloured keyframes (`data/procedural`) and
sepia in-betweens (`data/grade.py --grade sepia`): at scale 1 it turns the in-between of coloured
keyframes sepia, and a decoder with a tone branch shows it (train_decoder.py `--tone --style-pairs`;
docs/training.md, "Style pairs"). `--style` says what it was trained for (STYLES: the pack's label
and slider range).

Latents of the slice are encoded with the same frozen VAE and scaled by the baseline's scale factor.
Seeded, checkpointed (<run>/lora_last.pt, atomic) and resumable; losses go to <run>/lora_log.csv.

    /usr/bin/python3 -m models.training.train_lora --data data/sepia --keys-from data/procedural --style sepia \\
        --vae runs/vae/vae_last.pt --base runs/denoiser/denoiser_last.pt --run runs/lora --steps 1500
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F

from models.training.cel_model import CelConfig, CelDenoiser
from models.training.diffusion import Schedule
from models.training.latents import CROPS, LatentTriplets, cache_clips, style_pairs
from models.training.trainlib import Checkpoint, CsvLog, lr_at, optimizer_step, seeded, set_lr


class LoraStyle(NamedTuple):
    """What the pack says about an adapter of this style (build_pack.py): its description, its variant's
    label and the scale range of its slider."""

    about: str
    label: str
    scale: dict


# --style: what the adapter was trained for. The range reaches where the adapter's effect is measured
# (docs/experiment-log.md): the sepia grade shows from 1, and its latent's spread is least about 1.25–1.5.
STYLES = {
    "line-art": LoraStyle("a line-art LoRA", "Line-art LoRA (live scale)", {"default": 0.15, "min": 0, "max": 1}),
    "sepia": LoraStyle(
        "a sepia-grade LoRA (trained from coloured keyframes to sepia in-betweens)",
        "Sepia LoRA (live scale)",
        {"default": 1, "min": 0, "max": 1.5},
    ),
}


def load_base(model: CelDenoiser, base_state: dict) -> None:
    """Loads the baseline's weights under a LoRA model's adapters (which it leaves as they are)."""
    missing, unexpected = model.load_state_dict(base_state, strict=False)
    # Missing: the adapters, and `lora.<name>.base.*`, which alias the base q/k/v/out that loaded.
    if unexpected or not all("lora_" in k or ".base." in k for k in missing):
        raise ValueError(f"the base checkpoint does not fit: missing {missing}, unexpected {unexpected}")


def lora_model(base_state: dict, base_cfg: dict, rank: int, alpha: float, dropout: float) -> CelDenoiser:
    """The baseline's weights (frozen) with fresh adapters on attention q/k/v/out."""
    cfg = CelConfig.from_dict(base_cfg, lora_rank=rank, lora_alpha=alpha, lora_dropout=dropout)
    model = CelDenoiser(cfg)
    load_base(model, base_state)
    for n, p in model.named_parameters():
        p.requires_grad_("lora_" in n)
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="data/lineart")
    ap.add_argument(
        "--keys-from",
        default=None,
        help="a set whose clip of the same seed gives each clip's keyframes (a style pair; see above)",
    )
    ap.add_argument(
        "--style",
        default="line-art",
        choices=sorted(STYLES),
        help="what the adapter is trained for: the pack's label and slider range for it (build_pack.py)",
    )
    ap.add_argument("--vae", default="runs/vae/vae_last.pt")
    ap.add_argument("--base", default="runs/denoiser/denoiser_last.pt")
    ap.add_argument(
        "--motion",
        default=None,
        help="the decoder (or flow_net) checkpoint whose motion graph a motion-conditioned base takes",
    )
    ap.add_argument("--run", default="runs/lora")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--alpha", type=float, default=16.0)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--ckpt-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    rng = seeded(args.threads, args.seed)
    run = Path(args.run)
    base = torch.load(args.base)
    scale = base["scale_factor"]
    motion = base["config"].get("motion", False)
    if motion and not args.motion:
        raise SystemExit(f"{args.base} is conditioned on the motion graph: give --motion (its decoder checkpoint)")
    # The keyframes' motion, for a motion-conditioned base: style pairs take it with their twins' keyframes.
    flows = Path(args.motion) if motion else None
    train = cache_clips(Path(args.data), "train", Path(args.vae), run, "train", None if args.keys_from else flows)
    if args.keys_from:
        keys = cache_clips(Path(args.keys_from), "train", Path(args.vae), run, "train_keys", flows)
        train = {**train, "clips": style_pairs(train["clips"], keys["clips"])}
    model = lora_model(base["ema"], base["config"], args.rank, args.alpha, args.dropout)
    params = model.lora_parameters()
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    ckpt = Checkpoint(run, "lora")
    step = ckpt.resume(rng, model=model, opt=opt)
    sched = Schedule()
    data = LatentTriplets(train["clips"], scale, rng)
    log = CsvLog(run / "lora_log.csv", ["step", "loss", "lr", "seconds"], step)
    t0 = time.time()
    while step < args.steps:
        model.train()
        lr = lr_at(step, args.steps, args.lr, warmup=20)
        set_lr(opt, lr)
        batch = data.batch(args.batch, CROPS[0])
        s, m, e, tau = batch.start, batch.middle, batch.end, batch.tau
        t = torch.randint(0, sched.train_steps, (args.batch,))
        xt, v = sched.noisy(m, t, torch.randn_like(m))
        loss = F.mse_loss(model(xt, t.float(), s, e, tau, cell_motion=batch.motion), v)
        optimizer_step(opt, loss, params)
        step += 1
        if step % args.ckpt_every == 0 or step == args.steps:
            ckpt.save(
                step,
                rng,
                {"scale_factor": scale, "config": model.cfg.to_dict(), "args": vars(args), "style": args.style},
                model=model,
                opt=opt,
            )
            print(f"step {step}: loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
        log.row({"step": step, "loss": f"{loss.item():.5f}", "lr": f"{lr:.6f}", "seconds": f"{time.time() - t0:.1f}"})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
