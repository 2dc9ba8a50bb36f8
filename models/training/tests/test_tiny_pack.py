"""The pack builder's modules, exporter and fp16 converter, and the committed tiny pack."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from models.training.export import LiveLoraScale
from models.training.export import DENOISER_INPUTS, example_inputs
from models.training.make_tiny_pack import build_modules, export
from models.training.onnx_fp16 import convert_to_fp16
from models.training.ort_node import run_onnx
from models.training.layers import BaselineView

HERE = Path(__file__).resolve().parent

REPO = HERE.parents[2]
PACK = REPO / "models" / "tiny"
PACK_FILES = ["encoder.onnx", "decoder.onnx", "denoiser_fp32.onnx", "denoiser_lora.onnx", "denoiser_fp16.onnx"]


def with_lora(den, args, scale: float) -> torch.Tensor:
    """The denoiser with every adapter branch multiplied by `scale` (the LoRA graph's lora_scale)."""
    with torch.no_grad():
        return LiveLoraScale(den)(*args, torch.tensor([float(scale)], dtype=torch.float32))


def baseline(den, args) -> torch.Tensor:
    with torch.no_grad():
        return BaselineView(den)(*args)


def max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


@pytest.fixture(scope="module")
def modules():
    return build_modules()


# (80, 48): a latent of 10x6, whose half-resolution level (5x3) is odd.
@pytest.mark.parametrize("w,h", [(192, 128), (256, 192), (512, 320), (80, 48)])
def test_shapes_at_several_sizes(modules, w, h):
    enc, dec, den = modules
    with torch.no_grad():
        lat = enc(torch.zeros(1, 3, h, w))
        assert lat.shape == (1, 4, h // 8, w // 8)
        img = dec(lat)
        assert img.shape == (1, 3, h, w)
        assert img.abs().max() <= 1
        ex = example_inputs(batch=3, w=w, h=h)
        out = with_lora(den, tuple(ex[k] for k in DENOISER_INPUTS), 0.3)
        assert out.shape == (3, 4, h // 8, w // 8)
        assert torch.isfinite(out).all()


def test_lora_scale_zero_equals_baseline_in_pytorch(modules):
    _, _, den = modules
    ex = example_inputs()
    args = tuple(ex[k] for k in DENOISER_INPUTS)
    base = baseline(den, args)
    zero = with_lora(den, args, 0.0)
    one = with_lora(den, args, 1.0)
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
        data = export(
            LiveLoraScale(den),
            tuple(ex[k] for k in DENOISER_INPUTS) + (torch.tensor([0.5]),),
            DENOISER_INPUTS + ["lora_scale"],
            ["prediction"],
            {**axes, "lora_scale": {}},
        )
    (d / "lora.onnx").write_bytes(data)
    onnx.save(convert_to_fp16(onnx.load_from_string(data)), d / "lora_fp16.onnx")
    return d, ex


def test_onnx_matches_pytorch_at_another_size(modules, exported):
    _, _, den = modules
    d, ex = exported
    feeds = {k: v.numpy() for k, v in ex.items()}
    for s in (0.0, 0.5, 1.0):
        ref = with_lora(den, tuple(ex[k] for k in DENOISER_INPUTS), s).numpy()
        got = run_onnx(d / "lora.onnx", {**feeds, "lora_scale": np.array([s], np.float32)})["prediction"]
        assert max_diff(got, ref) < 1e-4


def test_fp16_graph_keeps_fp32_io_and_agrees(exported):
    d, ex = exported
    model = onnx.load(d / "lora_fp16.onnx")
    for vi in list(model.graph.input) + list(model.graph.output):
        assert vi.type.tensor_type.elem_type == onnx.TensorProto.FLOAT, vi.name
    halves = [i for i in model.graph.initializer if i.data_type == onnx.TensorProto.FLOAT16]
    assert len(halves) > 10, "weights should be stored in fp16"
    feeds = {k: v.numpy() for k, v in ex.items()}
    a = run_onnx(d / "lora.onnx", {**feeds, "lora_scale": np.array([0.5], np.float32)})["prediction"]
    b = run_onnx(d / "lora_fp16.onnx", {**feeds, "lora_scale": np.array([0.5], np.float32)})["prediction"]
    assert np.isfinite(b).all()
    assert max_diff(a, b) < 2e-2
    assert max_diff(a, b) > 0, "an fp16 graph that matches bit for bit is not fp16"
    assert (d / "lora_fp16.onnx").stat().st_size < 0.7 * (d / "lora.onnx").stat().st_size


def _types(model: onnx.ModelProto) -> dict[str, int]:
    g = onnx.shape_inference.infer_shapes(model).graph
    types = {vi.name: vi.type.tensor_type.elem_type for vi in [*g.input, *g.output, *g.value_info]}
    types.update({i.name: i.data_type for i in g.initializer})
    for n in g.node:
        if n.op_type == "Constant":
            types[n.output[0]] = n.attribute[0].t.data_type
    return types


def test_fp16_keeps_sensitive_ops_in_fp32():
    """Softmax / normalisation run on fp32 inputs, and the timestep and position embeddings'
    arguments are computed in fp32 from the graph inputs (no fp16 tensor upstream of Sin/Cos)."""
    model = onnx.load(PACK / "denoiser_fp16.onnx")
    types = _types(model)
    producer = {o: n for n in model.graph.node for o in n.output}
    ops = {n.op_type for n in model.graph.node}
    assert {"Sin", "Cos", "Softmax", "InstanceNormalization"} <= ops
    for node in model.graph.node:
        if node.op_type in ("Softmax", "InstanceNormalization", "Sin", "Cos"):
            assert types[node.input[0]] == onnx.TensorProto.FLOAT, node.name
        if node.op_type in ("Sin", "Cos"):
            stack, seen = [node.input[0]], set()
            while stack:
                name = stack.pop()
                if name in seen:
                    continue
                seen.add(name)
                assert types.get(name) != onnx.TensorProto.FLOAT16, f"{name} feeds {node.name} in fp16"
                if name in producer:
                    stack.extend(i for i in producer[name].input if i)
            assert {"timestep", "position"} & seen


def test_committed_pack_matches_its_manifest():
    manifest = json.loads((PACK / "manifest.json").read_text())
    graphs = [manifest["graphs"]["encoder"], manifest["graphs"]["decoder"], *manifest["graphs"]["denoisers"].values()]
    assert sorted(g["file"] for g in graphs) == sorted(PACK_FILES)
    for g in graphs:
        data = (PACK / g["file"]).read_bytes()
        assert len(data) == g["sizeBytes"], g["file"]
        assert hashlib.sha256(data).hexdigest() == g["sha256"], g["file"]
    total = sum((PACK / g["file"]).stat().st_size for g in graphs)
    assert total < 500_000, "the tiny pack should stay a few hundred KB"
    assert (PACK / "manifest.json").read_text().endswith("}\n")


def test_committed_manifest_passes_the_studio_schema(tmp_path):
    """Validates with src/core/manifest.ts itself (zod, strict objects) through tsx."""
    tsx = REPO / "node_modules" / ".bin" / "tsx"
    if not tsx.exists():
        pytest.skip("node_modules not installed")
    script = tmp_path / "validate.ts"
    script.write_text(
        "import { readFileSync } from 'node:fs';\n"
        f"import {{ parseManifest }} from {json.dumps((REPO / 'src' / 'core' / 'manifest.ts').as_posix())};\n"
        f"const r = parseManifest(readFileSync({json.dumps((PACK / 'manifest.json').as_posix())}, 'utf8'));\n"
        "console.log(JSON.stringify(r.ok ? { ok: true } : r));\n"
    )
    proc = subprocess.run([str(tsx), str(script)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"ok": True}


def test_committed_graphs_match_pytorch_at_another_size(modules):
    """The committed graphs (exported at 192x128, batch 2) at 256x192, batch 3: every graph
    against PyTorch, LoRA at scale 0 against the baseline graph, fp16 against fp32."""
    enc, dec, den = modules
    w, h = 256, 192
    g = torch.Generator().manual_seed(7)
    image = torch.rand(3, 3, h, w, generator=g) * 2 - 1
    latent = torch.randn(3, 4, h // 8, w // 8, generator=g)
    ex = example_inputs(batch=3, w=w, h=h)
    feeds = {k: v.numpy() for k, v in ex.items()}
    with torch.no_grad():
        ref_lat = enc(image).numpy()
        ref_img = dec(latent).numpy()
    ref_base = baseline(den, tuple(ex[k] for k in DENOISER_INPUTS)).numpy()
    ref_lora = with_lora(den, tuple(ex[k] for k in DENOISER_INPUTS), 0.5).numpy()
    assert max_diff(run_onnx(PACK / "encoder.onnx", {"image": image.numpy()})["latent"], ref_lat) < 1e-4
    assert max_diff(run_onnx(PACK / "decoder.onnx", {"latent": latent.numpy()})["image"], ref_img) < 1e-4
    base = run_onnx(PACK / "denoiser_fp32.onnx", feeds)["prediction"]
    assert max_diff(base, ref_base) < 1e-4
    lora = run_onnx(PACK / "denoiser_lora.onnx", {**feeds, "lora_scale": np.array([0.5], np.float32)})["prediction"]
    assert max_diff(lora, ref_lora) < 1e-4
    lora0 = run_onnx(PACK / "denoiser_lora.onnx", {**feeds, "lora_scale": np.zeros(1, np.float32)})["prediction"]
    assert max_diff(lora0, base) < 1e-5
    assert max_diff(lora, base) > 1e-3, "the LoRA scale should change the output"
    half = run_onnx(PACK / "denoiser_fp16.onnx", feeds)["prediction"]
    assert np.isfinite(half).all()
    assert max_diff(half, base) < 2e-2


def _alphas_cumprod() -> np.ndarray:
    """scaled_linear 0.00085..0.012, rescaled to zero terminal SNR (Lin et al. 2023, Alg. 1)."""
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    s = np.sqrt(np.cumprod(1 - betas))
    s = (s - s[-1]) * (s[0] / (s[0] - s[-1]))
    return s**2


def test_full_chain_at_batch_3_through_onnxruntime_node(modules):
    """encoder -> 8 DDIM v-prediction steps (trailing) with the LoRA denoiser -> decoder, batch 3,
    all in onnxruntime-node: dynamic batch works and the sampler stays finite and bounded."""
    _, _, den = modules
    w, h, batch, steps = 192, 128, 3, 8
    g = np.random.default_rng(3)
    keys = (g.uniform(-1, 1, (2, 3, h, w))).astype(np.float32)
    lat = run_onnx(PACK / "encoder.onnx", {"image": keys})["latent"]
    assert lat.shape == (2, 4, h // 8, w // 8)
    start = np.repeat(lat[:1], batch, 0)
    end = np.repeat(lat[1:], batch, 0)
    tau = np.array([0.25, 0.5, 0.75], np.float32)
    x = g.standard_normal((batch, 4, h // 8, w // 8)).astype(np.float32)
    x_torch = torch.from_numpy(x.copy())
    abar = _alphas_cumprod()
    ts = (np.round(np.arange(1000, 0, -1000 / steps)).astype(np.int64) - 1)[:steps]
    scale = np.array([0.15], np.float32)
    for i, t in enumerate(ts):
        a_t = abar[t]
        a_prev = abar[ts[i + 1]] if i + 1 < steps else 1.0
        tt = np.full(batch, float(t), np.float32)
        v = run_onnx(
            PACK / "denoiser_lora.onnx",
            {
                "sample": x,
                "timestep": tt,
                "start_latent": start,
                "end_latent": end,
                "position": tau,
                "lora_scale": scale,
            },
        )["prediction"]
        v_ref = with_lora(
            den,
            (x_torch, torch.from_numpy(tt), torch.from_numpy(start), torch.from_numpy(end), torch.from_numpy(tau)),
            float(scale[0]),
        ).numpy()
        assert v.shape == x.shape and np.isfinite(v).all()
        for arr, out in ((x, v), (x_torch.numpy(), v_ref)):
            x0 = np.sqrt(a_t) * arr - np.sqrt(1 - a_t) * out
            eps = np.sqrt(a_t) * out + np.sqrt(1 - a_t) * arr
            arr[...] = np.sqrt(a_prev) * x0 + np.sqrt(1 - a_prev) * eps
    assert np.isfinite(x).all() and np.abs(x).max() < 20
    assert max_diff(x, x_torch.numpy()) < 1e-3
    frames = run_onnx(PACK / "decoder.onnx", {"latent": x})["image"]
    assert frames.shape == (batch, 3, h, w)
    assert np.isfinite(frames).all() and np.abs(frames).max() <= 1


def test_committed_pack_is_what_the_builder_makes(tmp_path):
    """The builder is deterministic: rebuilding gives the committed files byte for byte."""
    proc = subprocess.run(
        [sys.executable, "-m", "models.training.make_tiny_pack", "--out", str(tmp_path), "--no-check"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in [*PACK_FILES, "manifest.json"]:
        assert (tmp_path / name).read_bytes() == (PACK / name).read_bytes(), name
