"""Full-size ToonCrafter's size, counted on the meta device from its own classes (issue 18 figures)."""
from __future__ import annotations

import pytest
import torch

from models.training.tooncrafter.fullsize import full_size, meta_tensors
from models.training.tooncrafter.tiny import DEFAULT_CHECKOUT


def test_meta_tensors_allocate_nothing_and_restore_torch():
    with meta_tensors():
        layer = torch.nn.Linear(4096, 4096)
    assert layer.weight.is_meta and layer.weight.numel() == 4096 * 4096
    assert not torch.empty(2).is_meta


@pytest.mark.skipif(not (DEFAULT_CHECKOUT / "lvdm").is_dir(), reason=f"no ToonCrafter code at {DEFAULT_CHECKOUT}")
def test_full_size_counts_match_the_inference_config():
    r = full_size()
    p = r["parameters"]
    # Counted from configs/inference_512_v1.0.yaml with ToonCrafter's own classes (1.44 B UNet).
    assert p["unet"] == 1_438_854_980
    assert p["vaeEncoder"] == 34_163_664 and p["vaeDecoder"] == 65_778_243
    assert p["resampler"] == 48_787_456
    assert r["weightBytes"]["fp16"] * 2 == r["weightBytes"]["fp32"] == p["total"] * 4
