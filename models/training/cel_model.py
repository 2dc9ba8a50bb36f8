"""The bundled trained pack's models ("cel"): a light VAE whose decoder takes keyframe references,
and a conditional UNet denoiser with attention at low resolution.

- `CelEncoder`: image [B,3,H,W] in [-1,1] -> (mean, logvar) [B,4,H/8,W/8].
- `RefDecoder`: (latent [B,4,h,w], start_image, end_image [B,3,8h,8w]) -> image. As in ToonCrafter's
  detail-injecting decoder, the fitted keyframes are encoded by a small shared pyramid and their
  features are concatenated at every decoder level (1/8 … 1/1), so detail that the 8× latent cannot
  hold (outlines, flat fills that did not move, painted backgrounds) is taken from the keyframes.
- `CelDenoiser`: predicts v for the in-between's noisy latent from both keyframe latents and τ; three
  levels (latent, 1/2, 1/4) with self-attention at 1/2 and 1/4 (q/k/v/out carry peft-style LoRA when
  configured), so it can match content between the keyframes over the whole frame: the motion cue.

Everything is fully convolutional (dynamic batch, height, width): the graphs run at any multiple of 64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.training.layers import Attention, GroupNorm, LoraHost, LoraSpec, ResBlock, timestep_embedding


LATENT_DOWNSAMPLE = 8  # image pixels per latent cell (CelEncoder's three stride-2 stages)


def _gn(c: int) -> GroupNorm:
    return GroupNorm(min(8, c // 4), c)


class Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.n1, self.c1 = _gn(c), nn.Conv2d(c, c, 3, 1, 1)
        self.n2, self.c2 = _gn(c), nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.c2(F.silu(self.n2(self.c1(F.silu(self.n1(x))))))


class CelEncoder(nn.Module):
    """image [B,3,H,W] in [-1,1] -> (mean, logvar) [B,C,H/8,W/8]."""

    def __init__(self, widths=(24, 48, 96), latent_channels: int = 4):
        super().__init__()
        a, b, c = widths
        self.body = nn.Sequential(
            nn.Conv2d(3, a, 3, 2, 1),
            nn.SiLU(),
            nn.Conv2d(a, a, 3, 1, 1),
            nn.SiLU(),  # 1/2
            nn.Conv2d(a, b, 3, 2, 1),
            Res(b),  # 1/4
            nn.Conv2d(b, c, 3, 2, 1),
            Res(c),
            Res(c),  # 1/8
        )
        self.norm = _gn(c)
        self.out = nn.Conv2d(c, 2 * latent_channels, 3, 1, 1)

    def forward(self, x):
        h = self.out(F.silu(self.norm(self.body(x))))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-20, 10)


class RefPyramid(nn.Module):
    """Keyframe image -> features at 1/2, 1/4, 1/8 (shared by both keyframes). The 1/2 level starts
    from the space-to-depth of the image (12 channels), so no convolution runs at full resolution."""

    def __init__(self, widths=(12, 24, 32)):
        super().__init__()
        self.s1 = nn.Conv2d(12, widths[0], 3, 1, 1)
        self.s2 = nn.Conv2d(widths[0], widths[1], 3, 2, 1)
        self.s3 = nn.Conv2d(widths[1], widths[2], 3, 2, 1)

    def forward(self, x):
        x1 = F.pixel_unshuffle(x, 2)
        f1 = F.silu(self.s1(x1))
        f2 = F.silu(self.s2(f1))
        f3 = F.silu(self.s3(f2))
        return [x1, f1, f2, f3]


class RefDecoder(nn.Module):
    """(latent [B,C,h,w] unscaled, start_image, end_image [B,3,8h,8w]) -> image [B,3,8h,8w] in [-1,1].

    Decoding is a fixed cost of every in-between (a few-step student is only fast if the decoder is),
    so no convolution runs at full resolution: the last stage works at 1/2 on 2×2 pixel blocks (the
    keyframes enter as space-to-depth, 12 channels each) and ends with depth-to-space. Each output
    pixel is a softmax-weighted choice between a synthesised colour and the two keyframes' pixels at
    that place (as occlusion-aware blending in frame interpolation), so what did not move is copied
    exactly and the latent only has to carry what changed.
    """

    def __init__(self, widths=(64, 48, 32), ref_widths=(12, 24, 32), latent_channels: int = 4):
        super().__init__()
        w3, w2, w1 = widths
        r1, r2, r3 = ref_widths
        self.ref = RefPyramid(ref_widths)
        self.inp = nn.Conv2d(latent_channels, w3, 3, 1, 1)
        self.fuse3 = nn.Conv2d(w3 + 2 * r3, w3, 1)
        self.mid = Res(w3)
        self.up2 = nn.Conv2d(w3, w2, 3, 1, 1)
        self.fuse2 = nn.Conv2d(w2 + 2 * r2, w2, 1)
        self.res2 = Res(w2)
        self.up1 = nn.Conv2d(w2, w1, 3, 1, 1)
        self.fuse1 = nn.Conv2d(w1 + 2 * r1 + 2 * 12, w1, 3, 1, 1)
        self.res1 = nn.Conv2d(w1, w1, 3, 1, 1)
        # Per 2×2 block: RGB (3) and three selection logits (3) for each of the 4 pixels.
        self.out = nn.Conv2d(w1, 24, 3, 1, 1)

    def forward(self, latent, start_image, end_image):
        fs, fe = self.ref(start_image), self.ref(end_image)
        h = F.silu(self.fuse3(torch.cat([self.inp(latent), fs[3], fe[3]], 1)))
        h = self.mid(h)
        h = F.silu(self.up2(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        h = self.res2(F.silu(self.fuse2(torch.cat([h, fs[2], fe[2]], 1))))
        h = F.silu(self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        h = F.silu(self.fuse1(torch.cat([h, fs[1], fe[1], fs[0], fe[0]], 1)))
        h = h + F.silu(self.res1(h))
        out = F.pixel_shuffle(self.out(h), 2)  # [B, 6, H, W]
        # Each pixel is a soft choice between the synthesised colour and the two keyframes' pixels at
        # the same place: static regions come back exact, moving ones are synthesised.
        weights = torch.softmax(out[:, 3:], dim=1)
        return weights[:, :1] * torch.tanh(out[:, :3]) + weights[:, 1:2] * start_image + weights[:, 2:] * end_image


@dataclass
class CelConfig:
    latent_channels: int = 4
    widths: tuple = (48, 96, 96)
    emb_dim: int = 128
    lora_rank: int = 0
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    # Conditioned also on the keyframe latents warped along the pack's motion graph (`motion`).
    motion: bool = False

    def to_dict(self) -> dict:
        """What checkpoints store (plain types)."""
        return {**self.__dict__, "widths": list(self.widths)}

    @staticmethod
    def from_dict(d: dict, **overrides) -> "CelConfig":
        return CelConfig(**{**d, "widths": tuple(d["widths"]), **overrides})


def motion_prior(motion: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
    """Backward flows [B,4,H,W] from the in-between at τ = `position` to the start and to the end
    keyframe, assuming linear motion, from the motion graph's `motion` (flows start→end and end→start,
    in pixels): the prior the decoder's flows correct and along which a motion-conditioned denoiser
    warps the keyframe latents."""
    tau = position.view(-1, 1, 1, 1)
    f01, f10 = motion[:, :2], motion[:, 2:]
    return torch.cat([-(1 - tau) * tau * f01 + tau * tau * f10, (1 - tau) * (1 - tau) * f01 - tau * (1 - tau) * f10], 1)


def reversed_motion(motion: torch.Tensor) -> torch.Tensor:
    """The motion graph's output for the keyframes the other way round (played backwards): its two flows,
    start→end and end→start, swapped — channels 2–3 then 0–1 of [4,H,W] or [B,4,H,W]."""
    return torch.cat([motion[..., 2:, :, :], motion[..., :2, :, :]], -3)


def mirrored_motion(motion: torch.Tensor) -> torch.Tensor:
    """The motion graph's output for the keyframes mirrored left to right: both flows mirrored, their x
    components (channels 0 and 2) negated — [4,H,W] or [B,4,H,W]."""
    return motion.flip(-1) * torch.tensor([-1.0, 1.0, -1.0, 1.0], device=motion.device).view(4, 1, 1)


def latent_motion(motion: torch.Tensor, factor: int) -> torch.Tensor:
    """The motion graph's output at the latent's resolution (`factor` pixels a cell), in latent cells
    (averaged over each cell). `motion_prior` is linear in the motion, so the prior of this is the
    prior's cell average."""
    return F.avg_pool2d(motion, factor) / factor


class CelDenoiser(LoraHost):
    """forward(sample, timestep, start_latent, end_latent, position[, motion]) -> v; all latents scaled.

    UNet: latent level (w0), 1/2 (w1, attention), 1/4 (w2, attention), back up with skips. With
    `cfg.motion` it also takes the motion graph's output (`motion` [1 or B,4,H,W], full resolution) and
    sees the two keyframe latents warped to the in-between along its prior (`motion_prior`, averaged
    to latent cells) beside the plain ones.
    """

    def __init__(self, cfg: CelConfig):
        super().__init__()
        self.cfg = cfg
        c, e = cfg.latent_channels, cfg.emb_dim
        w0, w1, w2 = cfg.widths
        g = 8
        lora = LoraSpec(cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout)
        self.emb = nn.Sequential(nn.Linear(2 * 64, e), nn.SiLU(), nn.Linear(e, e))
        self.inp = nn.Conv2d((5 if cfg.motion else 3) * c, w0, 3, 1, 1)
        self.d0 = ResBlock(w0, w0, e, g)
        self.down1 = nn.Conv2d(w0, w1, 3, 2, 1)
        self.d1 = ResBlock(w1, w1, e, g)
        self.a1 = Attention(w1, g, lora)
        self.down2 = nn.Conv2d(w1, w2, 3, 2, 1)
        self.m1 = ResBlock(w2, w2, e, g)
        self.a2 = Attention(w2, g, lora)
        self.m2 = ResBlock(w2, w2, e, g)
        self.up1 = nn.Conv2d(w2, w1, 3, 1, 1)
        self.u1 = ResBlock(2 * w1, w1, e, g)
        self.up0 = nn.Conv2d(w1, w0, 3, 1, 1)
        self.u0 = ResBlock(2 * w0, w0, e, g)
        self.out_norm = GroupNorm(g, w0)
        self.out = nn.Conv2d(w0, c, 3, 1, 1)
        with torch.no_grad():
            self.out.weight.mul_(0.1)
            self.out.bias.zero_()

    def forward(self, sample, timestep, start_latent, end_latent, position, motion=None, cell_motion=None):
        """`motion`: the motion graph's output [1 or B, 4, H, W], only with `cfg.motion`; training
        passes its `latent_motion` as `cell_motion` instead (cropped with the latents)."""
        emb = self.emb(torch.cat([timestep_embedding(timestep, 64), timestep_embedding(position * 1000.0, 64)], 1))
        cond = [sample, start_latent, end_latent]
        if self.cfg.motion:
            if cell_motion is None:
                cell_motion = latent_motion(motion, LATENT_DOWNSAMPLE)
            flow = motion_prior(cell_motion, position)
            cond += [backward_warp(start_latent, flow[:, :2]), backward_warp(end_latent, flow[:, 2:])]
        x0 = self.d0(self.inp(torch.cat(cond, 1)), emb)
        x1 = self.a1(self.d1(self.down1(x0), emb))
        h = self.m1(self.down2(x1), emb)
        h = self.m2(self.a2(h), emb)
        h = self.up1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.u1(torch.cat([h, x1], 1), emb)
        h = self.up0(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.u0(torch.cat([h, x0], 1), emb)
        return self.out(F.silu(self.out_norm(h)))

    def load_without_motion(self, state: dict) -> None:
        """Loads a denoiser trained without motion conditioning into one with it: the input
        convolution's weights for the warped latents start at zero, so it starts out as that denoiser."""
        w = state["inp.weight"]
        c = self.cfg.latent_channels
        state = {**state, "inp.weight": torch.cat([w, w.new_zeros(w.shape[0], 2 * c, *w.shape[2:])], 1)}
        self.load_state_dict(state)


def bind_motion(model: nn.Module, motion: torch.Tensor | None):
    """`model` as the samplers call it, (sample, timestep, start, end, τ) → v, with the motion graph's
    `motion` bound when it is a motion-conditioned denoiser."""
    if not getattr(getattr(model, "cfg", None), "motion", False):
        return model
    if motion is None:
        raise ValueError("this denoiser is conditioned on the motion graph's output, and none was given")
    return lambda x, t, s, e, p: model(x, t, s, e, p, motion=motion)


class MeanEncoder(nn.Module):
    """The exported encoder: the posterior mean only (the pack's `latent` output, unscaled)."""

    def __init__(self, enc: CelEncoder):
        super().__init__()
        self.enc = enc

    def forward(self, image):
        return self.enc(image)[0]


def backward_warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Samples `image` [B,C,H,W] at (x + flow_x, y + flow_y) (flow [B,2,H,W] in pixels), bilinear,
    edges clamped (ONNX GridSample, opset 16+). The grid is built from the input's own shape, so the
    graph stays fully dynamic."""
    _, _, h, w = image.shape
    xs = (torch.arange(w, dtype=image.dtype, device=image.device) + 0.5) * (2.0 / w) - 1.0
    ys = (torch.arange(h, dtype=image.dtype, device=image.device) + 0.5) * (2.0 / h) - 1.0
    gx = xs.view(1, 1, w) + flow[:, 0] * (2.0 / w)
    gy = ys.view(1, h, 1) + flow[:, 1] * (2.0 / h)
    return F.grid_sample(image, torch.stack([gx, gy], -1), mode="bilinear", padding_mode="border", align_corners=False)


class BilinearUp(nn.Module):
    """×factor bilinear upsampling (align_corners=False, edges clamped: F.interpolate's result) as a
    fixed depthwise ConvTranspose on an edge-padded input: in ONNX Runtime's CPU kernels that is
    several times cheaper than Resize at full resolution."""

    def __init__(self, channels: int, factor: int = 4):
        super().__init__()
        k = 2 * factor
        taps = torch.tensor([1 - abs((i - (k - 1) / 2) / factor) for i in range(k)])
        self.register_buffer("weight", (taps[:, None] * taps[None, :]).expand(channels, 1, k, k).contiguous())
        self.factor, self.channels = factor, channels

    def forward(self, x):
        f = self.factor
        y = F.conv_transpose2d(
            F.pad(x, (1, 1, 1, 1), mode="replicate"), self.weight, stride=f, padding=f // 2, groups=self.channels
        )
        return y[:, :, f:-f, f:-f]


def symmetric_costs(fa: torch.Tensor, fb: torch.Tensor, r: int, reduce: str) -> tuple[torch.Tensor, list]:
    """Symmetric matching costs of two feature maps [B,C,H,W]: for each displacement d = (dx, dy) within
    ±r cells, a's features at x − d times b's at x + d, reduced over channels (`reduce`: "mean" or
    "sum") — high where a thing moved from x − d to x + d through x. Returns the costs
    [B,(2r+1)²,H,W] and the displacements in their order (dy outer, dx inner).

    Static slices of padded maps, no correlation op in ONNX, and few kernels: the 2r+1 column shifts
    of each map are stacked on channels once, each row shift then multiplies the two stacks whole,
    and one reduction over channels gives every cost (~40 kernels at r = 4 where a product and a
    reduction per displacement took ~330; the same values)."""
    n, c = 2 * r + 1, fa.shape[1]
    pa, pb = F.pad(fa, (r, r, r, r)), F.pad(fb, (r, r, r, r))
    end = lambda k: -k if k > 0 else None  # noqa: E731 (a slice end as seen from the padded map's end)
    cols_a = torch.cat([pa[..., r - dx : end(r + dx)] for dx in range(-r, r + 1)], 1)  # [B, n·C, H+2r, W]
    cols_b = torch.cat([pb[..., r + dx : end(r - dx)] for dx in range(-r, r + 1)], 1)
    prods = [cols_a[:, :, r - dy : end(r + dy)] * cols_b[:, :, r + dy : end(r - dy)] for dy in range(-r, r + 1)]
    p = torch.cat(prods, 1)  # [B, n²·C, H, W]: displacement-major, then channel
    costs = getattr(p.reshape(-1, n * n, c, p.shape[2], p.shape[3]), reduce)(2)
    offsets = [(dx, dy) for dy in range(-r, r + 1) for dx in range(-r, r + 1)]
    return costs, offsets


def soft_argmax(w: torch.Tensor, offsets: list) -> torch.Tensor:
    """The displacement [B,2,H,W] (in cells) that weights `w` [B,N,H,W] (summing to 1 over N) give
    the N `offsets` of `symmetric_costs`."""
    d = torch.tensor(offsets, dtype=w.dtype, device=w.device).t().reshape(2, len(offsets), 1, 1)
    return torch.cat([(w * d[0]).sum(1, keepdim=True), (w * d[1]).sum(1, keepdim=True)], 1)


def corr_radius_of(inputs: int) -> int:
    """The radius r of a cost-volume branch from the inputs of its first convolution: (2r+1)² costs
    and a 2-channel soft-argmax."""
    return (math.isqrt(inputs - 2) - 1) // 2


class FlowDecoder(nn.Module):
    """The pack's decoder: (latent [B,C,h,w] unscaled, start_image, end_image [B,3,8h,8w]) -> image.

    A motion-aware reference decoder. From the in-between's latent and the keyframes' features at
    1/8 (dilated convolutions reach about ±80 px) it estimates two backward flows — where each output
    pixel was in either keyframe — refines them at 1/4, warps both keyframes there at full resolution
    (bilinear GridSample), and makes every pixel a softmax-weighted choice between five candidates: a
    synthesised colour, the two keyframes' pixels at the same place and the two warped keyframes'
    pixels. Static regions come back exact, moving ones are carried along by the flows (outlines
    stay sharp instead of ghosting), and what neither keyframe shows is synthesised from the latent.

    Decoding is a fixed cost of every in-between, so nothing but the warps and the final blend runs
    at full resolution: images enter as 4×4 blocks (a stride-4 convolution), the output leaves by a
    stride-4 transposed convolution, flows are upsampled by a fixed bilinear transposed convolution,
    and the softmax is written out (exp of clamped logits over their sum), all cheaper in ONNX Runtime
    than SpaceToDepth / Resize / Softmax over channels. It is trained (train_decoder.py) on latents the
    denoisers actually sample, so it learns how far to trust them.

    With `motion=True` it also takes a classical motion estimate (the pack's motion graph: Farnebäck
    flows start→end and end→start, classical_flow.py) and the in-between's τ; the linear-motion flows
    to τ made from them are a prior at full resolution, and the flows the decoder estimates become
    corrections added to it. Same parameters, same cost per decode.

    With `prior_candidates=True` (needs `motion`) two more candidates join the choice: the keyframes
    warped along the prior alone. The flows the decoder estimates are corrections of the prior that are
    never quite still (~0.7 px on frames where nothing moves), so where the motion graph's warp is
    right — held cels, small drawings that barely move — the decoder can take it as it is instead of
    the corrected warps or the keyframes in place. Two more GridSamples and multiply-adds at full
    resolution; `load_widening` loads a decoder without them.

    With `gate=True` (needs `motion`) the decoder also reads from its features at 1/4 a gain between 0
    and 2 for each direction's corrections (2·sigmoid, its convolution zero-initialised: corrections as
    they were): where the prior is right it can turn them off, so held cels are warped along the prior
    alone, exact to the pixel, without the prior candidates' two extra full-resolution warps. One small
    convolution and a multiply at 1/4; nothing more at full resolution. `close_gate` shuts it for good:
    the decoder then warps along the prior as it is (build_pack.py does so when the prior is the pack's
    fused motion, which the corrections, learnt on the learned graph's flows alone, only spoil).

    With `tone=True` the chosen colour then goes through a gain and offset per channel, one for the
    whole frame, that the decoder reads from its features averaged over the frame (`tone_h`, `tone`; the
    last is zero-initialised, so a decoder trained without it loads unchanged). A latent whose tone
    differs from the keyframes' (a colour-grading LoRA's, say) then recolours the keyframes' pixels
    instead of being replaced by them — everywhere alike, flat paper and painted backgrounds — and the
    lines stay theirs. It costs two full-resolution multiply-adds and nothing at 1/4.

    With `blend_in_place=True` the two keyframes' own pixels are one candidate, not two: their blend at
    τ, (1 − τ)·start + τ·end (τ = ½ without `position`). A held cel is then the two keyframes' mean, not
    mostly one of them; which keyframe to take where one of them is covered is the warped candidates'
    choice (at a held pixel they are the keyframes' own). A decoder trained with free in-place candidates
    gave the end keyframe's pixels about three times the start's on held cels, either way round in time (its
    own bias: with the keyframes swapped the weight stays with the end slot), costing about a dB on
    Synfig's barely moving documents. One candidate fewer: one multiply-add less at full resolution.
    `load_narrowing` loads a decoder with the two candidates into one with the blend.
    """

    CANDIDATES = 5
    # With prior_candidates: the keyframes warped along the motion prior alone, two more candidates.
    PRIOR_CANDIDATES = 2
    # Their logits' initial bias (weights zero): 0, so that they take a share from the first step where
    # the other logits are low (a probe starting them at −5 left them unused after 400 steps).
    PRIOR_LOGIT_BIAS = 0.0
    # The gate's logits are its convolution's output × this, so that a zero-initialised gate fine-tuned at the
    # decoder's small learning rate can still close (a probe at ×1: 1000 steps at 1e-4 moved it by 0.01).
    GATE_SCALE = 20.0
    # A closed gate's bias (weights zero): a gain of 2·sigmoid(−40) ≈ 1e-17, the corrections nil.
    CLOSED_GATE_BIAS = -2.0
    # The cost-volume branch's modules (present when corr_radius > 0; absent from older checkpoints).
    CORR_MODULES = ("ref16", "cfeat", "corr_h", "corr_in")
    # Modules a decoder may lack and still load into one that has them (each starts as a no-op).
    OPTIONAL_MODULES = CORR_MODULES + ("tone_h", "tone", "gate")

    def __init__(
        self,
        widths=(64, 48),
        block_channels: int = 16,
        latent_channels: int = 4,
        corr_radius: int = 0,
        motion: bool = False,
        tone: bool = False,
        prior_candidates: bool = False,
        gate: bool = False,
        blend_in_place: bool = False,
    ):
        super().__init__()
        w8, w4 = widths
        rb = block_channels
        self.corr_radius = corr_radius
        self.motion = motion
        if prior_candidates and not motion:
            raise ValueError("prior_candidates needs motion=True: they are the keyframes warped along the prior")
        self.prior_candidates = prior_candidates
        if gate and not motion:
            raise ValueError("gate needs motion=True: it gates the corrections of the motion prior")
        if gate:
            # Per direction, at 1/4: a gain 2·sigmoid(·) of the flow corrections, 1 at first.
            self.gate = nn.Conv2d(w4, 2, 3, 1, 1)
            with torch.no_grad():
                self.gate.weight.zero_()
                self.gate.bias.zero_()
        else:
            self.gate = None
        self.blend_in_place = blend_in_place
        self.base_candidates = self.CANDIDATES - (1 if blend_in_place else 0)
        self.candidates = self.base_candidates + (self.PRIOR_CANDIDATES if prior_candidates else 0)
        if tone:
            # For the whole frame, from its mean features: gain − 1 (3) and offset (3) of the chosen colour.
            self.tone_h = nn.Conv2d(w4, w4, 1)
            self.tone = nn.Conv2d(w4, 6, 1)
            with torch.no_grad():
                self.tone.weight.zero_()
                self.tone.bias.zero_()
        else:
            self.tone = None
        if corr_radius:
            # Motion by matching (see `motion16`): features of both keyframes at 1/16, compared at every
            # displacement within ±corr_radius (symmetric about the in-between's pixel).
            n = (2 * corr_radius + 1) ** 2
            self.ref16 = nn.Conv2d(32, 32, 3, 2, 1)
            self.cfeat = nn.Conv2d(32, 24, 1)
            self.corr_h = nn.Conv2d(n + 2, w8, 3, 1, 1)
            self.corr_in = nn.Conv2d(w8, w8, 1)
            with torch.no_grad():  # starts as a no-op: a decoder trained without it loads unchanged
                self.corr_in.weight.zero_()
                self.corr_in.bias.zero_()
        self.blk = nn.Conv2d(3, rb, 4, 4)  # a full-resolution image -> features of its 4×4 blocks
        self.ref8 = nn.Conv2d(rb, 32, 3, 2, 1)
        self.inp = nn.Conv2d(latent_channels + 64, w8, 3, 1, 1)
        self.mid = nn.Sequential(
            Res(w8),
            nn.SiLU(),
            nn.Conv2d(w8, w8, 3, 1, 2, dilation=2),
            nn.SiLU(),
            nn.Conv2d(w8, w8, 3, 1, 4, dilation=4),
            Res(w8),
        )
        self.flow8 = nn.Conv2d(w8, 4, 3, 1, 1)
        self.up4 = nn.Conv2d(w8, w4, 1)
        self.fuse4 = nn.Conv2d(w4 + 2 * rb + 4, w4, 1)
        self.res4 = Res(w4)
        self.flow4 = nn.Conv2d(w4, 4, 3, 1, 1)
        self.upflow = BilinearUp(4, 4)
        self.fuse_out = nn.Conv2d(w4 + 4 * rb, w4, 1)
        self.res_out = nn.Conv2d(w4, w4, 3, 1, 1)
        self.out = nn.ConvTranspose2d(w4, 3 + self.candidates, 4, 4)  # per pixel: RGB + candidate logits
        with torch.no_grad():
            for conv in (self.flow8, self.flow4):
                conv.weight.mul_(0.1)
                conv.bias.zero_()
            if prior_candidates:
                self.out.weight[:, 3 + self.base_candidates :].zero_()
                self.out.bias[3 + self.base_candidates :].fill_(self.PRIOR_LOGIT_BIAS)

    def load_widening(self, state: dict) -> list[str]:
        """Loads a decoder's weights into this one, which may have more parts: the optional modules
        (cost volume, tone, gate; they keep their inactive initial weights), with blend_in_place the two
        in-place candidates as one (`load_narrowing`) and, with prior_candidates, the
        two candidates warped along the prior alone, whose logits start at PRIOR_LOGIT_BIAS with zero
        weights; every other weight is that decoder's. Returns the keys that were missing."""
        state = dict(self.load_narrowing(state))
        ow, ob = state["out.weight"], state["out.bias"]
        widen = ow.shape[1] == 3 + self.base_candidates and self.out.weight.shape[1] > ow.shape[1]
        if widen:
            state["out.weight"] = torch.cat([ow, self.out.weight.detach()[:, ow.shape[1] :].to(ow)], 1)
            state["out.bias"] = torch.cat([ob, self.out.bias.detach()[ob.shape[0] :].to(ob)])
        missing = self.load_state_dict(state, strict=False).missing_keys
        if any(k.split(".")[0] not in self.OPTIONAL_MODULES for k in missing):
            raise ValueError(f"not a FlowDecoder of this shape: missing {missing}")
        return missing

    def load_narrowing(self, state: dict) -> dict:
        """A decoder state with the two in-place candidates (start, end) as one with `blend_in_place`: the
        blend's logit starts as the mean of their two logits + log 2 (exactly their summed weight where the
        two agree). Other states are returned as they are."""
        ow, ob = state["out.weight"], state["out.bias"]
        if not self.blend_in_place or ow.shape[1] != self.out.weight.shape[1] + 1:
            return state
        state = dict(state)  # channels: RGB (3), synthesised, start, end, warped start, warped end, …
        state["out.weight"] = torch.cat([ow[:, :4], (ow[:, 4:5] + ow[:, 5:6]) / 2, ow[:, 6:]], 1)
        state["out.bias"] = torch.cat([ob[:4], (ob[4:5] + ob[5:6]) / 2 + math.log(2.0), ob[6:]])
        return state

    def load_without_motion(self, state: dict) -> list[str]:
        """Loads a decoder trained without the motion prior (and maybe without the cost volume) into one
        with it. The weights are the same; only the flow heads' last convolutions start at zero, so
        the decoder starts out warping the keyframes along the prior alone (its flows become
        corrections of the prior, learnt from there). Returns the missing keys (the cost volume's,
        when absent)."""
        missing = self.load_state_dict(state, strict=False).missing_keys
        with torch.no_grad():
            for conv in (self.flow8, self.flow4):
                conv.weight.zero_()
                conv.bias.zero_()
        return missing

    def close_gate(self) -> None:
        """Shuts the gate of the flow corrections for good (weights zero, bias CLOSED_GATE_BIAS, no
        gradient): the flows are the motion prior's alone, the keyframes warped along it as it is. The
        graph is unchanged; only the gate's weights say so."""
        if self.gate is None:
            raise ValueError("this decoder has no gate (gate=True)")
        with torch.no_grad():
            self.gate.weight.zero_()
            self.gate.bias.fill_(self.CLOSED_GATE_BIAS)
        self.gate.requires_grad_(False)

    @property
    def gate_closed(self) -> bool:
        """Whether the gate is shut as `close_gate` shuts it."""
        g = self.gate
        return g is not None and not g.weight.any() and bool((g.bias <= self.CLOSED_GATE_BIAS).all())

    def motion16(self, rs, re):
        """Symmetric matching cost at 1/16: for each displacement d within ±r (in 1/16 cells), the
        mean product of start features at x − d and end features at x + d — high where a thing moved
        from x − d to x + d through the in-between's pixel x (linear motion about the middle), so it
        reaches ±16r px each way. Returns the costs and their soft-argmax displacement (2 channels, in
        cells) — `symmetric_costs`."""
        r = self.corr_radius
        fs = self.cfeat(F.silu(self.ref16(rs)))
        fe = self.cfeat(F.silu(self.ref16(re)))
        cost, offsets = symmetric_costs(fs, fe, r, "mean")
        w = torch.exp(cost.clamp(-15.0, 15.0))
        w = w / w.sum(1, keepdim=True)
        return cost, soft_argmax(w, offsets)

    def forward(self, latent, start_image, end_image, motion=None, position=None):
        """`motion` [B,4,H,W] (start→end and end→start flows in pixels, the pack's motion graph) and
        `position` [B] (τ) only for a decoder made with `motion=True`."""
        bs, be = F.silu(self.blk(start_image)), F.silu(self.blk(end_image))
        prior = motion_prior(motion, position) if self.motion else None
        rs, re = F.silu(self.ref8(bs)), F.silu(self.ref8(be))
        x = self.inp(torch.cat([latent, rs, re], 1))
        if self.corr_radius:
            cost, disp = self.motion16(rs, re)
            m = F.silu(self.corr_h(torch.cat([cost, disp], 1)))
            x = x + self.corr_in(F.interpolate(m, scale_factor=2.0, mode="nearest"))
        h = self.mid(F.silu(x))
        # Flows in full-resolution pixels (×16 so that small weights reach far).
        flow = F.interpolate(self.flow8(h) * 16.0, scale_factor=2.0, mode="nearest")
        h = F.silu(self.up4(F.interpolate(h, scale_factor=2.0, mode="nearest")))
        seen = flow if prior is None else flow + F.avg_pool2d(prior, 4)  # the flow estimate so far, at 1/4
        h = self.res4(F.silu(self.fuse4(torch.cat([h, bs, be, seen / 16.0], 1))))
        flow = flow + self.flow4(h) * 4.0
        if self.gate is not None:
            g = 2.0 * torch.sigmoid(self.gate(h) * self.GATE_SCALE)
            flow = flow * torch.cat([g[:, :1], g[:, :1], g[:, 1:], g[:, 1:]], 1)
        full = self.upflow(flow) if prior is None else prior + self.upflow(flow)  # the prior at full resolution
        ws, we = backward_warp(start_image, full[:, :2]), backward_warp(end_image, full[:, 2:])
        h = F.silu(self.fuse_out(torch.cat([h, bs, be, F.silu(self.blk(ws)), F.silu(self.blk(we))], 1)))
        h = h + F.silu(self.res_out(h))
        out = self.out(h)
        weights = torch.exp(out[:, 3:].clamp(-15.0, 15.0))
        weights = weights / weights.sum(1, keepdim=True)
        if self.blend_in_place:
            tau = 0.5 if position is None else position.view(-1, 1, 1, 1)
            candidates = [torch.tanh(out[:, :3]), start_image + tau * (end_image - start_image), ws, we]
        else:
            candidates = [torch.tanh(out[:, :3]), start_image, end_image, ws, we]
        if self.prior_candidates:
            candidates += [backward_warp(start_image, prior[:, :2]), backward_warp(end_image, prior[:, 2:])]
        chosen = sum(weights[:, i : i + 1] * c for i, c in enumerate(candidates))
        if self.tone is None:
            return chosen
        g = self.tone(F.silu(self.tone_h(h.mean((2, 3), keepdim=True))))
        return chosen * (1.0 + g[:, :3]) + g[:, 3:]
