"""A learned motion estimate for the pack's motion graph (issue 20), in place of Farnebäck's flows
between the keyframes (classical_flow.py).

Why: on TV-like clips (data/tvlike.py) the classical estimate misses what drawn animation does — flat
colour regions with no texture to follow, inked outlines, hair, parts sliding over each other and
motions of 20–100 px — and the pack's decoder can only correct its prior so far.

What it estimates: m, the motion through each pixel of the *middle* frame — where the thing seen
there goes from the start keyframe to the end one. The graph returns it as the motion tensor the
decoder already takes (channels 0–1 "start→end", 2–3 "end→start") in the form (m, −m): the decoder's
linear-motion prior (`classical_flow.halfway_flows`, Super SloMo's approximation) then gives the
backward flows −τ·m to the start keyframe and (1 − τ)·m to the end one, i.e. linear motion indexed at
the in-between's own pixel, exact at τ = ½. (Keyframe flows indexed at the keyframe's pixels, which
that approximation assumes to hold at the in-between's, go wrong wherever a thing moved more than its
own size: the first version of this network predicted those and only matched Farnebäck.) Supervision:

- **true motion**: TV-like training clips made with `--flows` carry the exact backward flows from
  the middle frame (`flows_0.500.npz`); m = to_end − to_start: an L1 loss;
- **the in-betweens**: every training set's middle frame (and `tau_*.png` frames) is rebuilt by
  warping both keyframes along −τ·m and (1 − τ)·m and mixing them by τ: an L1 loss on that
  reconstruction, the flow warp the decoder starts from; this is what teaches it on sprites, Synfig
  and procedural clips, which have no flows.

The network (`FlowNet`, 0.53 M parameters) sees both keyframes at half resolution, encodes them to
1/32 with dilated convolutions at the coarsest levels (a reach of well over 100 px), and decodes at
1/4, upsampled bilinearly to full resolution. It runs on the pair in both orders as one batch of two
and takes m = ½(f(start, end) − f(end, start)), so a clip played backwards gets exactly −m. It
exports to ONNX with plain Conv, LeakyRelu, AveragePool, Resize and Concat (`MotionGraph`) and runs
once per keyframe pair, as the Farnebäck graph did.

With `--corr-radius R` it also matches the keyframes (`match8`): each keyframe's own features at 1/8
are correlated symmetrically about every middle-frame cell, for every displacement within ±R cells
(m up to ±16R px), and the costs with their soft-argmax join the 1/8 decoding level through a
zero-initialised branch, so `--init` from a net without it starts exactly where that net was. Without
it the regressor cannot lock onto an arbitrary fine texture moved as a whole (a camera pan over a
textured background); with it, it follows such pans (figures in docs/experiment-log.md).

    /usr/bin/python3 -m models.training.flow_net --run runs/flow --steps 8000 [--minutes 40] [--init CKPT]
    /usr/bin/python3 -m models.training.flow_net --run runs/flow --eval   # halfway warps, learned vs Farnebäck
"""
from __future__ import annotations

import argparse
import copy
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.training.cel_model import (
    backward_warp,
    corr_radius_of,
    mirrored_motion,
    reversed_motion,
    soft_argmax,
    symmetric_costs,
)
from models.training.classical_flow import Farneback, halfway_flows, halfway_warp, opencv_motion
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
    psnr,
    seeded,
    set_lr,
    to_float,
)

# Training sets and their shares of the batches (--data). TV-like clips carry true flows.
DEFAULT_DATA = "data/tvlike:0.45,data/sprites:0.3,data/procedural:0.15,data/synfig:0.1"


def _conv(i: int, o: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, dilation, dilation=dilation), nn.LeakyReLU(0.1))


class FlowNet(nn.Module):
    """forward(start, end) [B,3,H,W] in [-1, 1], H and W multiples of 64 → [B,4,H,W]: (m, −m) in
    pixels, m the motion through each pixel of the middle frame (see the module's docstring)."""

    # The matching branch's modules (present when corr_radius > 0; absent from older checkpoints).
    CORR_MODULES = ("cfeat", "corr_h", "corr_in")

    def __init__(self, widths: tuple[int, ...] = (32, 48, 64, 96), corr_radius: int = 0, corr_width: int = 32):
        super().__init__()
        w1, w2, w3, w4 = widths
        self.corr_radius = corr_radius
        self.e1 = nn.Sequential(_conv(6, w1, 2), _conv(w1, w1))  # 1/4 of full resolution
        self.e2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))  # 1/8
        self.e3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3), _conv(w3, w3, dilation=2))  # 1/16
        self.e4 = nn.Sequential(_conv(w3, w4, 2), _conv(w4, w4, dilation=2), _conv(w4, w4, dilation=4))  # 1/32
        self.d3 = _conv(w4 + w3, w3)
        self.d2 = _conv(w3 + w2, w2)
        self.d1 = _conv(w2 + w1, w1)
        self.out = nn.Conv2d(w1, 2, 3, 1, 1)
        if corr_radius:
            # Each keyframe on its own (half resolution → 1/8), then the symmetric matching cost at 1/8
            # (`match8`) for every displacement within ±corr_radius cells; costs and their soft-argmax
            # join the 1/8 decoding level through a zero-initialised branch, so a net trained without
            # it loads unchanged and fine-tunes from there.
            c = corr_width
            self.cfeat = nn.Sequential(_conv(3, c, 2), _conv(c, c), _conv(c, c, 2), _conv(c, c))
            self.corr_h = _conv((2 * corr_radius + 1) ** 2 + 2, w2)
            self.corr_in = nn.Conv2d(w2, w2, 1)
            with torch.no_grad():
                self.corr_in.weight.zero_()
                self.corr_in.bias.zero_()
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()

    @classmethod
    def from_state(cls, state: dict) -> "FlowNet":
        """A FlowNet shaped for this state dict (with the matching branch when it has one)."""
        radius = corr_radius_of(state["corr_h.0.weight"].shape[1]) if "corr_h.0.weight" in state else 0
        net = cls(corr_radius=radius, corr_width=state["cfeat.0.0.weight"].shape[0] if radius else 32)
        net.load_state_dict(state)
        return net

    def warm_start(self, state: dict) -> list[str]:
        """Loads a state dict that may lack the matching branch (it keeps its initial, inactive weights);
        returns the keys that were missing."""
        missing, unexpected = self.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith(self.CORR_MODULES) for k in missing):
            raise ValueError(f"not a FlowNet of this shape: missing {missing}, unexpected {unexpected}")
        return list(missing)

    def match8(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Symmetric matching cost at 1/8 of full resolution: for each displacement d within ±r cells,
        the correlation of a's features at x − d and b's at x + d — high where a thing moved from
        x − d to x + d through the middle frame's pixel x, i.e. m = 16·d px (±16r px in all). Returns
        the (2r+1)² costs and their soft-argmax displacement (2 channels, in cells): `symmetric_costs`."""
        r = self.corr_radius

        def feats(x):  # centred and normalised over channels: costs are correlations in [-1, 1]
            f = self.cfeat(x)
            f = f - f.mean(1, keepdim=True)
            return f * torch.rsqrt((f * f).sum(1, keepdim=True) + 1e-6)

        cost, offsets = symmetric_costs(feats(F.avg_pool2d(a, 2)), feats(F.avg_pool2d(b, 2)), r, "sum")
        w = torch.softmax(cost * 50.0, 1)  # correlations: a difference of 0.1 weighs e⁵
        return torch.cat([cost, soft_argmax(w, offsets)], 1)

    @staticmethod
    def _up(x: torch.Tensor, factor: float = 2.0) -> torch.Tensor:
        return F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)

    def quarter(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Flows a→b [B,2,H/4,W/4] in full-resolution pixels."""
        x1 = self.e1(torch.cat([F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)], 1))
        x2 = self.e2(x1)
        x3 = self.e3(x2)
        x4 = self.e4(x3)
        y = self.d3(torch.cat([self._up(x4), x3], 1))
        y = self.d2(torch.cat([self._up(y), x2], 1))
        if self.corr_radius:
            y = y + self.corr_in(self.corr_h(self.match8(a, b)))
        y = self.d1(torch.cat([self._up(y), x1], 1))
        return self.out(y) * 32.0  # small weights reach far

    def both(self, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        """[B,4,H/4,W/4]: (m, −m), m the motion through each pixel of the middle frame (one batch of both
        orders: m = ½(net(start, end) − net(end, start)), so reversing the clip negates it exactly)."""
        n = start.shape[0]
        f = self.quarter(torch.cat([start, end]), torch.cat([end, start]))
        m = (f[:n] - f[n:]) * 0.5
        return torch.cat([m, -m], 1)

    def forward(self, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        return self._up(self.both(start, end), 4.0)


class MotionGraph(nn.Module):
    """The pack's motion graph: (start_image, end_image) [B,3,H,W] → motion [B,4,H,W] in pixels, run
    once per keyframe pair. With a `FlowNet`, its learned (m, −m); without, Farnebäck's flows start→end
    and end→start (classical_flow.py, the packs made before it). The decoder's prior reads both alike."""

    def __init__(self, net: FlowNet | None = None):
        super().__init__()
        self.net = net
        self.classical = Farneback() if net is None else None

    def forward(self, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        if self.net is not None:
            h, w = start.shape[-2:]
            ph, pw = -h % 64, -w % 64  # any size in training; the studio's frames are multiples of 64
            if ph or pw:
                pad = (0, pw, 0, ph)
                f = self.net(F.pad(start, pad, mode="replicate"), F.pad(end, pad, mode="replicate"))
                return f[..., :h, :w]
            return self.net(start, end)
        n = start.shape[0]
        f = self.classical(torch.cat([start, end]), torch.cat([end, start]))
        return torch.cat([f[:n], f[n:]], 1)


def load_motion_net(source: Path | dict) -> FlowNet:
    """A FlowNet from a flow_net.py run's checkpoint (its EMA weights) or a decoder checkpoint that
    carries one (`motion_net`), given as a path or as the loaded checkpoint."""
    state = source if isinstance(source, dict) else torch.load(source, map_location="cpu")
    return FlowNet.from_state(state["motion_net"] if "motion_net" in state else state["ema"]).eval()


class FlowCrops(FrameCache):
    """Random aligned crops from several training sets: keyframes, one in-between with its τ, and the
    true (m, −m) where the clip has flows (`flows_0.500.npz`, else NaN). Flips and time reversal."""

    def __init__(
        self,
        sources: list[tuple[list[Path], float]],
        rng: random.Random,
        crop: int = 320,
        pan_share: float = 0.0,
        classical: bool = False,
    ):
        super().__init__()
        self.sources, self.rng, self.crop, self.pan_share = sources, rng, crop, pan_share
        self.flows: dict[Path, torch.Tensor | None] = {}
        # With `classical`, each batch also carries OpenCV's Farnebäck flows start→end and end→start of
        # the whole keyframes (`opencv_motion`, the motion fusion's input; cropped and flipped alike).
        self.classical = classical
        self.cv_flows: dict[Path, torch.Tensor] = {}

    def classical_flows(self, clip: Path) -> torch.Tensor:
        """OpenCV's flows [4,H,W] (start→end, end→start) of the clip's whole keyframes, computed once."""
        if clip not in self.cv_flows:
            s, e = (self.frame(clip / f)[None] for f in ("frame1.png", "frame3.png"))
            self.cv_flows[clip] = opencv_motion(s, e)[0].half()
        return self.cv_flows[clip]

    def key_flows(self, clip: Path) -> torch.Tensor | None:
        """The true (m, −m) [4,H,W] of the clip's middle frame: m = to_end − to_start of
        `flows_0.500.npz`, where the thing at each pixel goes from start to end."""
        if clip not in self.flows:
            f = clip / "flows_0.500.npz"
            if not f.exists():
                return None  # looked for again next time (files may be added while a run goes on)
            z = np.load(f)
            m = torch.from_numpy(z["to_end"].astype(np.float32) - z["to_start"].astype(np.float32))
            self.flows[clip] = torch.cat([m, -m]).half()
        return self.flows[clip]

    def pan_batch(self, n: int, c: int = 256, reach: int = 60):
        """Synthetic pans with exact motion: a texture — smooth value noise with cells of 2–32 px, or a
        training keyframe — moved by an even whole (dx, dy) within ±`reach` px, the middle frame by half
        of it; m is (dx, dy) everywhere. Teaches the net plain translation of any texture (camera pans
        over painted or screentoned backgrounds), which drawn clips alone do not."""
        clips = [c for pool, _ in self.sources for c in pool]
        out = []
        for _ in range(n):
            big = c + 2 * reach
            if self.rng.random() < 0.5:
                cell = self.rng.choice([2, 3, 4, 6, 8, 12, 16, 24, 32])
                grid = torch.rand(1, 3, big // cell + 3, big // cell + 3) * 2 - 1
                canvas = F.interpolate(grid, scale_factor=cell, mode="bicubic", align_corners=False)[0, :, :big, :big]
                canvas = (canvas * self.rng.uniform(0.2, 1.0)).clamp(-1, 1)
            else:
                img = self.frame(self.rng.choice(clips) / "frame1.png")[None]
                k = big / min(img.shape[-2:])
                if k > 1:
                    img = F.interpolate(img, scale_factor=k, mode="bilinear", align_corners=False)
                h, w = img.shape[-2:]
                y, x = self.rng.randint(0, h - big), self.rng.randint(0, w - big)
                canvas = img[0, :, y : y + big, x : x + big]
            dx, dy = (2 * self.rng.randint(-reach // 2, reach // 2) for _ in range(2))

            def view(ox: int, oy: int):
                return canvas[:, reach - oy : reach - oy + c, reach - ox : reach - ox + c]

            m = torch.tensor([dx, dy], dtype=torch.float32).view(2, 1, 1).expand(2, c, c)
            out.append((view(0, 0), view(dx // 2, dy // 2), view(dx, dy), torch.cat([m, -m])))
        s, mid, e, fl = (torch.stack(x) for x in zip(*out))
        if self.classical:
            return s, mid, e, torch.full((n,), 0.5), fl, opencv_motion(s, e)
        return s, mid, e, torch.full((n,), 0.5), fl

    def batch(self, n: int):
        if self.pan_share and self.rng.random() < self.pan_share:
            return self.pan_batch(n, min(256, self.crop // 64 * 64))
        clips, shares = zip(*self.sources)
        pool = self.rng.choices(clips, weights=shares)[0]
        picks = [self.rng.choice(pool) for _ in range(n)]
        shapes = [self.raw(c / "frame1.png").shape[1:] for c in picks]
        c = min(self.crop, *(min(s) for s in shapes)) // 64 * 64
        out = []
        for clip, (h, w) in zip(picks, shapes):
            path, tau = self.rng.choice(clip_targets(clip))
            y, x = self.rng.randint(0, h - c), self.rng.randint(0, w - c)
            s, m, e = (self.raw(p)[:, y : y + c, x : x + c] for p in (clip / "frame1.png", path, clip / "frame3.png"))
            fl = self.key_flows(clip)
            fl = fl[:, y : y + c, x : x + c].float() if fl is not None else torch.full((4, c, c), float("nan"))
            cv = self.classical_flows(clip)[:, y : y + c, x : x + c].float() if self.classical else fl
            if self.rng.random() < 0.5:  # mirrored: x components change sign
                s, m, e, fl, cv = s.flip(-1), m.flip(-1), e.flip(-1), mirrored_motion(fl), mirrored_motion(cv)
            if self.rng.random() < 0.5:  # played backwards
                s, e, tau, fl, cv = e, s, 1.0 - tau, reversed_motion(fl), reversed_motion(cv)
            out.append((s, m, e, tau, fl, cv))
        s, m, e, tau, fl, cv = zip(*out)
        batch = (
            to_float(torch.stack(s)),
            to_float(torch.stack(m)),
            to_float(torch.stack(e)),
            torch.tensor(tau, dtype=torch.float32),
            torch.stack(fl),
        )
        return (*batch, torch.stack(cv)) if self.classical else batch


def warp_to(start, end, flows, tau):
    """The in-between at τ [B] from a motion tensor [B,4,H,W]: both keyframes warped along the
    decoder's linear-motion prior to τ and mixed with weights 1−τ and τ (the flow warp at any τ)."""
    t = tau.view(-1, 1, 1, 1)
    f0, f1 = halfway_flows(flows[:, :2], flows[:, 2:], t)
    return (1 - t) * backward_warp(start, f0) + t * backward_warp(end, f1)


def training_sources(spec: str) -> list[tuple[list[Path], float]]:
    """`--data` (folder:share, comma-separated) as FlowCrops' sources: each folder's training clips and
    its share; folders without a train split are left out (and said so)."""
    sources = []
    for item in spec.split(","):
        folder, share = item.rsplit(":", 1) if ":" in item else (item, "1")
        if Path(folder, "train").is_dir():
            sources.append((list_clips(Path(folder), "train"), float(share)))
            print(f"{folder}: {len(sources[-1][0])} training clips, share {share}")
        else:
            print(f"{folder}: no train split, left out")
    if not sources:
        raise SystemExit(f"no training clips in --data {spec}")
    return sources


def flow_losses(s, m, e, tau, true, pred) -> tuple[torch.Tensor, torch.Tensor]:
    """The flow stage's two losses for a predicted motion `pred` [B,4,H,W]: the L1 of the in-between `m`
    rebuilt along it (`warp_to`), and its L1 against the true motion where a clip has one (else 0)."""
    recon = (warp_to(s, e, pred, tau) - m).abs().mean()
    known = ~torch.isnan(true[:, :1, 0, 0]).view(-1)
    flow_l1 = (pred[known] - true[known]).abs().mean() if known.any() else torch.zeros((), device=pred.device)
    return recon, flow_l1


def train(args) -> None:
    device = pick_device(args.device)
    rng = seeded(args.threads, args.seed)
    data = FlowCrops(training_sources(args.data), rng, args.crop, args.pan_share)
    net = FlowNet(corr_radius=args.corr_radius)
    if args.init:
        missing = net.warm_start(load_motion_net(args.init).state_dict())
        if missing:
            print(f"--init has no matching branch: {len(missing)} of its tensors start fresh (the branch inactive)")
    net = net.to(device)
    ema = copy.deepcopy(net).eval()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    ck = Checkpoint(Path(args.run), "flow")
    step = ck.resume(rng, net=net, ema=ema, opt=opt)
    log = CsvLog(Path(args.run) / "flow_log.csv", ["step", "loss", "flow_l1", "recon_l1", "seconds"], step)
    budget = StepBudget(args.minutes)
    t0 = time.time()
    total = args.steps  # until the budget says otherwise
    while step < total:
        total = budget.total(step, args.steps)
        set_lr(opt, lr_at(step, total, args.lr))
        s, m, e, tau, true = (x.to(device) for x in data.batch(args.batch))
        q = net.both(s, e)
        pred = F.interpolate(q, scale_factor=4.0, mode="bilinear", align_corners=False)
        recon, flow_l1 = flow_losses(s, m, e, tau, true, pred)
        loss = recon * args.recon_weight + flow_l1 * args.flow_weight
        optimizer_step(opt, loss, net.parameters())
        ema_update(ema, net, 0.999 if step > 500 else 0.0)
        step += 1
        if step % 50 == 0 or step == total:
            log.row(
                {
                    "step": step,
                    "loss": f"{loss.item():.4f}",
                    "flow_l1": f"{flow_l1.item():.3f}",
                    "recon_l1": f"{recon.item():.4f}",
                    "seconds": f"{time.time() - t0:.0f}",
                }
            )
        if step % 250 == 0 or step == total:
            ck.save(step, rng, {"config": {"corr_radius": args.corr_radius}}, net=net, ema=ema, opt=opt)
            print(f"step {step}/{total} loss {loss.item():.4f} ({time.time() - t0:.0f} s)", flush=True)
    ck.save(step, rng, {"config": {"corr_radius": args.corr_radius}}, net=net, ema=ema, opt=opt)


@torch.no_grad()
def evaluate(args) -> None:
    """Halfway flow warps (τ = ½) of the learned flows and of Farnebäck's on validation clips."""
    torch.set_num_threads(args.threads)
    net, fb = load_motion_net(Path(args.run) / "flow_last.pt"), Farneback()
    frames = FrameCache()
    for root in args.sets:
        clips = list_clips(Path(root), "val")[: args.limit]
        rows = []
        for clip in clips:
            s, m, e = (frames.frame(clip / f"frame{i}.png")[None] for i in (1, 2, 3))
            h, w = s.shape[-2] // 64 * 64, s.shape[-1] // 64 * 64
            s, m, e = s[..., :h, :w], m[..., :h, :w], e[..., :h, :w]
            learned = net(s, e)
            classical = fb(torch.cat([s, e]), torch.cat([e, s]))
            rows.append(
                (
                    psnr(halfway_warp(s, e, learned[:, :2], learned[:, 2:]).clamp(-1, 1), m),
                    psnr(halfway_warp(s, e, classical[:1], classical[1:]).clamp(-1, 1), m),
                    psnr((s + e) / 2, m),
                )
            )
        a = np.array(rows)
        d = a[:, 0] - a[:, 1]
        half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
        lo, hi = d.mean() - half, d.mean() + half
        print(
            f"{root}: {len(a)} clips  learned {a[:, 0].mean():.2f}  farneback {a[:, 1].mean():.2f}  "
            f"blend {a[:, 2].mean():.2f}  learned − farneback {d.mean():+.2f} [{lo:+.2f}, {hi:+.2f}] dB",
            flush=True,
        )


def add_flow_options(ap, *, steps: int, pan_share: float, crop: int, lr: float) -> None:
    """The options of a trainer on the flow stage's data and losses (this one, motion_fusion.py), with
    its own defaults for the step count, the pans' share, the crop size and the learning rate."""
    ap.add_argument("--data", default=DEFAULT_DATA, help="training sets as folder:share, comma-separated")
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--pan-share", type=float, default=pan_share, help="share of batches of synthetic pans (pan_batch)")
    ap.add_argument("--batch", type=int, default=6)
    ap.add_argument("--crop", type=int, default=crop)
    ap.add_argument("--lr", type=float, default=lr)
    ap.add_argument("--recon-weight", type=float, default=10.0)
    ap.add_argument("--flow-weight", type=float, default=0.5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval", action="store_true", help="evaluate the run's EMA weights instead of training")
    ap.add_argument("--sets", nargs="+", default=["data/tvlike", "data/sprites", "data/synfig", "data/procedural"])
    ap.add_argument("--limit", type=int, default=60)
    add_run_options(ap)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/flow")
    ap.add_argument("--init", type=Path, default=None, help="start from this checkpoint's (EMA) weights")
    ap.add_argument(
        "--corr-radius",
        type=int,
        default=0,
        help="with R > 0, a matching branch: costs at 1/8 for displacements within ±R cells (m up to ±16R px)",
    )
    add_flow_options(ap, steps=6000, pan_share=0.15, crop=320, lr=4e-4)
    args = ap.parse_args()
    evaluate(args) if args.eval else train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
