"""Diffusion schedule for training, matching the studio's sampler (src/core/scheduler.ts):
scaled-linear or linear betas, optional zero-terminal-SNR rescale (Lin et al. 2023, Algorithm 1),
and the v-prediction target (Salimans & Ho 2022)."""
from __future__ import annotations

import torch


def make_betas(schedule: str, start: float, end: float, steps: int) -> torch.Tensor:
    if schedule == "linear":
        return torch.linspace(start, end, steps, dtype=torch.float64)
    if schedule == "scaled_linear":
        return torch.linspace(start ** 0.5, end ** 0.5, steps, dtype=torch.float64) ** 2
    raise ValueError(f"unknown beta schedule {schedule}")


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    alphas_bar_sqrt = torch.cumprod(1 - betas, 0).sqrt()
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * first / (first - last)
    alphas_bar = alphas_bar_sqrt ** 2
    alphas = torch.cat([alphas_bar[:1], alphas_bar[1:] / alphas_bar[:-1]])
    return 1 - alphas


class Schedule:
    def __init__(self, train_steps: int = 1000, schedule: str = "scaled_linear", beta_start: float = 0.00085,
                 beta_end: float = 0.012, zero_terminal_snr: bool = True):
        betas = make_betas(schedule, beta_start, beta_end, train_steps)
        if zero_terminal_snr:
            betas = rescale_zero_terminal_snr(betas)
        self.alphas_cumprod = torch.cumprod(1 - betas, 0).float()
        self.train_steps = train_steps

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t and the v target for integer timesteps t [B]."""
        ab = self.alphas_cumprod[t].view(-1, 1, 1, 1)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        return a * x0 + s * noise, a * noise - s * x0
