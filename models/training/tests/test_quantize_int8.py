"""QDQ int8 quantisation (quantize_int8.py) on the tiny test pack's denoiser: every Conv/MatMul/Gemm is
wrapped, weights become int8 per channel, and onnxruntime-node's output stays close to fp32."""
from __future__ import annotations

import numpy as np
import onnx

from models.training import quantize_int8 as q
from models.training.ort_node import run_onnx, run_onnx_timed
from models.training.reference_packs import REPO

TINY = REPO / "models" / "tiny" / "denoiser_fp32.onnx"


def feeds(batch: int = 2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    lat = lambda: rng.standard_normal((batch, 4, 16, 24)).astype(np.float32)  # noqa: E731
    return {
        "sample": lat(),
        "timestep": np.linspace(900, 100, batch).astype(np.float32),
        "start_latent": lat(),
        "end_latent": lat(),
        "position": np.full(batch, 0.5, np.float32),
    }


def tiny_ranges(tmp_path) -> dict[str, list[float]]:
    """The tiny denoiser's calibration ranges: every tensor to quantise over a batch of 4."""
    calib = tmp_path / "calib.onnx"
    names = q.calibration_graph(TINY, calib)
    out = run_onnx(calib, feeds(4))
    return {n: [float(out[n].min()), float(out[n].max())] for n in names}


def run_optimised(path, f: dict[str, np.ndarray], ref: np.ndarray, opt) -> tuple[float, onnx.ModelProto]:
    """`path` run by onnxruntime-node on `f`: its mean relative error against `ref`, and its graph as
    ORT optimised it (saved to `opt`)."""
    got = run_onnx_timed(path, f, optimized=opt)[0]["prediction"]
    return float(np.abs(got - ref).mean() / np.abs(ref).mean()), onnx.load(str(opt))


def test_uint8_params_hold_zero_and_the_range():
    for lo, hi in [(-1.0, 3.0), (0.5, 2.0), (-4.0, -1.0)]:
        s, z = q.uint8_params(lo, hi)
        for x in (min(lo, 0.0), 0.0, max(hi, 0.0)):
            back = (np.clip(np.round(x / float(s)) + int(z), 0, 255) - int(z)) * float(s)
            assert abs(back - x) <= float(s) / 2 + 1e-6, (lo, hi, x, back)


def test_quantised_tiny_denoiser_matches_fp32(tmp_path):
    ranges = tiny_ranges(tmp_path)
    dst = tmp_path / "int8.onnx"
    counts = q.quantise(TINY, dst, ranges)
    assert counts["Conv"] > 0
    m = onnx.load(str(dst))
    ops = {n.op_type for n in m.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [i for i in m.graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert len(int8_weights) >= counts["Conv"]
    f = feeds(2)
    ref = run_onnx(TINY, f)["prediction"]
    got = run_onnx(dst, f)["prediction"]
    rel = np.abs(got - ref).mean() / np.abs(ref).mean()
    assert rel < 0.05, rel
    assert dst.stat().st_size < TINY.stat().st_size


def test_silu_becomes_quickgelu_with_the_same_output(tmp_path):
    """x·σ(x) after a DequantizeLinear stays two kernels in ORT (each reader gets its own DQ copy);
    the quantiser writes it as com.microsoft QuickGelu(alpha 1), which computes the same."""
    ranges = tiny_ranges(tmp_path)
    fused, plain = tmp_path / "fused.onnx", tmp_path / "plain.onnx"
    counts = q.quantise(TINY, fused, ranges)
    assert "SiLU→QuickGelu" not in q.quantise(TINY, plain, ranges, silu=False)
    src_sigmoids = sum(n.op_type == "Sigmoid" for n in onnx.load(str(TINY)).graph.node)
    assert src_sigmoids > 0
    m = onnx.load(str(fused))
    gelus = [n for n in m.graph.node if n.op_type == "QuickGelu"]
    assert len(gelus) == counts["SiLU→QuickGelu"] > 0
    assert all(n.domain == "com.microsoft" and n.attribute[0].f == 1.0 for n in gelus)
    assert sum(n.op_type == "Sigmoid" for n in m.graph.node) == src_sigmoids - len(gelus)
    f = feeds(2)
    a = run_onnx(fused, f)["prediction"]
    b = run_onnx(plain, f)["prediction"]
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_channels_last_groupnorm_and_attention_compute_the_same(tmp_path):
    """The rewrite of GroupNorm (ReduceMean, a group-mean 1×1 Conv, element-wise ops) and of attention's
    reshapes keeps the float graph's output."""
    m = onnx.load(str(TINY))
    norms = sum(n.op_type == "InstanceNormalization" for n in m.graph.node)
    counts = q.channels_last_norms(m)
    assert counts == {"GroupNorm": norms, "attention": 2}, counts
    assert not any(n.op_type == "InstanceNormalization" for n in m.graph.node)
    onnx.checker.check_model(m)
    dst = tmp_path / "channels_last.onnx"
    onnx.save(m, str(dst))
    f = feeds(2)
    f["sample"] = f["sample"] * 3 + 1  # a mean far from 0 as well as a spread
    np.testing.assert_allclose(run_onnx(dst, f)["prediction"], run_onnx(TINY, f)["prediction"], rtol=1e-4, atol=2e-5)


def test_channels_last_int8_graph_transposes_less(tmp_path):
    """ORT runs QLinearConv channels-last with a Transpose on each side; with GroupNorm and attention
    rewritten, its transpose optimiser cancels most of them (what remains is mostly on (N, C, 1, 1)
    statistics). Measured as the elements that pass through a Transpose in ORT's optimised graph,
    every Transpose's output made a graph output and run. The output stays as close to fp32."""
    ranges = tiny_ranges(tmp_path)
    plain, cl = tmp_path / "plain.onnx", tmp_path / "cl.onnx"
    q.quantise(TINY, plain, ranges)
    counts = q.quantise(TINY, cl, ranges, channels_last=True)
    assert counts["GroupNorm"] > 0 and counts["attention"] == 2
    f = feeds(2)
    ref = run_onnx(TINY, f)["prediction"]
    moved = {}
    for name, path in (("plain", plain), ("cl", cl)):
        err, m = run_optimised(path, f, ref, tmp_path / f"{name}-optimised.onnx")
        assert err < 0.05, name
        ts = [n.output[0] for n in m.graph.node if n.op_type == "Transpose"]
        m.graph.output.extend(onnx.helper.make_empty_tensor_value_info(t) for t in ts)
        probe = tmp_path / f"{name}-probe.onnx"
        onnx.save(m, str(probe))
        outs = run_onnx_timed(probe, f, level="disabled")[0]
        moved[name] = sum(outs[t].size for t in ts)
    assert moved["cl"] < moved["plain"] / 3, moved


def test_silu_int8_runs_as_lookup_and_stays_close(tmp_path):
    """With silu_int8 each x·σ(x) that feeds an int8 op is written in QDQ form (x at its calibrated
    range, σ(x) on [0, 1]); ORT's QDQ transformer turns it into QLinearSigmoid and QLinearMul, and
    no float x·σ(x) is left. The output stays as close to fp32 as the plain int8 graph's."""
    ranges = tiny_ranges(tmp_path)
    pairs = q._silu_pairs(onnx.load(str(TINY)))
    silus = len(pairs)
    assert silus > 0 and all(x in ranges for x, _, _ in pairs)
    plain, lut = tmp_path / "plain.onnx", tmp_path / "lut.onnx"
    q.quantise(TINY, plain, ranges, channels_last=True)
    counts = q.quantise(TINY, lut, ranges, channels_last=True, silu_int8=True)
    assert counts["SiLU→QDQ"] == silus and counts["SiLU→QuickGelu"] == 0, counts
    f = feeds(2)
    ref = run_onnx(TINY, f)["prediction"]
    err = {}
    for name, path in (("plain", plain), ("lut", lut)):
        err[name], m = run_optimised(path, f, ref, tmp_path / f"{name}-optimised.onnx")
        ops = [n.op_type for n in m.graph.node]
        if name == "lut":
            assert ops.count("QLinearSigmoid") == ops.count("QLinearMul") == silus, ops
            assert "QuickGelu" not in ops and "Sigmoid" not in ops
    assert err["lut"] < 0.05 and err["lut"] < err["plain"] * 1.5 + 0.005, err
