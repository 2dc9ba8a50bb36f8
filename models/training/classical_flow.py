"""Farnebäck's dense optical flow (G. Farnebäck, "Two-frame motion estimation based on polynomial
expansion", SCIA 2003) written in plain PyTorch tensor operations, so that it exports to ONNX as part
of a pack's decoder and runs in the browser exactly as it runs in training.

It was the `cel` pack's motion graph before it learned its own (flow_net.py's MotionGraph without a
net still is), at OpenCV's usual settings: a 5-level pyramid (×½ per level), polynomial neighbourhood
±5 px with Gaussian σ 1.2, a 15×15 box window and 3 iterations per level. It is not OpenCV's
`calcOpticalFlowFarneback`: the pyramid is built by 2×2 averaging (OpenCV blurs and resamples),
samples outside the image are clamped rather than down-weighted, so flows differ by tenths of a pixel
on drawn frames. Every size that is a multiple of 2^(levels−1) works; the pack's frames are multiples
of 64. The flow-warp anchor that reports compare with is OpenCV's own (`opencv_motion` below, and
src/core/farnebackOpenCV.ts in the studio).

Operations used: Conv2d (fixed filters), AveragePool, GridSample (opset 16+), ConvTranspose (fixed
bilinear ×2) and arithmetic — nothing data-dependent in the graph's structure.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from models.training.cel_model import backward_warp

LUMA = (0.299, 0.587, 0.114)

# OpenCV's calcOpticalFlowFarneback parameters (pyr_scale, levels, winsize, iterations, poly_n,
# poly_sigma, flags) that issue #20's independent evaluation names for its flow-warp anchor.
ISSUE20_FLOW = (0.5, 5, 21, 5, 7, 1.5, 0)


def poly_filters(radius: int = 5, sigma: float = 1.2) -> torch.Tensor:
    """Correlation kernels [5, 1, 2r+1, 2r+1] giving, at every pixel, the Gaussian-weighted least-squares
    fit of f(x, y) ≈ c + b₁x + b₂y + a₁₁x² + a₂₂y² + a₁₂xy: the coefficients (b₁, b₂, a₁₁, a₂₂, a₁₂)."""
    k = torch.arange(-radius, radius + 1, dtype=torch.float64)
    y, x = torch.meshgrid(k, k, indexing="ij")
    x, y = x.reshape(-1), y.reshape(-1)
    basis = torch.stack([torch.ones_like(x), x, y, x * x, y * y, x * y], 1)  # K × 6
    w = torch.exp(-(x * x + y * y) / (2 * sigma * sigma))
    bw = basis.t() * w  # 6 × K
    filters = torch.linalg.solve(bw @ basis, bw)  # (BᵀWB)⁻¹BᵀW
    n = 2 * radius + 1
    return filters[1:].reshape(5, 1, n, n).float()


class Farneback(nn.Module):
    """forward(a, b) with images [B,3,H,W] in [-1, 1] → flow [B,2,H,W] in pixels from a to b
    (a(p) ≈ b(p + flow(p)))."""

    def __init__(
        self, levels: int = 5, iterations: int = 3, window: int = 15, poly_radius: int = 5, poly_sigma: float = 1.2
    ):
        super().__init__()
        self.levels, self.iterations, self.window = levels, iterations, window
        self.register_buffer("poly", poly_filters(poly_radius, poly_sigma), persistent=False)
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1) * 127.5, persistent=False)
        taps = torch.tensor([0.25, 0.75, 0.75, 0.25])  # ×2 bilinear (align_corners=False) as a transposed conv
        self.register_buffer("up", (taps[:, None] * taps[None, :]).expand(2, 1, 4, 4).contiguous(), persistent=False)
        self.radius = poly_radius

    def expand(self, g: torch.Tensor) -> torch.Tensor:
        r = self.radius
        return F.conv2d(F.pad(g, (r, r, r, r), mode="replicate"), self.poly)

    def upsample(self, flow: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(F.pad(flow, (1, 1, 1, 1), mode="replicate"), self.up, stride=2, padding=1, groups=2)
        return y[:, :, 2:-2, 2:-2] * 2.0

    def box(self, m: torch.Tensor) -> torch.Tensor:
        p = self.window // 2
        m = F.avg_pool2d(m, (self.window, 1), 1, (p, 0), count_include_pad=False)
        return F.avg_pool2d(m, (1, self.window), 1, (0, p), count_include_pad=False)

    def matrices(self, r0: torch.Tensor, r1: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
        """The five distinct entries of AᵀA and Aᵀ∆b at every pixel for the current flow."""
        r1 = backward_warp(r1, flow)
        a11 = (r0[:, 2:3] + r1[:, 2:3]) * 0.5
        a22 = (r0[:, 3:4] + r1[:, 3:4]) * 0.5
        a12 = (r0[:, 4:5] + r1[:, 4:5]) * 0.25  # the xy coefficient is twice the off-diagonal entry
        db1 = (r0[:, 0:1] - r1[:, 0:1]) * 0.5 + a11 * flow[:, 0:1] + a12 * flow[:, 1:2]
        db2 = (r0[:, 1:2] - r1[:, 1:2]) * 0.5 + a12 * flow[:, 0:1] + a22 * flow[:, 1:2]
        return torch.cat(
            [
                a11 * a11 + a12 * a12,
                a12 * (a11 + a22),
                a12 * a12 + a22 * a22,
                a11 * db1 + a12 * db2,
                a12 * db1 + a22 * db2,
            ],
            1,
        )

    @staticmethod
    def solve(m: torch.Tensor) -> torch.Tensor:
        g11, g12, g22, h1, h2 = m[:, 0:1], m[:, 1:2], m[:, 2:3], m[:, 3:4], m[:, 4:5]
        idet = 1.0 / (g11 * g22 - g12 * g12 + 1e-3)
        return torch.cat([(g22 * h1 - g12 * h2) * idet, (g11 * h2 - g12 * h1) * idet], 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ga = (a * self.luma).sum(1, keepdim=True) + 127.5
        gb = (b * self.luma).sum(1, keepdim=True) + 127.5
        pyr = [(ga, gb)]
        for _ in range(self.levels - 1):
            ga, gb = F.avg_pool2d(ga, 2), F.avg_pool2d(gb, 2)
            pyr.append((ga, gb))
        flow = None
        for ga, gb in reversed(pyr):
            r0, r1 = self.expand(ga), self.expand(gb)
            flow = torch.zeros_like(ga).repeat(1, 2, 1, 1) if flow is None else self.upsample(flow)
            m = self.matrices(r0, r1, flow)
            for i in range(self.iterations):
                flow = self.solve(self.box(m))
                if i + 1 < self.iterations:
                    m = self.matrices(r0, r1, flow)
        return flow


def halfway_flows(fab: torch.Tensor, fba: torch.Tensor, t: float = 0.5) -> tuple[torch.Tensor, torch.Tensor]:
    """Backward flows from the in-between at position t to either keyframe, from the two keyframe flows
    (Super SloMo's linear-motion approximation): F_t→0 = −(1−t)t·F₀₁ + t²·F₁₀, F_t→1 = (1−t)²·F₀₁ − t(1−t)·F₁₀."""
    return -(1 - t) * t * fab + t * t * fba, (1 - t) ** 2 * fab - t * (1 - t) * fba


def halfway_warp(start: torch.Tensor, end: torch.Tensor, fab: torch.Tensor, fba: torch.Tensor) -> torch.Tensor:
    """The classical flow-warp in-between at τ = ½ (the pack's evaluation anchor, src/core/flowWarp.ts): both
    keyframes warped along `halfway_flows` of the flows start→end `fab` and end→start `fba`, and averaged."""
    t0, t1 = halfway_flows(fab, fba)
    return (backward_warp(start, t0) + backward_warp(end, t1)) / 2


def pyramid_divisor(levels: int = 5) -> int:
    return int(math.pow(2, levels - 1))


def opencv_motion(start: torch.Tensor, end: torch.Tensor, params: tuple = ISSUE20_FLOW) -> torch.Tensor:
    """OpenCV's own Farnebäck flows start→end and end→start [B,4,H,W] in pixels (python3-opencv), on
    OpenCV's gray of the images ([B,3,H,W] in [-1, 1]) quantised to uint8: the flow-warp anchor's
    motion, as the studio's report computes it (src/core/flowWarp.ts `anchorMotion`, a TypeScript port
    of the same OpenCV function). Along it, `halfway_warp` is the anchor itself."""
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - CI installs it
        raise SystemExit("the flow-warp anchor needs OpenCV: apt-get install python3-opencv") from e

    def gray(x: torch.Tensor):
        rgb = ((x.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return cv2.cvtColor(rgb.permute(1, 2, 0).contiguous().numpy(), cv2.COLOR_RGB2GRAY)

    def flow(a, b) -> torch.Tensor:
        return torch.from_numpy(cv2.calcOpticalFlowFarneback(a, b, None, *params)).permute(2, 0, 1)

    pairs = [(gray(a), gray(b)) for a, b in zip(start, end)]
    return torch.stack([torch.cat([flow(a, b), flow(b, a)]) for a, b in pairs]).to(start.device)
