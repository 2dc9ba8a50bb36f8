"""The tiny, randomly initialised test pack's modules (make_tiny_pack.py → models/tiny): a small VAE
(downsample 8, 4 latent channels) and a conditional denoiser UNet that sees the noisy latent, both
keyframe latents and the in-between position τ, with self-attention at the low resolution whose
q/k/v/out projections carry LoRA adapters (layers.py).

Everything is fully convolutional (dynamic batch, height, width), so exported graphs run at the
pack's default size and at other multiples of 64. The trained pack's models are in cel_model.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from models.training.layers import Attention, GroupNorm, LoraHost, LoraSpec, ResBlock, timestep_embedding


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
            nn.Conv2d(3, width, 3, 2, 1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, 2, 1),
            nn.SiLU(),
            nn.Conv2d(width, width, 3, 2, 1),
            nn.SiLU(),
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
        self.attn = Attention(2 * w, g, LoraSpec(cfg.lora_rank, cfg.lora_alpha, cfg.lora_dropout))
        self.block3 = ResBlock(2 * w, 2 * w, e, g)
        self.up = nn.Conv2d(2 * w, w, 3, 1, 1)
        self.block4 = ResBlock(2 * w, w, e, g)
        self.out_norm = GroupNorm(g, w)
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
