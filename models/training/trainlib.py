"""What every trainer here shares: triplet datasets (ATD-12K layout), atomic resumable checkpoints,
and CSV loss logs.

A clip folder holds frame1.png, frame2.png, frame3.png (t = 0, ½, 1) and optionally frames at
other positions named `tau_0.xyz.png` (written by data/procedural.py for training clips).
"""
from __future__ import annotations

import csv
import math
import random
import re
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image

TAU_FILE = re.compile(r"^tau_(0\.\d+)\.png$")


def load_rgb(path: Path) -> torch.Tensor:
    """[3,H,W] float in [-1, 1]."""
    a = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 127.5 - 1
    return torch.from_numpy(a).permute(2, 0, 1).contiguous()


def list_clips(root: Path, split: str) -> list[Path]:
    folder = root / split
    if not folder.is_dir():
        raise SystemExit(f"no {split} split: {folder} is not a folder (expected <root>/<split>/<clip>/frame1.png …)")
    return sorted(c for c in folder.iterdir() if c.is_dir() and all((c / f"frame{i}.png").exists() for i in (1, 2, 3)))


def clip_targets(clip: Path) -> list[tuple[Path, float]]:
    """The in-between frames of a clip with their τ: frame2 at ½ plus any tau_*.png."""
    out = [(clip / "frame2.png", 0.5)]
    for p in sorted(clip.glob("tau_*.png")):
        m = TAU_FILE.match(p.name)
        if m:
            out.append((p, float(m.group(1))))
    return out


class FrameCache:
    """Frames decoded once and kept in memory as uint8: `raw` returns that [3,H,W] uint8 tensor (crop it
    before converting: cheaper), `frame` the whole frame as float in [-1, 1] (`to_float`)."""

    def __init__(self):
        self.cache: dict[Path, torch.Tensor] = {}

    def raw(self, path: Path) -> torch.Tensor:
        img = self.cache.get(path)
        if img is None:
            img = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).contiguous()
            self.cache[path] = img
        return img

    def frame(self, path: Path) -> torch.Tensor:
        return to_float(self.raw(path))

    def preload(self, paths, workers: int = 8) -> None:
        """Decodes these frames now, on `workers` threads (PNG decoding releases the GIL), instead of
        one by one during the first pass over the data."""
        from concurrent.futures import ThreadPoolExecutor

        todo = [p for p in dict.fromkeys(paths) if p not in self.cache]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(self.raw, todo))  # each lands in the cache


def clip_frames(clip: Path) -> list[Path]:
    """Every frame file of a clip: the keyframes and all in-betweens."""
    return [clip / "frame1.png", clip / "frame3.png"] + [p for p, _ in clip_targets(clip)]


def to_float(img: torch.Tensor) -> torch.Tensor:
    """uint8 image(s) -> float in [-1, 1] (on the tensor's device)."""
    return img.float() / 127.5 - 1


class Triplet(NamedTuple):
    """Aligned image crops [3, H, W] (a batch: [B, 3, H, W]) of the keyframes and an in-between, and its
    τ (a batch: [B])."""

    start: torch.Tensor
    middle: torch.Tensor
    end: torch.Tensor
    tau: float | torch.Tensor


class TripletCrops(FrameCache):
    """Random aligned crops of triplets, with flips and time reversal."""

    def __init__(self, clips: list[Path], crop: int, rng: random.Random, mid_prob: float = 0.5):
        super().__init__()
        self.clips, self.crop, self.rng, self.mid_prob = clips, crop, rng, mid_prob

    def sample(self) -> Triplet:
        clip = self.rng.choice(self.clips)
        targets = clip_targets(clip)
        path, tau = (
            targets[0] if len(targets) == 1 or self.rng.random() < self.mid_prob else self.rng.choice(targets[1:])
        )
        s, m, e = self.frame(clip / "frame1.png"), self.frame(path), self.frame(clip / "frame3.png")
        _, h, w = s.shape
        c = min(self.crop, h, w) // 8 * 8
        y, x = self.rng.randint(0, h - c) // 8 * 8, self.rng.randint(0, w - c) // 8 * 8
        s, m, e = (f[:, y : y + c, x : x + c] for f in (s, m, e))
        if self.rng.random() < 0.5:
            s, m, e = s.flip(-1), m.flip(-1), e.flip(-1)
        if self.rng.random() < 0.5:
            s, e, tau = e, s, 1.0 - tau  # played backwards
        return Triplet(s, m, e, tau)

    def batch(self, n: int) -> Triplet:
        items = [self.sample() for _ in range(n)]
        return Triplet(
            torch.stack([i.start for i in items]),
            torch.stack([i.middle for i in items]),
            torch.stack([i.end for i in items]),
            torch.tensor([i.tau for i in items], dtype=torch.float32),
        )


def add_run_options(ap) -> None:
    """The options every GPU-capable trainer takes: --minutes (StepBudget) and --device (pick_device)."""
    ap.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="wall-clock budget: fewer steps than --steps if the measured rate would not fit them",
    )
    ap.add_argument(
        "--device", default="cpu", help="cpu (default) or cuda[:N]; checkpoints are CPU-loadable either way"
    )


def add_bf16_option(ap) -> None:
    """`--bf16`, for the trainers whose forward pass runs under `mixed_precision`."""
    ap.add_argument(
        "--bf16",
        action="store_true",
        help="the forward pass in bfloat16 (autocast; weights, optimiser and EMA stay float32): ~4x faster "
        "on CPUs with AVX512-BF16 (docs/training.md, 'Mixed precision')",
    )


def mixed_precision(device: torch.device, enabled: bool):
    """The trainers' `--bf16`: autocast to bfloat16 on `device` (convolutions, linear layers and matrix
    products in bfloat16, the rest as PyTorch's autocast keeps it), or nothing when not `enabled`. Use
    around the forward pass and take the loss of `.float()` outputs."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def pick_device(name: str) -> torch.device:
    """`--device` of the trainers: "cpu" (the default everywhere; what CI and the recipe use) or
    "cuda" / "cuda:N" when a GPU is at hand (TF32 matrix maths and cuDNN autotuning on). Checkpoints
    are written with CPU tensors either way, so a GPU run resumes or exports on a CPU machine."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit(f"--device {name}: this PyTorch sees no CUDA device")
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return device


def to_cpu(state):
    """A state dict (nested dicts / lists of tensors) with every tensor on the CPU."""
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {k: to_cpu(v) for k, v in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(to_cpu(v) for v in state)
    return state


def seeded(threads: int, seed: int) -> random.Random:
    """Sets torch's thread count and seed; returns the Python RNG the trainer samples data with."""
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    return random.Random(seed)


class Checkpoint:
    """<run>/<name>_last.pt, written atomically (an interrupted save never corrupts it): the state
    dicts of the named parts (models, EMA, optimiser), the step, the RNG states and any extras."""

    def __init__(self, run: Path, name: str):
        run.mkdir(parents=True, exist_ok=True)
        self.path, self.tmp = run / f"{name}_last.pt", run / f"{name}_last.tmp"

    def resume(self, rng: random.Random, **parts) -> int:
        """Loads every part and the RNG states from the checkpoint if there is one; returns its step."""
        if not self.path.exists():
            return 0
        state = torch.load(self.path, map_location="cpu")
        for key, part in parts.items():
            part.load_state_dict(state[key])
        torch.set_rng_state(state["torch_rng"])
        rng.setstate(state["py_rng"])
        print(f"resumed from {self.path} at step {state['step']}")
        return state["step"]

    def save(self, step: int, rng: random.Random, extra: dict, **parts) -> None:
        state = {key: to_cpu(part.state_dict()) for key, part in parts.items()}
        state.update(step=step, torch_rng=torch.get_rng_state(), py_rng=rng.getstate(), **extra)
        torch.save(state, self.tmp)
        self.tmp.replace(self.path)


class StepBudget:
    """A trainer's `--minutes`: fits the run's step count to a wall-clock budget counted from when the
    trainer started (caching included). Until `every` steps have been timed the requested step count
    stands; then the count becomes what the recent rate reaches by the deadline (never more than
    requested, re-estimated every `every` steps, so a GPU shared with another run is followed), and
    past the deadline the run ends after the step in hand. The learning-rate schedule follows the
    count. Without a budget (`minutes` None) the requested count is kept."""

    def __init__(self, minutes: float | None, every: int = 200):
        self.deadline = time.time() + 60 * minutes if minutes else None
        self.every, self.mark, self.current = every, None, None

    def total(self, step: int, steps: int) -> int:
        if self.deadline is None:
            return steps
        now = time.time()
        if now >= self.deadline:
            return min(steps, step + 1)
        if self.mark is None or self.current is None:
            self.mark, self.current = (step, now), steps
        elif step - self.mark[0] >= self.every:
            rate = (now - self.mark[1]) / (step - self.mark[0])
            self.current = min(steps, step + max(1, int((self.deadline - now) / rate)))
            self.mark = (step, now)
        return max(self.current, step + 1) if step < steps else steps


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, params, max_norm: float = 1.0) -> None:
    """Backward pass, gradient-norm clipping at `max_norm`, one optimiser step."""
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()


def lr_at(step: int, total: int, peak: float, warmup: int = 100) -> float:
    """Warm-up, then cosine decay to 10% of the peak."""
    return peak * min(1.0, (step + 1) / warmup) * (0.55 + 0.45 * math.cos(math.pi * min(step, total) / total))


def set_lr(opt: torch.optim.Optimizer, lr: float) -> None:
    for g in opt.param_groups:
        g["lr"] = lr


def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), model.parameters()):
            pe.mul_(decay).add_(p.detach(), alpha=1 - decay)


class CsvLog:
    """A CSV loss log with the columns `fields`, the first of which is "step". Starting at step 0 writes
    a new file; resuming at step k keeps the rows logged up to k and drops the later ones (steps done
    after the last checkpoint are done again). `row` takes a dict by column; columns it leaves out are
    written empty."""

    def __init__(self, path: Path, fields: list[str], step: int):
        rows: list[dict] = []
        if step > 0 and path.exists():
            with open(path, newline="") as f:
                rows = [{k: r.get(k) or "" for k in fields} for r in csv.DictReader(f) if int(r["step"]) <= step]
        self.file = open(path, "w", newline="")
        self.writer = csv.DictWriter(self.file, fields, restval="")
        self.writer.writeheader()
        self.writer.writerows(rows)
        self.file.flush()

    def row(self, values: dict) -> None:
        self.writer.writerow(values)
        self.file.flush()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) of images in [-1, 1]."""
    mse = ((a - b) / 2).pow(2).mean().item()
    return float(10 * np.log10(1 / max(mse, 1e-12)))
