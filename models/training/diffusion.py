"""Diffusion schedule for training, matching the studio's sampler (src/core/scheduler.ts):
scaled-linear or linear betas, optional zero-terminal-SNR rescale (Lin et al. 2023, Algorithm 1),
and the v-prediction target (Salimans & Ho 2022)."""
from __future__ import annotations

import torch


def make_betas(schedule: str, start: float, end: float, steps: int) -> torch.Tensor:
    if schedule == "linear":
        return torch.linspace(start, end, steps, dtype=torch.float64)
    if schedule == "scaled_linear":
        return torch.linspace(start**0.5, end**0.5, steps, dtype=torch.float64) ** 2
    raise ValueError(f"unknown beta schedule {schedule}")


def rescale_zero_terminal_snr(betas: torch.Tensor) -> torch.Tensor:
    alphas_bar_sqrt = torch.cumprod(1 - betas, 0).sqrt()
    first, last = alphas_bar_sqrt[0].clone(), alphas_bar_sqrt[-1].clone()
    alphas_bar_sqrt = (alphas_bar_sqrt - last) * first / (first - last)
    alphas_bar = alphas_bar_sqrt**2
    alphas = torch.cat([alphas_bar[:1], alphas_bar[1:] / alphas_bar[:-1]])
    return 1 - alphas


class Schedule:
    def __init__(
        self,
        train_steps: int = 1000,
        schedule: str = "scaled_linear",
        beta_start: float = 0.00085,
        beta_end: float = 0.012,
        zero_terminal_snr: bool = True,
    ):
        betas = make_betas(schedule, beta_start, beta_end, train_steps)
        if zero_terminal_snr:
            betas = rescale_zero_terminal_snr(betas)
        self.alphas_cumprod = torch.cumprod(1 - betas, 0).float()
        self.train_steps = train_steps

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x_t and the v target for integer timesteps t [B]."""
        ab = self.alphas_cumprod.to(t.device)[t].view(-1, 1, 1, 1)
        a, s = ab.sqrt(), (1 - ab).sqrt()
        return a * x0 + s * noise, a * noise - s * x0

    def trailing_timesteps(self, steps: int) -> list[int]:
        """The studio's `trailing` spacing: round(arange(T, 0, −T/steps)) − 1."""
        return [int(round(self.train_steps - i * self.train_steps / steps)) - 1 for i in range(steps)]

    @torch.no_grad()
    def sample(
        self, model, start: torch.Tensor, end: torch.Tensor, tau: torch.Tensor, steps: int, noise: torch.Tensor
    ) -> torch.Tensor:
        """Deterministic DDIM (eta 0, v-prediction, final ᾱ = 1) from `noise`, as the studio samples;
        latents scaled. Returns the in-between's latent x0."""
        return self.sample_with_grad(model, start, end, tau, steps, noise)

    def sample_with_grad(
        self,
        model,
        start: torch.Tensor,
        end: torch.Tensor,
        tau: torch.Tensor,
        steps: int,
        noise: torch.Tensor,
        grad_steps: int | None = None,
    ) -> torch.Tensor:
        """`sample` with autograd on: gradients flow back through the last `grad_steps` steps (all when
        None) into the model's weights; the steps before them run without (DRaFT-K, Clark et al. 2024).
        tune_student.py trains a sampler through the decoder this way."""
        x = noise
        ts = self.trailing_timesteps(steps)
        first_grad = 0 if grad_steps is None else max(0, len(ts) - grad_steps)
        for i, t in enumerate(ts):
            ab = self.alphas_cumprod[t]  # 0-dim: usable with latents on any device
            ab_prev = self.alphas_cumprod[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
            with torch.set_grad_enabled(torch.is_grad_enabled() and i >= first_grad):
                v = model(x, torch.full((x.shape[0],), float(t), device=x.device), start, end, tau)
                x0 = ab.sqrt() * x - (1 - ab).sqrt() * v
                eps = ab.sqrt() * v + (1 - ab).sqrt() * x
                x = ab_prev.sqrt() * x0 + (1 - ab_prev).sqrt() * eps
        return x
