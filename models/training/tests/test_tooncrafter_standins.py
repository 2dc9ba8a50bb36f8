"""The einops / pytorch_lightning stand-ins that let ToonCrafter's own code (../shared/reference/
tooncrafter, never copied into the project) import on Debian's PyTorch, and the tiny UNet built from
ToonCrafter's own UNetModel class (issue 18)."""
from __future__ import annotations

import re

import pytest
import torch

from models.training.tooncrafter.standins import (
    EinopsStandinError,
    LightningModule,
    rearrange,
    repeat,
    static_sizes,
)
from models.training.tooncrafter.tiny import DEFAULT_CHECKOUT, build_tiny_unet, sampler_inputs, UNetCall

needs_checkout = pytest.mark.skipif(
    not (DEFAULT_CHECKOUT / "lvdm").is_dir(), reason=f"ToonCrafter's code is not at {DEFAULT_CHECKOUT} (../shared)"
)


def test_rearrange_matches_explicit_torch():
    x = torch.randn(6, 3, 4, 5)  # (b t) c h w with b=2, t=3
    y = rearrange(x, "(b t) c h w -> b c t h w", b=2)
    assert torch.equal(y, x.reshape(2, 3, 3, 4, 5).permute(0, 2, 1, 3, 4))
    assert torch.equal(rearrange(y, "b c t h w -> (b t) c h w"), x)
    z = rearrange(x, "b c h w -> b (h w) c")
    assert torch.equal(z, x.permute(0, 2, 3, 1).reshape(6, 20, 3))
    assert torch.equal(rearrange(z, "b (h w) c -> b c h w", h=4, w=5), x)
    q = torch.randn(2, 7, 12)
    heads = rearrange(q, "b n (h d) -> (b h) n d", h=3)
    assert torch.equal(heads, q.reshape(2, 7, 3, 4).permute(0, 2, 1, 3).reshape(6, 7, 4))
    assert torch.equal(rearrange(heads, "(b h) n d -> b n (h d)", h=3), q)
    assert rearrange(torch.randn(2, 3, 4), "b ... -> b (...)").shape == (2, 12)
    assert rearrange(torch.randn(5), "n -> n 1 1").shape == (5, 1, 1)
    assert rearrange(torch.randn(2, 5), "b i -> b () i ()").shape == (2, 1, 5, 1)


def test_repeat_matches_explicit_torch():
    t = torch.tensor([1.0, 2.0])
    assert torch.equal(repeat(t, "b -> b d", d=3), t[:, None].expand(2, 3))
    z = torch.randn(2, 4, 1, 3, 5)
    assert torch.equal(repeat(z, "b c t h w -> b c (repeat t) h w", repeat=16), z.expand(2, 4, 16, 3, 5))
    mask = torch.randn(2, 3, 3)
    assert torch.equal(repeat(mask, "b i j -> (b h) i j", h=4), mask.repeat_interleave(4, dim=0))


STATIC_CASES = [
    (rearrange, (6, 3, 4, 5), "(b t) c h w -> b c t h w", dict(b=2)),
    (rearrange, (2, 3, 3, 4, 5), "b c t h w -> (b t) c h w", {}),
    (rearrange, (2, 20, 3), "b (h w) c -> b c h w", dict(h=4, w=5)),
    (rearrange, (2, 7, 12), "b n (h d) -> (b h) n d", dict(h=3)),
    (rearrange, (6, 7, 4), "(b h) n d -> b n (h d)", dict(h=3)),
    (rearrange, (2, 4, 3, 5, 6), "b c t h w -> (b h w) c t", {}),
    (rearrange, (60, 4, 3), "(b h w) c t -> b c t h w", dict(b=2, h=5, w=6)),
    (rearrange, (60, 4, 3), "bhw c t -> bhw t c", {}),
    (rearrange, (2, 48, 8), "b (t l) c -> (b t) l c", dict(t=3)),
    (rearrange, (2, 3, 4), "b ... -> b (...)", {}),
    (rearrange, (5,), "n -> n 1 1", {}),  # no batch on the right: traced sizes
    (repeat, (2,), "b -> b d", dict(d=3)),
    (repeat, (2, 4, 1, 3, 5), "b c t h w -> b c (repeat t) h w", dict(repeat=16)),
    (repeat, (2, 3, 3), "b i j -> (b h) i j", dict(h=4)),
    (repeat, (3, 4), "h n -> b h n", dict(b=2)),  # the new axis leads: traced sizes
]


@pytest.mark.parametrize("fn, shape, pattern, sizes", STATIC_CASES)
def test_static_sizes_give_the_same_tensors(fn, shape, pattern, sizes):
    x = torch.randn(*shape)
    with static_sizes():
        y = fn(x, pattern, **sizes)
    assert torch.equal(y, fn(x, pattern, **sizes))


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_static_sizes_keep_the_batch_dynamic_in_a_trace():
    """Traced at batch 2 under static_sizes, the function still runs at batch 1 and 3: only the
    batch is -1 in the recorded Reshape, every other size a constant."""

    def f(x):
        y = rearrange(x, "(b t) c h w -> b c t h w", b=x.shape[0] // 3)
        return rearrange(y, "b c t h w -> (b h w) t c")

    with static_sizes():
        traced = torch.jit.trace(f, torch.randn(6, 2, 4, 5), check_trace=False)
    for batch in (1, 3):
        x = torch.randn(3 * batch, 2, 4, 5)
        assert torch.equal(traced(x), f(x))


def test_unimplemented_patterns_are_refused_by_name():
    x = torch.randn(2, 6)
    for pattern in ("b c -> b", "b (c 2) -> b c", "b c -> c b x", "b (c d) -> b c d", "b c"):
        with pytest.raises(EinopsStandinError, match=re.escape(pattern)):
            rearrange(x, pattern)
    with pytest.raises(EinopsStandinError, match="not divisible"):
        rearrange(x, "b (c d) -> b c d", c=4)


def test_lightning_standin_is_inference_only():
    m = LightningModule()
    assert m.device == torch.device("cpu")
    with pytest.raises(NotImplementedError, match="inference only"):
        m.log("loss", 1.0)


@needs_checkout
def test_every_einops_pattern_in_lvdm_is_understood():
    """Each rearrange/repeat pattern written in ToonCrafter's lvdm parses (sizes aside)."""
    found = set()
    for path in (DEFAULT_CHECKOUT / "lvdm").rglob("*.py"):
        found |= set(re.findall(r"\b(rearrange|repeat)\([^'\"]*?['\"]([^'\"]+->[^'\"]+)['\"]", path.read_text()))
    assert len(found) > 40
    for fn, pattern in sorted(found):
        left = pattern.split("->")[0]
        ndim = len(re.findall(r"\([^)]*\)|\.\.\.|\w+", left))
        shape = [1] * ndim
        try:
            (rearrange if fn == "rearrange" else repeat)(torch.zeros(shape), pattern, **_ones(pattern))
        except EinopsStandinError as e:
            pytest.fail(f"{fn} {pattern!r}: {e}")


def _ones(pattern: str) -> dict:
    """Size 1 for every named axis (so any pattern applies to an all-ones shape)."""
    return {n: 1 for n in re.findall(r"[A-Za-z_]\w*", pattern)}


@needs_checkout
def test_tiny_unet_outputs_nonzero_finite_values():
    unet = build_tiny_unet()
    zero = [n for n, m in unet.named_modules() if isinstance(getattr(m, "weight", None), torch.Tensor)]
    zero = [n for n in zero if not dict(unet.named_modules())[n].weight.detach().any()]
    assert zero == []
    feeds = sampler_inputs(batch=1)
    with torch.no_grad():
        y = UNetCall(unet)(*feeds.values())
    assert y.shape == (1, 4, 16, 8, 16)
    assert torch.isfinite(y).all()
    assert y.abs().mean() > 1e-2
