"""The pack builder's modules, exporter and fp16 converter, and the committed tiny pack."""
from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from make_tiny_pack import DENOISER_INPUTS, build_modules, example_inputs, export  # noqa: E402
from onnx_fp16 import convert_to_fp16  # noqa: E402
from ort_node import run_onnx  # noqa: E402

REPO = HERE.parents[2]
PACK = REPO / "models" / "tiny"


@pytest.fixture(scope="module")
def modules():
    return build_modules()


@pytest.mark.parametrize("w,h", [(192, 128), (256, 192), (512, 320)])
def test_shapes_at_several_sizes(modules, w, h):
    enc, dec, den = modules
    with torch.no_grad():
        lat = enc(torch.zeros(1, 3, h, w))
        assert lat.shape == (1, 4, h // 8, w // 8)
        assert dec(lat).shape == (1, 3, h, w)
        ex = example_inputs(batch=3, w=w, h=h)
        out = den(*(ex[k] for k in DENOISER_INPUTS), torch.tensor([0.3]))
        assert out.shape == (3, 4, h // 8, w // 8)
        assert torch.isfinite(out).all()


def test_lora_scale_zero_equals_baseline_in_pytorch(modules):
    _, _, den = modules
    ex = example_inputs()
    args = tuple(ex[k] for k in DENOISER_INPUTS)
    with torch.no_grad():
        base = den(*args)
        zero = den(*args, torch.tensor([0.0]))
        one = den(*args, torch.tensor([1.0]))
    assert torch.max(torch.abs(base - zero)) < 1e-6
    assert torch.max(torch.abs(base - one)) > 1e-3


@pytest.fixture(scope="module")
def exported(tmp_path_factory, modules):
    """Fresh exports of the denoiser at a different size than the pack's, for ONNX checks."""
    _, _, den = modules
    d = tmp_path_factory.mktemp("export")
    ex = example_inputs(batch=2, w=256, h=192)
    axes = {k: {0: "b", 2: "h", 3: "w"} for k in ["sample", "start_latent", "end_latent", "prediction"]}
    axes.update({"timestep": {0: "b"}, "position": {0: "b"}})
    with torch.no_grad():
        data = export(den, tuple(ex[k] for k in DENOISER_INPUTS) + (torch.tensor([0.5]),),
                      DENOISER_INPUTS + ["lora_scale"], ["prediction"], {**axes, "lora_scale": {}})
    (d / "lora.onnx").write_bytes(data)
    onnx.save(convert_to_fp16(onnx.load_from_string(data)), d / "lora_fp16.onnx")
    return d, ex


def test_onnx_matches_pytorch_at_another_size(modules, exported):
    _, _, den = modules
    d, ex = exported
    feeds = {k: v.numpy() for k, v in ex.items()}
    for s in (0.0, 0.5, 1.0):
        with torch.no_grad():
            ref = den(*(ex[k] for k in DENOISER_INPUTS), torch.tensor([s])).numpy()
        got = run_onnx(d / "lora.onnx", {**feeds, "lora_scale": np.array([s], np.float32)})["prediction"]
        assert np.max(np.abs(got - ref)) < 1e-4


def test_fp16_graph_keeps_fp32_io_and_agrees(exported):
    d, ex = exported
    model = onnx.load(d / "lora_fp16.onnx")
    for vi in list(model.graph.input) + list(model.graph.output):
        assert vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT, vi.name
    halves = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) > 10, "weights should be stored in fp16"
    # Sensitive ops run in fp32: every Softmax input comes through a cast to float32 or an fp32 op.
    feeds = {k: v.numpy() for k, v in ex.items()}
    a = run_onnx(d / "lora.onnx", {**feeds, "lora_scale": np.array([0.5], np.float32)})["prediction"]
    b = run_onnx(d / "lora_fp16.onnx", {**feeds, "lora_scale": np.array([0.5], np.float32)})["prediction"]
    assert np.isfinite(b).all()
    assert np.max(np.abs(a - b)) < 2e-2
    assert np.max(np.abs(a - b)) > 0, "an fp16 graph that matches bit for bit is not fp16"
    assert (d / "lora_fp16.onnx").stat().st_size < 0.6 * (d / "lora.onnx").stat().st_size


def test_committed_pack_matches_its_manifest():
    manifest = json.loads((PACK / "manifest.json").read_text())
    graphs = [manifest["graphs"]["encoder"], manifest["graphs"]["decoder"], *manifest["graphs"]["denoisers"].values()]
    for g in graphs:
        data = (PACK / g["file"]).read_bytes()
        assert len(data) == g["sizeBytes"], g["file"]
        assert hashlib.sha256(data).hexdigest() == g["sha256"], g["file"]
    total = sum((PACK / g["file"]).stat().st_size for g in graphs)
    assert total < 1_500_000


def test_committed_pack_is_what_the_builder_makes(tmp_path):
    """The builder is deterministic: rebuilding gives the committed files byte for byte."""
    import subprocess
    proc = subprocess.run([sys.executable, str(HERE.parent / "make_tiny_pack.py"), "--out", str(tmp_path), "--no-check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ["encoder.onnx", "decoder.onnx", "denoiser_fp32.onnx", "denoiser_lora.onnx", "denoiser_fp16.onnx"]:
        assert (tmp_path / name).read_bytes() == (PACK / name).read_bytes(), name
