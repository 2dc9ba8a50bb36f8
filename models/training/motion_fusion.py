"""The motion fusion (issue 20): the pack's learned motion and OpenCV's Farnebäck flows, mixed per pixel.

Why: the learned motion graph (flow_net.py) is right for the large, generated motion it was trained on
(TV-like clips: +0.6 dB over OpenCV's flows as the decoder's input) and wrong on real drawings' small
motions of thin lines (Synfig −0.8, sprites −0.1: doubled eyelid lines where OpenCV's warp draws one).
Picking per pixel whichever motion's two halfway warps agree better got most of both without any
training (docs/experiment-log.md, thirty-third session); this learns that pick.

What it computes, per pixel of the middle frame: m_l, the learned graph's motion; m_c = ½(F₀₁ − F₁₀),
OpenCV's (F₀₁ and F₁₀ its flows start→end and end→start at issue 20's settings, computed by the studio
in TypeScript, `src/core/farnebackOpenCV.ts`, and fed to the graph as its `classical_motion` input);
for each, how badly the keyframes warped halfway along it disagree (|start(x − m/2) − end(x + m/2)|,
averaged over channels and a 9×9 box); and the weight w = σ(g·(e_l − e_c) + head(…)) given to OpenCV's,
g a learned gain (from 40: the hand-made soft pick) and `head` a small convolutional net at half
resolution over both errors, their difference, the two motions' gap and the keyframes' difference,
zero-initialised. m = m_l + w·(m_c − m_l), returned as (m, −m) like the learned graph's.

Training (`--run`): the learned graph frozen (the pack's decoder was trained on its motion), the head
and gain trained on the flow stage's data and losses (flow_net.py: the in-between rebuilt along m, L1;
the true motion of TV-like clips made with `--flows`, L1; synthetic pans), OpenCV's flows computed
once per clip on the whole keyframes.

    /usr/bin/python3 -m models.training.motion_fusion --run runs/fusion [--motion-from DECODER_CKPT] [--steps 1500]
    /usr/bin/python3 -m models.training.motion_fusion --run runs/fusion --eval   # halfway warps: learned, OpenCV, fused
"""
from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.training.cel_model import backward_warp
from models.training.classical_flow import halfway_warp, opencv_motion
from models.training.flow_net import (
    FlowCrops,
    FlowNet,
    MotionGraph,
    add_flow_options,
    flow_losses,
    load_motion_net,
    training_sources,
)
from models.training.recipe import decoder_checkpoints, fusion_checkpoint
from models.training.trainlib import (
    Checkpoint,
    CsvLog,
    FrameCache,
    StepBudget,
    ema_update,
    list_clips,
    lr_at,
    optimizer_step,
    pick_device,
    psnr,
    seeded,
)

# The gain the fusion starts from: errors are mean absolute differences in [-1, 1] units, so a
# difference of 0.05 between the two motions' errors gives OpenCV's flows a weight of σ(2) ≈ 0.88.
START_GAIN = 40.0
PICK_LR_SCALE = 200.0


def disagreement(start: torch.Tensor, end: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """[B,1,H,W]: how badly the keyframes warped halfway along m (the motion through each middle-frame
    pixel) disagree — |start(x − m/2) − end(x + m/2)|, channel mean, 9×9 box mean."""
    d = (backward_warp(start, -0.5 * m) - backward_warp(end, 0.5 * m)).abs().mean(1, keepdim=True)
    return F.avg_pool2d(F.pad(d, (4, 4, 4, 4), mode="replicate"), 9, 1)


class MotionFusion(nn.Module):
    """forward(start, end, classical) → (m, −m) [B,4,H,W] in pixels: the learned graph's motion and
    OpenCV's mixed per pixel (see the module's docstring). `classical` [B,4,H,W]: OpenCV's flows
    start→end and end→start. Any size: padded to a multiple of 64 for the learned graph (the studio's
    fitted keyframes already are one)."""

    def __init__(self, net: FlowNet, width: int = 16):
        super().__init__()
        self.net = net
        # The gain on the errors' difference, a 1×1 convolution (so the exported graph keeps it as a weight
        # of its own); trained at PICK_LR_SCALE times the head's learning rate.
        self.pick = nn.Conv2d(1, 1, 1)
        self.head = nn.Sequential(
            nn.Conv2d(7, width, 3, 1, 1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, width, 3, 1, 2, dilation=2),
            nn.LeakyReLU(0.1),
            nn.Conv2d(width, 1, 3, 1, 1),
        )
        with torch.no_grad():
            self.pick.weight.fill_(START_GAIN)
            self.pick.bias.zero_()
            self.head[-1].weight.zero_()
            self.head[-1].bias.zero_()

    def weight(self, start, end, learned, classical) -> torch.Tensor:
        """[B,1,H,W]: the weight of OpenCV's motion `classical` (m_c) against the learned `learned` (m_l)."""
        el, ec = disagreement(start, end, learned), disagreement(start, end, classical)
        gap = (classical - learned).abs() / 16.0  # unsigned: a clip played backwards gets the same weight
        keys = (start - end).abs().mean(1, keepdim=True)
        x = torch.cat([el, ec, el - ec, gap, keys, gap.sum(1, keepdim=True)], 1)
        h = F.interpolate(self.head(F.avg_pool2d(x, 2)), scale_factor=2.0, mode="bilinear", align_corners=False)
        return torch.sigmoid(self.pick(el - ec) + h)

    def forward(self, start: torch.Tensor, end: torch.Tensor, classical: torch.Tensor) -> torch.Tensor:
        h, w = start.shape[-2:]
        ph, pw = -h % 64, -w % 64  # any size in training; the studio's frames are multiples of 64
        if ph or pw:
            pad = (0, pw, 0, ph)
            start, end, classical = (F.pad(x, pad, mode="replicate") for x in (start, end, classical))
        learned = self.net(start, end)[:, :2]
        mc = 0.5 * (classical[:, :2] - classical[:, 2:])
        m = learned + self.weight(start, end, learned, mc) * (mc - learned)
        return torch.cat([m, -m], 1)[..., :h, :w]

    @property
    def gain(self) -> float:
        return float(self.pick.weight.detach().view(-1)[0])


class OpenCVFusion(nn.Module):
    """The fused motion graph as the studio runs it, for training and evaluation in Python: (start, end)
    → (m, −m), OpenCV's flows computed here with python3-opencv (`opencv_motion`, the studio's
    TypeScript port computes the same) instead of fed in. Not exportable (the pack's graph takes them
    as its `classical_motion` input)."""

    def __init__(self, fusion: MotionFusion):
        super().__init__()
        self.fusion = fusion

    def forward(self, start: torch.Tensor, end: torch.Tensor) -> torch.Tensor:
        return self.fusion(start, end, opencv_motion(start, end))


def load_fusion(source: Path | dict, net: FlowNet | None = None) -> MotionFusion:
    """A MotionFusion from a fusion run's checkpoint (its EMA weights), given as a path or as the loaded
    checkpoint; on `net` when given (the same learned graph as the checkpoint's `motion_net`)."""
    state = source if isinstance(source, dict) else torch.load(source, map_location="cpu")
    fusion = MotionFusion(net if net is not None else load_motion_net({"motion_net": state["motion_net"]}))
    fusion.load_state_dict(state["ema"])
    return fusion.eval()


def fuses(state: dict, net: FlowNet) -> bool:
    """Whether a fusion checkpoint `state` was trained on this learned graph (its `motion_net` is `net`'s
    weights exactly): the pack decoder's, which the fusion must wrap."""
    ours = net.state_dict()
    theirs = state["motion_net"]
    return theirs.keys() == ours.keys() and all(torch.equal(theirs[k], ours[k]) for k in ours)


def pack_motion(runs: Path, decoder_state: dict) -> nn.Module:
    """The motion graph of the pack built from `runs` with this decoder checkpoint, as a (start, end) →
    motion module: the motion fusion (with OpenCV's flows computed here, `OpenCVFusion`) when the
    motion-fusion stage ran on the decoder's learned graph, else that graph alone (Farnebäck's without one)."""
    if "motion_net" not in decoder_state:
        return MotionGraph()
    net = load_motion_net(decoder_state)
    path = fusion_checkpoint(runs)
    if path is not None:
        state = torch.load(path, map_location="cpu")
        if fuses(state, net):
            return OpenCVFusion(load_fusion(state, net)).eval()
    return MotionGraph(net).eval()


def train(args) -> None:
    device = pick_device(args.device)
    rng = seeded(args.threads, args.seed)
    data = FlowCrops(training_sources(args.data), rng, args.crop, args.pan_share, classical=True)
    ck = Checkpoint(Path(args.run), "fusion")
    if args.motion_from is None and not ck.path.exists():
        decoders = decoder_checkpoints(Path(args.run).parent)
        args.motion_from = decoders[-1] if decoders else None
        print(f"fusing the learned motion graph of {args.motion_from} (the pack's decoder)")
    motion_state = torch.load(args.motion_from, map_location="cpu") if args.motion_from else None
    if motion_state is not None and "motion_net" not in motion_state:
        motion_state = {"motion_net": motion_state["ema"]}  # a flow_net.py run's checkpoint
    resumed = ck.path.exists()
    if not resumed and motion_state is None:
        raise SystemExit(
            "no decoder stage under the runs folder: --motion-from the decoder (or flow_net) checkpoint to fuse"
        )
    if resumed:
        motion_state = {"motion_net": torch.load(ck.path, map_location="cpu")["motion_net"]}
    fusion = MotionFusion(load_motion_net(motion_state)).to(device)
    fusion.net.requires_grad_(False).eval()
    ema = copy.deepcopy(fusion).eval()
    params = [p for n, p in fusion.named_parameters() if not n.startswith("net.")]
    opt = torch.optim.AdamW(
        [
            {"params": list(fusion.head.parameters())},
            {"params": list(fusion.pick.parameters()), "scale": PICK_LR_SCALE, "weight_decay": 0.0},
        ],
        lr=args.lr,
        weight_decay=1e-4,
    )
    step = ck.resume(rng, fusion=fusion, ema=ema, opt=opt)
    log = CsvLog(Path(args.run) / "fusion_log.csv", ["step", "loss", "flow_l1", "recon_l1", "gain", "seconds"], step)
    budget = StepBudget(args.minutes)
    t0 = time.time()
    total = args.steps
    extra = {"motion_net": motion_state["motion_net"]}
    while step < total:
        total = budget.total(step, args.steps)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total, args.lr) * group.get("scale", 1.0)
        s, m, e, tau, true, cv = (x.to(device) for x in data.batch(args.batch))
        with torch.no_grad():
            learned = fusion.net(s, e)[:, :2]
        mc = 0.5 * (cv[:, :2] - cv[:, 2:])
        fused = learned + fusion.weight(s, e, learned, mc) * (mc - learned)
        pred = torch.cat([fused, -fused], 1)
        recon, flow_l1 = flow_losses(s, m, e, tau, true, pred)
        loss = recon * args.recon_weight + flow_l1 * args.flow_weight
        optimizer_step(opt, loss, params)
        ema_update(ema, fusion, 0.99 if step > 100 else 0.0)
        step += 1
        if step % 25 == 0 or step == total:
            log.row(
                {
                    "step": step,
                    "loss": f"{loss.item():.4f}",
                    "flow_l1": f"{flow_l1.item():.3f}",
                    "recon_l1": f"{recon.item():.4f}",
                    "gain": f"{fusion.gain:.2f}",
                    "seconds": f"{time.time() - t0:.0f}",
                }
            )
        if step % 100 == 0 or step == total:
            ck.save(step, rng, extra, fusion=fusion, ema=ema, opt=opt)
            print(
                f"step {step}/{total} loss {loss.item():.4f} gain {fusion.gain:.2f} ({time.time() - t0:.0f} s)",
                flush=True,
            )
    ck.save(step, rng, extra, fusion=fusion, ema=ema, opt=opt)


@torch.no_grad()
def evaluate(args) -> None:
    """Halfway warps (τ = ½) along the learned motion, OpenCV's and the fused one, on validation clips
    at their own size padded to a multiple of 64 (as the studio fits them)."""
    torch.set_num_threads(args.threads)
    fusion = load_fusion(Path(args.run) / "fusion_last.pt")
    frames = FrameCache()
    for root in args.sets:
        clips = list_clips(Path(root), "val")[: args.limit]
        rows = []
        for clip in clips:
            s, m, e = (frames.frame(clip / f"frame{i}.png")[None] for i in (1, 2, 3))
            h, w = s.shape[-2:]
            pad = (0, -w % 64, 0, -h % 64)
            sp, ep = (F.pad(x, pad, mode="replicate") for x in (s, e))
            cv = opencv_motion(sp, ep)
            mc = 0.5 * (cv[:, :2] - cv[:, 2:])
            motions = {"learned": fusion.net(sp, ep), "opencv": torch.cat([mc, -mc], 1), "fused": fusion(sp, ep, cv)}
            rows.append(
                [psnr(halfway_warp(sp, ep, f[:, :2], f[:, 2:])[..., :h, :w].clamp(-1, 1), m) for f in motions.values()]
            )
        a = np.array(rows)
        cells = []
        for j, name in ((0, "learned"), (1, "opencv")):
            d = a[:, 2] - a[:, j]
            half = 1.96 * d.std(ddof=1) / np.sqrt(len(d))
            cells.append(f"fused − {name} {d.mean():+.2f} [{d.mean() - half:+.2f}, {d.mean() + half:+.2f}]")
        print(
            f"{root}: {len(a)} clips  learned {a[:, 0].mean():.2f}  opencv {a[:, 1].mean():.2f}  "
            f"fused {a[:, 2].mean():.2f}  " + "  ".join(cells) + " dB",
            flush=True,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="runs/fusion")
    ap.add_argument(
        "--motion-from",
        type=Path,
        default=None,
        help="the decoder (or flow_net) checkpoint whose learned motion graph to fuse (default: the pack's decoder "
        "among the runs beside --run)",
    )
    add_flow_options(ap, steps=1500, pan_share=0.1, crop=256, lr=2e-3)
    args = ap.parse_args()
    evaluate(args) if args.eval else train(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
