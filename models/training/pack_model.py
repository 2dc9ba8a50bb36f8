"""The trained pack's VAE: downsample 8, 4 latent channels, fully convolutional, small enough to
train on a 2-core CPU. (The denoiser reuses tiny_model.TinyDenoiser at a larger width.)
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Res(nn.Module):
    def __init__(self, c: int, groups: int = 8):
        super().__init__()
        self.n1 = nn.GroupNorm(groups, c)
        self.c1 = nn.Conv2d(c, c, 3, 1, 1)
        self.n2 = nn.GroupNorm(groups, c)
        self.c2 = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return x + self.c2(F.silu(self.n2(self.c1(F.silu(self.n1(x))))))


class Encoder(nn.Module):
    """image [B,3,H,W] in [-1,1] -> (mean, logvar) [B,C,H/8,W/8]."""

    def __init__(self, widths=(32, 64, 96, 128), latent_channels: int = 4):
        super().__init__()
        self.inp = nn.Conv2d(3, widths[0], 3, 1, 1)
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [Res(a), nn.Conv2d(a, b, 3, 2, 1)]
        layers += [Res(widths[-1])]
        self.body = nn.Sequential(*layers)
        self.norm = nn.GroupNorm(8, widths[-1])
        self.out = nn.Conv2d(widths[-1], 2 * latent_channels, 3, 1, 1)

    def forward(self, x):
        h = self.out(F.silu(self.norm(self.body(self.inp(x)))))
        mean, logvar = h.chunk(2, dim=1)
        return mean, logvar.clamp(-20, 10)


class Decoder(nn.Module):
    """latent [B,C,h,w] -> image [B,3,8h,8w] in [-1,1]."""

    def __init__(self, widths=(128, 96, 64, 32), latent_channels: int = 4):
        super().__init__()
        self.inp = nn.Conv2d(latent_channels, widths[0], 3, 1, 1)
        self.mid = Res(widths[0])
        self.ups = nn.ModuleList()
        for a, b in zip(widths[:-1], widths[1:]):
            self.ups.append(nn.ModuleList([Res(a), nn.Conv2d(a, b, 3, 1, 1)]))
        self.final = Res(widths[-1])
        self.norm = nn.GroupNorm(8, widths[-1])
        self.out = nn.Conv2d(widths[-1], 3, 3, 1, 1)

    def forward(self, z):
        h = self.mid(self.inp(z))
        for res, conv in self.ups:
            h = conv(F.interpolate(res(h), scale_factor=2.0, mode="nearest"))
        return torch.tanh(self.out(F.silu(self.norm(self.final(h)))))


class MeanEncoder(nn.Module):
    """The exported encoder: the posterior mean only (the studio's `latent` output)."""

    def __init__(self, enc: Encoder):
        super().__init__()
        self.enc = enc

    def forward(self, image):
        return self.enc(image)[0]
