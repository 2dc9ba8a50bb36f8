"""The denoisers' building blocks, shared by the trained pack's model (cel_model.CelDenoiser) and the
tiny test pack's (tiny_model.TinyDenoiser): residual blocks with a timestep embedding, single-head
self-attention whose q/k/v/out projections can carry peft-style LoRA adapters with a live scale, and
the view of a denoiser with its adapters switched off (the baseline graph).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm that normalises in float32 whatever its input is. Under bfloat16 autocast (the
    trainers' `--bf16`) a convolution hands it a bfloat16 tensor, which PyTorch 1.13's CPU kernel
    refuses beside float32 weights; a float32 input (every export, every run without `--bf16`) takes
    nn.GroupNorm's own path, so the exported graphs are unchanged."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x if x.dtype == torch.float32 else x.float())


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
        self.norm1 = GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm2 = GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(emb)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


class LoraSpec(NamedTuple):
    """The LoRA adapters of an attention block's q/k/v/out (rank 0: none)."""

    rank: int = 0
    alpha: float = 16.0
    dropout: float = 0.0


class Attention(nn.Module):
    """Single-head self-attention over spatial positions; q/k/v/out are Linear (LoRA targets)."""

    def __init__(self, channels: int, groups: int, lora: LoraSpec = LoraSpec()):
        super().__init__()
        self.norm = GroupNorm(groups, channels)
        self.q = nn.Linear(channels, channels)
        self.k = nn.Linear(channels, channels)
        self.v = nn.Linear(channels, channels)
        self.out = nn.Linear(channels, channels)
        self.lora = nn.ModuleDict()
        if lora.rank > 0:
            for name in ("q", "k", "v", "out"):
                self.lora[name] = LoRALinear(getattr(self, name), lora.rank, lora.alpha, lora.dropout)

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


class BaselineView(nn.Module):
    """The denoiser with its adapters switched off: the graph exported as the baseline."""

    def __init__(self, denoiser: LoraHost):
        super().__init__()
        self.d = denoiser

    def forward(self, sample, timestep, start_latent, end_latent, position, *more):
        layers = self.d.lora_layers()
        saved = [m.live_scale for m in layers]
        for m in layers:
            m.live_scale = None
        try:
            return self.d(sample, timestep, start_latent, end_latent, position, *more)
        finally:
            for m, v in zip(layers, saved):
                m.live_scale = v
