"""Small PyTorch modules for the studio's packs: a VAE (downsample 8, 4 latent channels) and a
conditional denoiser UNet that sees the noisy latent, both keyframe latents and the in-between
position tau, with self-attention at the low resolution whose q/k/v/out projections can carry
peft-style LoRA adapters with a live scale.

Everything is fully convolutional (dynamic batch, height, width), so exported graphs run at the
pack's default size and at other multiples of 64. The tiny test pack uses these modules with
random weights; the trained pack (issue #3) reuses them with larger widths.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class DenoiserConfig:
    latent_channels: int = 4
    width: int = 32
    emb_dim: int = 64
    groups: int = 4
    lora_rank: int = 0  # 0: no adapters
    lora_alpha: float = 16.0
    lora_dropout: float = 0.0
    out_init_scale: float = 0.1


class TinyEncoder(nn.Module):
    """image [B,3,H,W] in [-1,1] -> latent mean [B,C,H/8,W/8] (unscaled)."""

    def __init__(self, latent_channels: int = 4, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, width, 3, 2, 1), nn.SiLU(),
            nn.Conv2d(width, width, 3, 2, 1), nn.SiLU(),
            nn.Conv2d(width, width, 3, 2, 1), nn.SiLU(),
            nn.Conv2d(width, latent_channels, 3, 1, 1),
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.net(image)


class TinyDecoder(nn.Module):
    """latent [B,C,h,w] (unscaled) -> image [B,3,8h,8w] in [-1,1]."""

    def __init__(self, latent_channels: int = 4, width: int = 16):
        super().__init__()
        self.inp = nn.Conv2d(latent_channels, width, 3, 1, 1)
        self.ups = nn.ModuleList([nn.Conv2d(width, width, 3, 1, 1) for _ in range(3)])
        self.out = nn.Conv2d(width, 3, 3, 1, 1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.inp(latent))
        for conv in self.ups:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.silu(conv(x))
        return torch.tanh(self.out(x))


class LoRALinear(nn.Module):
    """peft-style LoRA on a Linear: y = W x + s * (alpha / r) * B(A(dropout(x))).

    `live_scale` is s: 1.0 while training, None to switch the adapter off (the baseline), or a
    tensor — export.LiveLoraScale sets it to the graph's `lora_scale` input.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0):
        super().__init__()
        self.base = base
        self.rank = rank
        self.scaling = alpha / rank
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.live_scale: float | torch.Tensor | None = 1.0
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)  # peft default: starts as the base model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.base(x)
        if self.live_scale is None:
            return y
        return y + self.live_scale * self.scaling * self.lora_B(self.lora_A(self.lora_dropout(x)))


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of [B] values (DDPM / diffusers convention: cos then sin)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None, :]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int, emb_dim: int, groups: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    """Single-head self-attention over spatial positions; q/k/v/out are Linear (LoRA targets)."""

    def __init__(self, channels: int, groups: int, cfg: DenoiserConfig):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels)
        self.q = nn.Linear(channels, channels)
        self.k = nn.Linear(channels, channels)
        self.v = nn.Linear(channels, channels)
        self.out = nn.Linear(channels, channels)
        self.lora = nn.ModuleDict()
        if cfg.lora_rank > 0:
            for name in ("q", "k", "v", "out"):
                self.lora[name] = LoRALinear(getattr(self, name), cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout)

    def proj(self, name: str, x: torch.Tensor) -> torch.Tensor:
        return self.lora[name](x) if name in self.lora else getattr(self, name)(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.norm(x).flatten(2).transpose(1, 2)  # [B, hw, C]
        q = self.proj("q", t)
        k = self.proj("k", t)
        v = self.proj("v", t)
        attn = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        o = self.proj("out", attn @ v)
        return x + o.transpose(1, 2).reshape(b, c, h, w)


class LoraHost(nn.Module):
    """A denoiser whose attention may carry LoRALinear adapters: lists them and their parameters."""

    def lora_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if "lora_" in n]

    def lora_layers(self) -> list[LoRALinear]:
        return [m for m in self.modules() if isinstance(m, LoRALinear)]


class TinyDenoiser(LoraHost):
    """Predicts v (or eps) for the noisy latent of the in-between at tau, given both keyframe latents.

    forward(sample [B,C,h,w], timestep [B], start_latent, end_latent, position [B]); LoRA adapters, when
    configured, are scaled by their `live_scale` (see export.LiveLoraScale for the graph input).
    """

    def __init__(self, cfg: DenoiserConfig):
        super().__init__()
        self.cfg = cfg
        c, w, e, g = cfg.latent_channels, cfg.width, cfg.emb_dim, cfg.groups
        self.emb = nn.Sequential(nn.Linear(2 * 32, e), nn.SiLU(), nn.Linear(e, e))
        self.inp = nn.Conv2d(3 * c, w, 3, 1, 1)
        self.block1 = ResBlock(w, w, e, g)
        self.down = nn.Conv2d(w, 2 * w, 3, 2, 1)
        self.block2 = ResBlock(2 * w, 2 * w, e, g)
        self.attn = Attention(2 * w, g, cfg)
        self.block3 = ResBlock(2 * w, 2 * w, e, g)
        self.up = nn.Conv2d(2 * w, w, 3, 1, 1)
        self.block4 = ResBlock(2 * w, w, e, g)
        self.out_norm = nn.GroupNorm(g, w)
        self.out = nn.Conv2d(w, c, 3, 1, 1)
        with torch.no_grad():
            self.out.weight.mul_(cfg.out_init_scale)
            self.out.bias.zero_()

    def forward(self, sample, timestep, start_latent, end_latent, position):
        emb = torch.cat([timestep_embedding(timestep, 32), timestep_embedding(position * 1000.0, 32)], dim=1)
        emb = self.emb(emb)
        x = self.inp(torch.cat([sample, start_latent, end_latent], dim=1))
        skip = self.block1(x, emb)
        h = self.block2(self.down(skip), emb)
        h = self.attn(h)
        h = self.block3(h, emb)
        h = self.up(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.block4(torch.cat([h, skip], dim=1), emb)
        return self.out(F.silu(self.out_norm(h)))



class BaselineView(nn.Module):
    """The denoiser with its adapters switched off: the graph exported as the baseline."""

    def __init__(self, denoiser: TinyDenoiser):
        super().__init__()
        self.d = denoiser

    def forward(self, sample, timestep, start_latent, end_latent, position):
        layers = self.d.lora_layers()
        saved = [m.live_scale for m in layers]
        for m in layers:
            m.live_scale = None
        try:
            return self.d(sample, timestep, start_latent, end_latent, position)
        finally:
            for m, v in zip(layers, saved):
                m.live_scale = v
