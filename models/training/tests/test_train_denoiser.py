"""The diffusion schedule used for training matches the studio's sampler (training itself: test_pack_pipeline.py)."""
from __future__ import annotations

from pathlib import Path

import torch

from models.training.diffusion import Schedule

HERE = Path(__file__).resolve().parent


def test_schedule_matches_the_published_values():
    # scripts/reference/ddim_reference.py (numpy, from the papers): SD's scaled-linear ᾱ_999.
    plain = Schedule(zero_terminal_snr=False)
    assert abs(plain.alphas_cumprod[999].item() - 0.004660098513077238) < 1e-7
    ztsnr = Schedule(zero_terminal_snr=True)
    assert ztsnr.alphas_cumprod[999].item() == 0.0
    assert abs(ztsnr.alphas_cumprod[0].item() - plain.alphas_cumprod[0].item()) < 1e-7


def test_v_target():
    s = Schedule()
    x0, noise = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 3, 3)
    t = torch.tensor([0, 999])
    xt, v = s.noisy(x0, t, noise)
    ab = s.alphas_cumprod[t].view(-1, 1, 1, 1)
    # x0 is recovered from (x_t, v): x0 = sqrt(ᾱ) x_t − sqrt(1−ᾱ) v
    assert torch.allclose(ab.sqrt() * xt - (1 - ab).sqrt() * v, x0, atol=1e-5)
