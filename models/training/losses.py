"""Loss terms the trainers share: Sobel edges, LPIPS as a perceptual loss, and the per-crop PSNR term."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from models.training.export_lpips import SHARED_LPIPS, build_model

# The LPIPS weights' folder (lpips_{alex,squeeze}_v0.1.safetensors), beside the repository.
LPIPS_DIR = SHARED_LPIPS


def perceptual_loss(weights: Path | None, device: torch.device | str = "cpu", backbone: str = "squeeze"):
    """LPIPS (`backbone`: squeeze or alex) as a loss (mean over the batch), or None when no weights are
    given / found."""
    if weights is None or not weights.exists():
        return None
    net = build_model(backbone, [weights]).to(device)
    return lambda a, b: sum(m.mean() for m in net.layer_maps(a, b))


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Horizontal and vertical Sobel responses of each channel: [B, 3, H, W] → [B, 6, H, W]."""
    k = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], device=x.device)
    kx = k.view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    ky = k.t().contiguous().view(1, 1, 3, 3).repeat(3, 1, 1, 1)
    return torch.cat([F.conv2d(x, kx, padding=1, groups=3), F.conv2d(x, ky, padding=1, groups=3)], 1)


def crop_psnr_loss(y: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """−(mean over the batch of each image's PSNR in dB) / 10, for images in [-1, 1]."""
    return torch.log10(((y - m) / 2).pow(2).flatten(1).mean(1) + 1e-8).mean()
