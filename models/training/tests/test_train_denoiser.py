"""The diffusion schedule used for training matches the studio's sampler, and latent crops carry their motion
(training itself: test_pack_pipeline.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
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


def test_latent_crops_carry_the_motion_flipped_and_reversed_with_them():
    """A clip's cached cell motion rides with its latent crops: mirrored, the flows' x components change
    sign; reversed in time (start ↔ end), the two flows swap."""
    import random

    from models.training.latents import LatentTriplets, with_motion

    g = torch.Generator().manual_seed(0)
    clip = {
        "keys": torch.randn(2, 4, 4, 6, generator=g),
        "targets": torch.randn(1, 4, 4, 6, generator=g),
        "taus": [0.5],
    }
    motion = torch.randn(4, 4, 6, generator=g)
    clips = with_motion({"a": clip}, {"a": motion})
    with pytest.raises(ValueError, match="no cached motion"):
        with_motion({"a": clip, "b": clip}, {"a": motion})
    batch = LatentTriplets(clips, 1.0, random.Random(3)).batch(16, (4, 6))
    seen = set()
    for i, crop in enumerate(batch.crops):
        want = motion.flip(-1) * torch.tensor([-1.0, 1.0, -1.0, 1.0]).view(4, 1, 1) if crop.flipped else motion
        if crop.reversed:
            want = torch.cat([want[2:], want[:2]])
        assert torch.equal(batch.motion[i], want)
        seen.add((crop.flipped, crop.reversed))
    assert len(seen) == 4
