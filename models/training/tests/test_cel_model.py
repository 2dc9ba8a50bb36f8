"""The trained pack's modules (cel_model): shapes at several sizes, the decoder's use of its
keyframe references, LoRA-scale equivalence, and ONNX ↔ PyTorch / fp16 ↔ fp32 agreement."""
from __future__ import annotations

from pathlib import Path

import functools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.training.cel_model import (
    BilinearUp,
    CelConfig,
    CelDenoiser,
    CelEncoder,
    FlowDecoder,
    RefDecoder,
    backward_warp,
    bind_motion,
    latent_motion,
    mirrored_motion,
    motion_prior,
    symmetric_costs,
)
from models.training.classical_flow import halfway_warp
from models.training.export import (
    MOTION_AXES,
    LiveLoraScale,
    check_against_torch,
    export_denoiser,
    export_fp16,
    export_module,
)
from models.training.ort_node import run_onnx
from models.training.layers import BaselineView

HERE = Path(__file__).resolve().parent

SMALL = CelConfig(widths=(16, 32, 32), emb_dim=32)
SPATIAL = {0: "batch", 2: "height", 3: "width"}


def feeds(b: int, h: int, w: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "sample": torch.randn(b, 4, h, w, generator=g),
        "timestep": torch.linspace(999, 0, b),
        "start_latent": torch.randn(b, 4, h, w, generator=g),
        "end_latent": torch.randn(b, 4, h, w, generator=g),
        "position": torch.linspace(0.25, 0.75, b),
    }


def lora_denoiser(seed: int = 0) -> CelDenoiser:
    torch.manual_seed(seed)
    model = CelDenoiser(CelConfig(widths=(16, 32, 32), emb_dim=32, lora_rank=16, lora_alpha=16.0)).eval()
    with torch.no_grad():  # peft starts B at zero; give the adapters an effect to measure
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.2)
    return model


@pytest.mark.parametrize("w,h", [(512, 320), (192, 128), (448, 256)])
def test_shapes_at_multiples_of_64(w, h):
    torch.manual_seed(0)
    enc, dec, den = CelEncoder(), RefDecoder(), CelDenoiser(SMALL)
    with torch.no_grad():
        mean, logvar = enc(torch.zeros(1, 3, h, w))
        assert mean.shape == logvar.shape == (1, 4, h // 8, w // 8)
        for d in (dec, FlowDecoder()):
            img = d(mean, torch.zeros(1, 3, h, w), torch.zeros(1, 3, h, w))
            assert img.shape == (1, 3, h, w) and img.abs().max() <= 1
        assert den(*feeds(3, h // 8, w // 8).values()).shape == (3, 4, h // 8, w // 8)


def test_decoder_reads_its_keyframe_references():
    torch.manual_seed(0)
    dec = RefDecoder().eval()
    z = torch.randn(1, 4, 8, 8)
    a, b = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        assert (dec(z, a, b) - dec(z, b, a)).abs().max() > 1e-4


def test_lora_scale_zero_is_the_base_model_and_the_scale_matters():
    model = lora_denoiser()
    f = feeds(2, 8, 12)
    with torch.no_grad():
        base = BaselineView(model)(*f.values())
        at0 = LiveLoraScale(model)(*f.values(), torch.tensor([0.0]))
        at1 = LiveLoraScale(model)(*f.values(), torch.tensor([1.0]))
    assert torch.equal(base, at0)
    assert (at1 - base).abs().max() > 1e-3
    assert len(model.lora_layers()) == 8  # q/k/v/out at both attention levels
    assert all(m.rank == 16 and m.scaling == 1.0 for m in model.lora_layers())


def test_onnx_matches_pytorch_and_fp16_agrees(tmp_path):
    model = lora_denoiser(1)
    f = feeds(2, 8, 16)
    path = export_denoiser(
        model,
        f,
        tmp_path / "lora.onnx",
        lora_scale=True,
        dynamic_axes={
            **{k: SPATIAL for k in ["sample", "start_latent", "end_latent", "prediction"]},
            "timestep": {0: "batch"},
            "position": {0: "batch"},
            "lora_scale": {},
        },
    )
    other = feeds(3, 16, 24, seed=4)  # another batch and size than the export's
    for s in (0.0, 0.15, 1.0):
        assert check_against_torch(model, path, other, lora_scale=s) < 1e-4
    base_path = export_denoiser(BaselineView(model), f, tmp_path / "base.onnx")
    np_feeds = {k: v.numpy() for k, v in f.items()}
    base = run_onnx(base_path, np_feeds)["prediction"]
    at0 = run_onnx(path, {**np_feeds, "lora_scale": np.zeros(1, np.float32)})["prediction"]
    assert np.max(np.abs(base - at0)) < 1e-5
    export_fp16(base_path, tmp_path / "base16.onnx")
    half = run_onnx(tmp_path / "base16.onnx", np_feeds)["prediction"]
    assert half.dtype == np.float32
    assert np.max(np.abs(half - base)) < 2e-2 * max(1.0, float(np.abs(base).max()))


@pytest.mark.parametrize(
    "kind",
    [RefDecoder, FlowDecoder, functools.partial(FlowDecoder, corr_radius=2), functools.partial(FlowDecoder, tone=True)],
)
def test_decoder_onnx_matches_pytorch_at_two_sizes(tmp_path, kind):
    torch.manual_seed(0)
    dec = kind().eval()
    with torch.no_grad():  # flows far from zero, so the GridSample path is exercised
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    args = (torch.randn(1, 4, 8, 8), torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1)
    (tmp_path / "dec.onnx").write_bytes(
        export_module(
            dec,
            args,
            ["latent", "start_image", "end_image"],
            ["image"],
            {n: SPATIAL for n in ["latent", "start_image", "end_image", "image"]},
        )
    )
    for h, w in [(8, 8), (16, 24)]:
        g = torch.Generator().manual_seed(h)
        z, a, b = (
            torch.randn(1, 4, h, w, generator=g),
            torch.rand(1, 3, 8 * h, 8 * w, generator=g),
            torch.rand(1, 3, 8 * h, 8 * w, generator=g),
        )
        with torch.no_grad():
            ref = dec(z, a, b).numpy()
        got = run_onnx(tmp_path / "dec.onnx", {"latent": z.numpy(), "start_image": a.numpy(), "end_image": b.numpy()})[
            "image"
        ]
        assert np.max(np.abs(got - ref)) < 1e-4


def test_backward_warp_moves_content_by_the_flow():
    img = torch.zeros(1, 1, 16, 32)
    img[..., 5, 10] = 1.0
    flow = torch.zeros(1, 2, 16, 32)
    flow[:, 0] = 3.0  # every output pixel reads 3 pixels to its right
    flow[:, 1] = -2.0  # and 2 above
    out = backward_warp(img, flow)
    assert out[0, 0, 7, 7] == pytest.approx(1.0, abs=1e-5)
    assert out.sum() == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(backward_warp(img, torch.zeros_like(flow)), img, atol=1e-6)


def test_flow_decoder_follows_moving_content():
    """With the flows forced to a known shift and the selection forced onto the warped start frame,
    the output is the start frame moved: the warp path is wired to the candidates."""
    torch.manual_seed(0)
    dec = FlowDecoder().eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.zero_()
        dec.flow8.bias[:] = torch.tensor([-0.25, 0.0, 0.0, 0.0])  # ×16 = 4 px: read 4 px to the left
        dec.out.bias[3 + 3] = 20.0  # logits: candidate 3, the warped start frame
    start = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        out = dec(torch.zeros(1, 4, 8, 8), start, torch.zeros_like(start))
    assert torch.allclose(out[..., 4:], start[..., :-4], atol=1e-3)


def test_bilinear_up_is_bilinear_interpolation():
    x = torch.randn(2, 4, 5, 7)
    want = torch.nn.functional.interpolate(x, scale_factor=4.0, mode="bilinear", align_corners=False)
    assert torch.allclose(BilinearUp(4, 4)(x), want, atol=1e-5)


def test_cost_volume_starts_as_a_no_op_and_loads_a_decoder_without_it():
    torch.manual_seed(0)
    plain = FlowDecoder().eval()
    corr = FlowDecoder(corr_radius=3).eval()
    missing = corr.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.split(".")[0] in FlowDecoder.CORR_MODULES for k in missing)
    args = (torch.randn(1, 4, 16, 16), torch.rand(1, 3, 128, 128) * 2 - 1, torch.rand(1, 3, 128, 128) * 2 - 1)
    with torch.no_grad():
        assert torch.equal(plain(*args), corr(*args))


def test_tone_starts_as_a_no_op_and_recolours_the_chosen_pixels():
    """A decoder without the tone branch loads into one with it and decodes the same; a gain and offset
    set on the branch grade the keyframe pixels it copies, lines and all (a colour-grading LoRA's look); with
    other weights the grade follows the latent and is one affine map per channel for the whole frame."""
    torch.manual_seed(0)
    plain = FlowDecoder(corr_radius=2).eval()
    toned = FlowDecoder(corr_radius=2, tone=True).eval()
    missing = toned.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["tone.bias", "tone.weight", "tone_h.bias", "tone_h.weight"]
    assert all(k.split(".")[0] in FlowDecoder.OPTIONAL_MODULES for k in missing)
    start = torch.rand(1, 3, 64, 64) * 2 - 1
    args = (torch.randn(1, 4, 8, 8), start, torch.rand(1, 3, 64, 64) * 2 - 1)
    with torch.no_grad():
        assert torch.equal(plain(*args), toned(*args))
        for dec in (plain, toned):  # every pixel: the start frame where it is (candidate 1)
            dec.out.weight.zero_()
            dec.out.bias.zero_()
            dec.out.bias[3 + 1] = 30.0
        toned.tone.bias[:] = torch.tensor([-0.5, -0.4, -0.2, -0.3, -0.2, 0.1])  # gain − 1, then offset
        copied, graded = plain(*args), toned(*args)
    assert torch.allclose(copied, start, atol=1e-5)
    gain, offset = torch.tensor([0.5, 0.6, 0.8]).view(1, 3, 1, 1), torch.tensor([-0.3, -0.2, 0.1]).view(1, 3, 1, 1)
    assert torch.allclose(graded, start * gain + offset, atol=1e-5)
    # Trained weights: the grade follows the latent, and is one affine map per channel for the whole frame.
    with torch.no_grad():
        for p in (*toned.tone_h.parameters(), *toned.tone.parameters()):
            p.copy_(torch.randn_like(p) * 0.3)
        a, b = toned(*args), toned(args[0] * 0.5 + 1.0, *args[1:])
    assert (a - b).abs().max() > 1e-3
    for graded in (a, b):
        x, y = start.flatten(2), graded.flatten(2)  # per channel: y = gain · x + offset, exactly
        xc, yc = x - x.mean(-1, keepdim=True), y - y.mean(-1, keepdim=True)
        slope = (xc * yc).sum(-1, keepdim=True) / xc.pow(2).sum(-1, keepdim=True)  # least squares
        assert torch.allclose(slope * xc + y.mean(-1, keepdim=True), y, atol=1e-4)


def test_cost_volume_peaks_at_the_symmetric_displacement():
    """End features = start features moved by (+4, -2) cells: the matching cost through each pixel peaks
    at d = (+2, -1) (start at x − d, end at x + d) and the soft-argmax displacement points there."""
    dec = FlowDecoder(corr_radius=3)
    dec.ref16, dec.cfeat = torch.nn.Identity(), torch.nn.Identity()  # match the inputs themselves
    g = torch.Generator().manual_seed(0)
    # Features of ±5 (silu keeps ~5 and ~0), many channels: matches stand far above chance products.
    start = (torch.rand(1, 256, 24, 24, generator=g) < 0.5).float() * 10 - 5
    end = torch.roll(start, shifts=(-2, 4), dims=(2, 3))  # end(y, x) = start(y + 2, x − 4)
    cost, disp = dec.motion16(start, end)
    assert cost.shape == (1, 49, 24, 24) and disp.shape == (1, 2, 24, 24)
    inner = (slice(None), slice(None), slice(6, -6), slice(6, -6))  # away from the zero-padded borders
    best = cost[inner].argmax(1)
    assert (best == (-1 + 3) * 7 + (2 + 3)).all()  # row dy = −1, column dx = +2 of the 7×7 displacements
    # The soft-argmax is pulled toward the mean of all displacements (0) by the other costs' weights.
    dx, dy = disp[inner][:, 0], disp[inner][:, 1]
    assert 1.5 < dx.mean() <= 2.0 and -1.0 <= dy.mean() < -0.75
    assert (dx > 0.8).all() and (dy < -0.4).all()


@pytest.mark.parametrize("reduce", ["mean", "sum"])
def test_cost_volume_equals_one_product_per_displacement(reduce, tmp_path):
    """symmetric_costs (stacked shifts, one reduction) gives, for every displacement d in its order, a's
    features at x − d times b's at x + d reduced over channels, zero outside the maps — computed here
    directly, one displacement at a time, on a map that is not square; and its ONNX export agrees."""
    g = torch.Generator().manual_seed(2)
    r, a, b = 2, torch.randn(2, 5, 6, 9, generator=g), torch.randn(2, 5, 6, 9, generator=g)
    cost, offsets = symmetric_costs(a, b, r, reduce)
    assert cost.shape == (2, 25, 6, 9) and len(offsets) == 25 and offsets[1] == (-1, -2)

    def at(f, y, x):  # f's features at (y, x), zero outside the map
        return f[:, :, y, x] if 0 <= y < f.shape[2] and 0 <= x < f.shape[3] else torch.zeros(2, 5)

    for k, (dx, dy) in enumerate(offsets):
        for y in range(6):
            for x in range(9):
                want = getattr(at(a, y - dy, x - dx) * at(b, y + dy, x + dx), reduce)(1)
                torch.testing.assert_close(cost[:, k, y, x], want, rtol=1e-5, atol=1e-6)

    class Costs(torch.nn.Module):
        def forward(self, fa, fb):
            return symmetric_costs(fa, fb, r, reduce)[0]

    axes = {n: {0: "batch", 2: "height", 3: "width"} for n in ("a", "b", "cost")}
    onnx = export_module(Costs(), (a, b), ["a", "b"], ["cost"], axes)
    path = tmp_path / "costs.onnx"
    path.write_bytes(onnx)
    a2, b2 = torch.randn(1, 5, 4, 11, generator=g), torch.randn(1, 5, 4, 11, generator=g)  # another size
    got = run_onnx(path, {"a": a2.numpy(), "b": b2.numpy()})["cost"]
    np.testing.assert_allclose(got, symmetric_costs(a2, b2, r, reduce)[0].numpy(), rtol=1e-5, atol=1e-5)


def _texture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A smooth random picture in [-1, 1] (noise blurred by bilinear upsampling)."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, 3, h // 8, w // 8, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(-1, 1)


@pytest.mark.parametrize("shift", [(5, -3), (-14, 9)])
def test_farneback_recovers_a_translation_both_ways(shift):
    """classical_flow.Farneback: the end image is the start moved by (dx, dy) px, so the flow start→end
    is (dx, dy) and end→start (−dx, −dy) away from the borders; the halfway flows of the pack's
    decoder then point half way back to either keyframe."""
    from models.training.classical_flow import Farneback, halfway_flows

    dx, dy = shift
    a = _texture(128, 192)
    b = torch.roll(a, shifts=(dy, dx), dims=(2, 3))
    with torch.no_grad():
        f = Farneback()(torch.cat([a, b]), torch.cat([b, a]))
    inner = (slice(None), slice(24, -24), slice(32, -32))
    fab, fba = f[0][inner], f[1][inner]
    assert abs(fab[0].median().item() - dx) < 0.25 and abs(fab[1].median().item() - dy) < 0.25
    assert abs(fba[0].median().item() + dx) < 0.25 and abs(fba[1].median().item() + dy) < 0.25
    ft0, ft1 = halfway_flows(f[0:1], f[1:2], 0.5)
    assert abs(ft0[0, 0][inner[1:]].median().item() + dx / 2) < 0.25
    assert abs(ft1[0, 0][inner[1:]].median().item() - dx / 2) < 0.25


def test_opencv_motion_is_the_reports_flow_warp_anchor():
    """classical_flow.opencv_motion: OpenCV's own Farnebäck at issue 20's settings, both ways, on the
    images as uint8 — a translation comes back both ways, and the halfway warp along it (the report's
    anchor) reproduces the middle frame far better than the blend."""
    from models.training.classical_flow import halfway_warp, opencv_motion

    a = _texture(128, 192)
    m = torch.roll(a, shifts=(-3, 6), dims=(2, 3))
    b = torch.roll(a, shifts=(-6, 12), dims=(2, 3))
    f = opencv_motion(torch.cat([a, a]), torch.cat([b, b]))
    assert f.shape == (2, 4, 128, 192) and torch.equal(f[0], f[1])
    inner = (slice(24, -24), slice(32, -32))
    assert abs(f[0, 0][inner].median().item() - 12) < 0.25 and abs(f[0, 1][inner].median().item() + 6) < 0.25
    assert abs(f[0, 2][inner].median().item() + 12) < 0.25 and abs(f[0, 3][inner].median().item() - 6) < 0.25
    warp = halfway_warp(a, b, f[:1, :2], f[:1, 2:])
    err = lambda y: ((y - m)[..., 24:-24, 32:-32] ** 2).mean().item()  # noqa: E731
    assert err(warp) < err((a + b) / 2) / 10


def test_farneback_onnx_matches_torch_at_two_sizes(tmp_path):
    """The motion graph (build_pack.MotionGraph) exports with dynamic sizes and agrees with PyTorch."""
    from models.training.build_pack import MotionGraph

    graph = MotionGraph().eval()
    a, b = _texture(64, 128, 1), _texture(64, 128, 2)
    blob = export_module(
        graph,
        (a, b),
        ["start_image", "end_image"],
        ["motion"],
        {"start_image": SPATIAL, "end_image": SPATIAL, "motion": SPATIAL},
    )
    path = tmp_path / "motion.onnx"
    path.write_bytes(blob)
    for h, w in [(64, 128), (128, 64)]:
        a, b = _texture(h, w, 3), torch.roll(_texture(h, w, 3), shifts=(2, 4), dims=(2, 3))
        with torch.no_grad():
            ref = graph(a, b).numpy()
        got = run_onnx(path, {"start_image": a.numpy(), "end_image": b.numpy()})["motion"]
        assert got.shape == (1, 4, h, w)
        assert np.abs(got - ref).max() < 1e-2


def test_motion_decoder_starts_by_warping_along_the_prior():
    """FlowDecoder(motion=True).load_without_motion: the weights of a decoder without the prior, flow
    heads zeroed, so that its warped candidates are the keyframes warped along the τ-scaled prior;
    with their logits far up it returns the classical interpolation — both warps averaged."""
    from models.training.classical_flow import halfway_flows

    torch.manual_seed(0)
    plain = FlowDecoder(corr_radius=2).eval()
    dec = FlowDecoder(corr_radius=2, motion=True).eval()
    assert dec.load_without_motion(plain.state_dict()) == []
    assert dec.flow8.weight.abs().sum() == 0 and dec.flow4.weight.abs().sum() == 0
    assert torch.equal(dec.out.weight, plain.out.weight)
    s, e = _texture(64, 128, 4), _texture(64, 128, 5)
    latent = torch.randn(1, 4, 8, 16)
    motion = torch.randn(1, 4, 64, 128) * 3
    with torch.no_grad():
        dec.out.bias[3:] = torch.tensor([-40.0, -40.0, -40.0, 40.0, 40.0])  # only the two warps
        ft0, ft1 = halfway_flows(motion[:, :2], motion[:, 2:], 0.25)
        want = 0.5 * backward_warp(s, ft0) + 0.5 * backward_warp(e, ft1)
        assert torch.allclose(dec(latent, s, e, motion, torch.tensor([0.25])), want, atol=1e-4)


def motion_decoder_matches_its_onnx(
    dec: FlowDecoder, example: tuple, tmp_path: Path, tau: float = 0.5, atol: float = 1e-4
) -> None:
    """`dec` (a FlowDecoder with the motion prior), exported with dynamic shapes, agrees with PyTorch within
    `atol` at two latent sizes (8×16 and 16×24), the in-between at `tau`."""
    names = ["latent", "start_image", "end_image", "motion", "position"]
    axes = {**{n: SPATIAL for n in names[:3] + ["image"]}, "motion": MOTION_AXES, "position": {0: "batch"}}
    (tmp_path / "dec.onnx").write_bytes(export_module(dec, example, names, ["image"], axes))
    for h, w in [(8, 16), (16, 24)]:
        g = torch.Generator().manual_seed(h)
        feeds = {
            "latent": torch.randn(1, 4, h, w, generator=g),
            "start_image": torch.rand(1, 3, 8 * h, 8 * w, generator=g) * 2 - 1,
            "end_image": torch.rand(1, 3, 8 * h, 8 * w, generator=g) * 2 - 1,
            "motion": torch.randn(1, 4, 8 * h, 8 * w, generator=g) * 3,
            "position": torch.tensor([tau]),
        }
        with torch.no_grad():
            ref = dec(*feeds.values()).numpy()
        got = run_onnx(tmp_path / "dec.onnx", {k: v.numpy() for k, v in feeds.items()})["image"]
        assert np.max(np.abs(got - ref)) < atol


def test_prior_candidates_widen_a_decoder_and_can_choose_the_prior_warp(tmp_path):
    """FlowDecoder(prior_candidates=True): the keyframes warped along the motion prior alone join the
    candidates. A decoder without them loads (`load_widening`) and, with their logits held down, decodes
    exactly as it did; with their logits far up it returns the two prior warps
    averaged, whatever its own flows say; it exports to ONNX and agrees with PyTorch at two sizes."""
    with pytest.raises(ValueError, match="needs motion=True"):
        FlowDecoder(prior_candidates=True)
    torch.manual_seed(0)
    plain = FlowDecoder(corr_radius=2, motion=True).eval()
    wide = FlowDecoder(corr_radius=2, motion=True, prior_candidates=True).eval()
    with torch.no_grad():  # flow corrections far from zero: the prior warps differ from the corrected ones
        for p in plain.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    assert wide.load_widening(plain.state_dict()) == []
    s, e = _texture(64, 128, 4), _texture(64, 128, 5)
    latent = torch.randn(1, 4, 8, 16)
    motion = torch.randn(1, 4, 64, 128) * 3
    tau = torch.tensor([0.25])
    with torch.no_grad():
        assert torch.equal(wide.out.bias[8:], torch.full((2,), FlowDecoder.PRIOR_LOGIT_BIAS))
        wide.out.bias[8:] = -40.0  # the new candidates held down
        before, after = plain(latent, s, e, motion, tau), wide(latent, s, e, motion, tau)
        assert torch.allclose(before, after, atol=1e-5)
        wide.out.bias[3:] = torch.tensor([-40.0] * 5 + [40.0, 40.0])  # only the two prior warps
        prior = motion_prior(motion, tau)
        want = 0.5 * backward_warp(s, prior[:, :2]) + 0.5 * backward_warp(e, prior[:, 2:])
        assert torch.allclose(wide(latent, s, e, motion, tau), want, atol=1e-4)
        wide.out.bias[3:] = torch.tensor([0.0] * 7)
    motion_decoder_matches_its_onnx(wide, (latent, s, e, motion, tau), tmp_path)


def test_gate_loads_as_a_no_op_and_can_turn_the_corrections_off(tmp_path):
    """FlowDecoder(gate=True): a decoder without the gate loads into one with it and decodes exactly as
    it did (2·sigmoid(0) = 1); with the gate's logits far down its corrected warps are the prior warps,
    whatever its own flows say, and each direction is gated on its own; it exports to ONNX and agrees
    with PyTorch at two sizes."""
    with pytest.raises(ValueError, match="needs motion=True"):
        FlowDecoder(gate=True)
    torch.manual_seed(0)
    plain = FlowDecoder(corr_radius=2, motion=True).eval()
    gated = FlowDecoder(corr_radius=2, motion=True, gate=True).eval()
    with torch.no_grad():  # flow corrections far from zero: the corrected warps differ from the prior's
        for p in plain.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    missing = gated.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert sorted(missing) == ["gate.bias", "gate.weight"]
    assert all(k.split(".")[0] in FlowDecoder.OPTIONAL_MODULES for k in missing)
    s, e = _texture(64, 128, 4), _texture(64, 128, 5)
    latent = torch.randn(1, 4, 8, 16)
    motion = torch.randn(1, 4, 64, 128) * 3
    tau = torch.tensor([0.25])
    prior = motion_prior(motion, tau)
    with torch.no_grad():
        assert torch.equal(plain(latent, s, e, motion, tau), gated(latent, s, e, motion, tau))
        for dec in (plain, gated):  # only the two corrected warps
            dec.out.weight.zero_()
            dec.out.bias[3:] = torch.tensor([-40.0, -40.0, -40.0, 40.0, 40.0])
        corrected = plain(latent, s, e, motion, tau)
        gated.gate.bias[:] = -40.0  # both directions' corrections off
        want = 0.5 * backward_warp(s, prior[:, :2]) + 0.5 * backward_warp(e, prior[:, 2:])
        assert (corrected - want).abs().max() > 1e-2
        assert torch.allclose(gated(latent, s, e, motion, tau), want, atol=1e-5)
        gated.out.bias[3:] = torch.tensor([-40.0, -40.0, -40.0, 40.0, -40.0])  # the start frame's warp alone
        gated.gate.bias[:] = torch.tensor([-40.0, 0.0])  # only the start frame's corrections off
        assert torch.allclose(gated(latent, s, e, motion, tau), backward_warp(s, prior[:, :2]), atol=1e-5)
        plain.out.bias[3:] = torch.tensor([-40.0, -40.0, -40.0, -40.0, 40.0])  # the end frame's warp alone
        gated.out.bias[3:] = torch.tensor([-40.0, -40.0, -40.0, -40.0, 40.0])
        assert torch.allclose(gated(latent, s, e, motion, tau), plain(latent, s, e, motion, tau), atol=1e-5)
        for p in gated.gate.parameters():  # weights as training leaves them, for the export check
            p.copy_(torch.randn_like(p) * 0.3 / FlowDecoder.GATE_SCALE)
        gated.out.bias[3:] = 0.0
    motion_decoder_matches_its_onnx(gated, (latent, s, e, motion, tau), tmp_path)


def test_a_closed_gate_warps_along_the_prior_as_it_is(tmp_path):
    """FlowDecoder.close_gate: the flow corrections are nil, so the decoder's warps are the keyframes warped
    along the prior alone — its output no longer depends on the flow heads' last convolution (flow4), the
    blend candidate held up, its two warps at τ = ½ are `halfway_warp` along the motion — the gate gets no
    gradient, and the closed decoder exports to ONNX and agrees with PyTorch. A decoder without a gate
    cannot close one."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="no gate"):
        FlowDecoder(motion=True).close_gate()
    dec = FlowDecoder(corr_radius=2, motion=True, gate=True, blend_in_place=True).eval()
    with torch.no_grad():
        for p in dec.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    assert not dec.gate_closed
    dec.close_gate()
    assert dec.gate_closed and not any(p.requires_grad for p in dec.gate.parameters())
    s, e = _texture(64, 128, 4), _texture(64, 128, 5)
    latent = torch.randn(1, 4, 8, 16)
    m = torch.randn(1, 2, 8, 16) * 3
    motion = F.interpolate(torch.cat([m, -m], 1), size=(64, 128), mode="bilinear", align_corners=False)
    half = torch.tensor([0.5])
    with torch.no_grad():
        before = dec(latent, s, e, motion, half)
        dec.flow4.weight.normal_(0.0, 1.0)
        assert torch.allclose(dec(latent, s, e, motion, half), before, atol=1e-6)
        kept = dec.out.weight.clone(), dec.out.bias.clone()
        dec.out.weight.zero_()
        dec.out.bias[3:] = torch.tensor([-40.0, -40.0, 40.0, 40.0])  # its two warps, averaged
        want = halfway_warp(s, e, motion[:, :2], motion[:, 2:])
        assert torch.allclose(dec(latent, s, e, motion, half), want, atol=1e-5)
        dec.out.weight.copy_(kept[0])
        dec.out.bias.copy_(kept[1])
    motion_decoder_matches_its_onnx(dec, (latent, s, e, motion, half), tmp_path, tau=0.3, atol=1e-3)


def test_blend_in_place_narrows_a_decoder_and_blends_the_keyframes_at_tau(tmp_path):
    """FlowDecoder(blend_in_place=True): the keyframes' own pixels are one candidate, (1 − τ)·start + τ·end.
    A decoder with the two in-place candidates loads (`load_narrowing`, also through `load_widening`) and,
    where their logits agree, decodes at τ = ½ exactly as it did; with the blend's logit far up it returns
    the blend at τ; other logits far up, the same as the wide decoder; it exports to ONNX and agrees with
    PyTorch at two sizes, the in-between off the middle."""
    torch.manual_seed(0)
    wide = FlowDecoder(corr_radius=2, motion=True, gate=True).eval()
    narrow = FlowDecoder(corr_radius=2, motion=True, gate=True, blend_in_place=True).eval()
    assert narrow.out.weight.shape[1] == wide.out.weight.shape[1] - 1
    with torch.no_grad():
        for p in wide.parameters():
            p.add_(torch.randn_like(p) * 0.05)
        wide.out.weight[:, 5] = wide.out.weight[:, 4]  # the start's and end's in-place logits agree
        wide.out.bias[5] = wide.out.bias[4]
    assert narrow.load_widening(wide.state_dict()) == []
    s, e = _texture(64, 128, 4), _texture(64, 128, 5)
    latent = torch.randn(1, 4, 8, 16)
    motion = torch.randn(1, 4, 64, 128) * 3
    half, tau = torch.tensor([0.5]), torch.tensor([0.25])
    with torch.no_grad():
        assert torch.allclose(narrow(latent, s, e, motion, half), wide(latent, s, e, motion, half), atol=1e-5)
        assert not torch.allclose(narrow(latent, s, e, motion, tau), wide(latent, s, e, motion, tau), atol=1e-3)
        for dec in (narrow, wide):
            dec.out.weight.zero_()
        narrow.out.bias[3:] = torch.tensor([-40.0, 40.0, -40.0, -40.0])  # the blend alone
        assert torch.allclose(narrow(latent, s, e, motion, tau), 0.75 * s + 0.25 * e, atol=1e-5)
        narrow.out.bias[3:] = torch.tensor([-40.0, -40.0, 40.0, 40.0])  # the two warps
        wide.out.bias[3:] = torch.tensor([-40.0, -40.0, -40.0, 40.0, 40.0])
        assert torch.allclose(narrow(latent, s, e, motion, tau), wide(latent, s, e, motion, tau), atol=1e-5)
        narrow.out.bias[3:] = 0.0
        for p in narrow.gate.parameters():  # weights as training leaves them (as the gate's test does)
            p.copy_(torch.randn_like(p) * 0.3 / FlowDecoder.GATE_SCALE)
    # Every weight perturbed, flows of several pixels: float error through the warps reaches ~2e-4 here (the
    # decoder with both in-place candidates, same weights, too).
    motion_decoder_matches_its_onnx(narrow, (latent, s, e, motion, tau), tmp_path, tau=0.3, atol=1e-3)


DENOISER_MOTION_AXES = {
    **{k: SPATIAL for k in ["sample", "start_latent", "end_latent", "prediction"]},
    "timestep": {0: "batch"},
    "position": {0: "batch"},
    "motion": MOTION_AXES,
}


def motion_feeds(b: int, h: int, w: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Denoiser feeds with one motion-graph output [1, 4, 8h, 8w] for the batch."""
    g = torch.Generator().manual_seed(seed + 100)
    return {**feeds(b, h, w, seed), "motion": torch.randn(1, 4, 8 * h, 8 * w, generator=g) * 6.0}


def test_motion_denoiser_starts_as_its_base_and_then_reads_the_warped_latents():
    torch.manual_seed(0)
    base = CelDenoiser(SMALL).eval()
    model = CelDenoiser(CelConfig(widths=(16, 32, 32), emb_dim=32, motion=True)).eval()
    model.load_without_motion(base.state_dict())
    f = motion_feeds(3, 8, 16)
    with torch.no_grad():
        plain = base(*list(f.values())[:5])
        assert torch.equal(model(*f.values()), plain)  # the warped latents' weights start at zero
        model.inp.weight[:, 12:].normal_(0, 0.3)
        out = model(*f.values())
        assert (out - plain).abs().max() > 1e-2
        # other motion, other output
        assert (model(*list(f.values())[:5], f["motion"] * 0.5) - out).abs().max() > 1e-3
        # the motion at image resolution or averaged over latent cells (what training crops) alike
        cells = latent_motion(f["motion"], 8)
        assert torch.allclose(model(*list(f.values())[:5], cell_motion=cells.expand(3, -1, -1, -1)), out, atol=1e-5)
    with pytest.raises(ValueError, match="motion graph's output"):
        bind_motion(model, None)


def test_motion_denoiser_warps_the_keyframe_latents_along_the_prior():
    """A thing moving 16 px right between the keyframes sits 8 px (one cell) right of the start at τ ½:
    the start latent warped along the prior is the start latent moved one cell right."""
    lat = torch.zeros(1, 4, 8, 8)
    lat[..., 3, 2] = 1.0
    motion = torch.zeros(1, 4, 64, 64)
    motion[:, 0], motion[:, 2] = 16.0, -16.0  # flows start→end and end→start, in pixels
    flow = motion_prior(latent_motion(motion, 8), torch.tensor([0.5]))
    warped = backward_warp(lat, flow[:, :2])
    assert warped[0, 0, 3, 3] == pytest.approx(1.0) and warped[0, 0, 3, 2] == pytest.approx(0.0)
    warped_end = backward_warp(lat, flow[:, 2:])  # the end latent is sampled a cell to the right
    assert warped_end[0, 0, 3, 1] == pytest.approx(1.0)


def test_motion_denoiser_onnx_takes_one_motion_for_the_batch_and_fp16_agrees(tmp_path):
    torch.manual_seed(2)
    model = CelDenoiser(CelConfig(widths=(16, 32, 32), emb_dim=32, motion=True)).eval()
    with torch.no_grad():
        model.inp.weight.normal_(0, 0.2)
    path = export_denoiser(model, motion_feeds(2, 8, 16), tmp_path / "m.onnx", dynamic_axes=DENOISER_MOTION_AXES)
    other = motion_feeds(3, 16, 24, seed=5)  # another batch and size than the export's
    got = run_onnx(path, {k: v.numpy() for k, v in other.items()})["prediction"]
    with torch.no_grad():
        ref = model(*other.values()).numpy()
    assert np.max(np.abs(got - ref)) < 1e-4
    export_fp16(path, tmp_path / "m16.onnx")
    half = run_onnx(tmp_path / "m16.onnx", {k: v.numpy() for k, v in other.items()})["prediction"]
    assert np.max(np.abs(half - got)) < 2e-2 * max(1.0, float(np.abs(got).max()))


def test_mirrored_motion_warps_the_mirrored_keyframes_to_the_mirrored_frame():
    """Mirroring a crop left to right mirrors the motion graph's flows and negates their x components:
    the mirrored keyframe warped along them is the mirror of the keyframe warped along the originals."""
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 8, 12, generator=g)
    motion = torch.randn(1, 4, 8, 12, generator=g) * 2
    for k in (0, 2):
        warped = backward_warp(image, motion[:, k : k + 2]).flip(-1)
        mirrored = backward_warp(image.flip(-1), mirrored_motion(motion)[:, k : k + 2])
        assert torch.allclose(warped, mirrored, atol=1e-5)
    assert torch.equal(mirrored_motion(motion[0]), mirrored_motion(motion)[0])  # either layout
    assert torch.equal(mirrored_motion(mirrored_motion(motion)), motion)
