"""LPIPS export: both graphs built from ../shared/data/lpips match the reference values of the
official lpips code (../shared/data/metrics-reference.json) to 1e-4, through onnxruntime-node."""
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
from torch import nn
from PIL import Image

from models.training import export_lpips as ex
from models.training.ort_node import run_onnx

HERE = Path(__file__).resolve().parent

REPO = HERE.parents[2]
SHARED = REPO.parent / "shared"
LPIPS_DIR = SHARED / "data" / "lpips"
REFERENCE = SHARED / "data" / "metrics-reference.json"
SCRIPT = HERE.parent / "export_lpips.py"
BACKBONES = ("alex", "squeeze")
TOL = 1e-4


def _require_shared() -> None:
    missing = [
        p for p in [LPIPS_DIR / f"lpips_{b}_v0.1.safetensors" for b in BACKBONES] + [REFERENCE] if not p.is_file()
    ]
    if missing:
        pytest.fail(
            "LPIPS test data missing: "
            + ", ".join(str(p) for p in missing)
            + " — ../shared/data (beside the repository) must hold data/lpips and "
            "metrics-reference.json",
            pytrace=False,
        )


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    _require_shared()
    return json.loads(REFERENCE.read_text())["pairs"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """Both graphs, built by the command line into a fresh folder."""
    _require_shared()
    out = tmp_path_factory.mktemp("lpips")
    proc = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def load_array(img: np.ndarray) -> np.ndarray:
    """8-bit RGB [H, W, 3] -> [1, 3, H, W] float32 in [-1, 1], as lpips.im2tensor."""
    return (img / (255.0 / 2.0) - 1.0).astype(np.float32).transpose(2, 0, 1)[None].copy()


def load_image(rel: str) -> np.ndarray:
    """[1, 3, H, W] float32 in [-1, 1]: lpips.im2tensor(image) = image / (255 / 2) - 1."""
    img = np.asarray(Image.open(SHARED / rel).convert("RGB"))
    return (img / (255.0 / 2.0) - 1.0).astype(np.float32).transpose(2, 0, 1)[None].copy()


def official_forward(model: ex.LpipsNet, in0: torch.Tensor, in1: torch.Tensor, spatial: bool):
    """lpips.LPIPS.forward, v0.1, written out as the official code does it: each image through the
    network on its own, and spatial maps upsampled with nn.Upsample(scale_factor=H/h, W/w)."""

    def upsample(t, out_hw):
        sh, sw = 1.0 * out_hw[0] / t.shape[2], 1.0 * out_hw[1] / t.shape[3]
        return nn.Upsample(scale_factor=(sh, sw), mode="bilinear", align_corners=False)(t)

    shift = torch.tensor([-0.030, -0.088, -0.188])[None, :, None, None]
    scale = torch.tensor([0.458, 0.448, 0.450])[None, :, None, None]
    outs0 = model.layer_outputs((in0 - shift) / scale)
    outs1 = model.layer_outputs((in1 - shift) / scale)
    res = []
    for kk in range(len(outs0)):
        diff = (ex.normalize_tensor(outs0[kk]) - ex.normalize_tensor(outs1[kk])) ** 2
        lin = getattr(model, f"lin{kk}")(diff)
        res.append(upsample(lin, in0.shape[2:]) if spatial else lin.mean([2, 3], keepdim=True))
    val = res[0]
    for r in res[1:]:
        val = val + r
    return val


def test_manifest_describes_the_files(built):
    m = json.loads((built / "manifest.json").read_text())
    assert m["version"] == "0.1" and m["opset"] == 17 and m["default"] == "alex"
    assert m["license"]["file"] == "../shared/data/lpips/LICENSE.PerceptualSimilarity"
    assert "BSD" in m["license"]["name"]
    assert set(m["graphs"]) == set(BACKBONES)
    for backbone, g in m["graphs"].items():
        data = (built / g["file"]).read_bytes()
        assert g["sizeBytes"] == len(data)
        assert g["sha256"] == hashlib.sha256(data).hexdigest()
        assert g["backbone"] == backbone and g["version"] == "0.1"
        assert g["inputs"] == {"imageA": "in0", "imageB": "in1"}
        assert g["outputs"] == {"distance": "distance", "distanceMap": "distance_map"}
        assert g["weights"][0]["file"] == f"../shared/data/lpips/lpips_{backbone}_v0.1.safetensors"
        model = onnx.load(str(built / g["file"]))
        onnx.checker.check_model(model)
        assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
        dims = {
            i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in list(model.graph.input) + list(model.graph.output)
        }
        assert dims == {
            "in0": [1, 3, "height", "width"],
            "in1": [1, 3, "height", "width"],
            "distance": [1],
            "distance_map": [1, 1, "height", "width"],
        }
    assert m["exporter"]["sha256"] == hashlib.sha256(SCRIPT.read_bytes()).hexdigest()


@pytest.mark.parametrize("backbone", BACKBONES)
def test_reference_pairs(built, reference, backbone):
    """Every pair in metrics-reference.json (tooncrafter keyframes and the LPIPS example images)."""
    worst = 0.0
    for pair in reference:
        a, b = load_image(pair["a"]), load_image(pair["b"])
        out = run_onnx(built / f"lpips_{backbone}_v0.1.onnx", {"in0": a, "in1": b})
        assert out["distance"].shape == (1,)
        assert out["distance_map"].shape == (1, 1) + a.shape[2:]
        want = pair[f"lpips_{backbone}_v0.1"]
        got = float(out["distance"][0])
        assert abs(got - want) < TOL, f"{pair['a']} vs {pair['b']}: {got} != {want}"
        worst = max(worst, abs(got - want))
    print(f"lpips {backbone}: max |onnx - reference| = {worst:.3g}")


@pytest.mark.parametrize("backbone", BACKBONES)
def test_distance_map_is_the_official_spatial_map(built, backbone):
    """distance_map = LPIPS(spatial=True); distance = LPIPS(); at a size unlike the export's."""
    model = ex.build_model(backbone, [ex.DEFAULT_WEIGHTS[backbone]])
    g = torch.Generator().manual_seed(1)
    a = torch.rand(1, 3, 45, 70, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(1, 3, 45, 70, generator=g)).clamp(-1, 1)
    with torch.no_grad():
        want_map = official_forward(model, a, b, spatial=True)
        want = official_forward(model, a, b, spatial=False)
    out = run_onnx(built / f"lpips_{backbone}_v0.1.onnx", {"in0": a.numpy(), "in1": b.numpy()})
    assert out["distance_map"].shape == (1, 1, 45, 70)
    assert np.abs(out["distance_map"] - want_map.numpy()).max() < 1e-5
    assert abs(float(out["distance"][0]) - float(want.flatten()[0])) < 1e-6
    # The map averages to about the distance, not exactly (bilinear resizing clamps at borders).
    assert abs(float(out["distance_map"].mean()) - float(out["distance"][0])) < 0.05 * float(out["distance"][0])


def test_smallest_inputs(built):
    """AlexNet needs sides of 31 pixels or more, SqueezeNet 17 (manifest minSide)."""
    m = json.loads((built / "manifest.json").read_text())
    for backbone in BACKBONES:
        side = m["graphs"][backbone]["minSide"]
        model = ex.build_model(backbone, [ex.DEFAULT_WEIGHTS[backbone]])
        a = torch.linspace(-1, 1, 3 * side * side).reshape(1, 3, side, side)
        b = a.flip(3)
        with torch.no_grad():
            want = float(model(a, b)[0][0])
            with pytest.raises(RuntimeError):
                model(a[:, :, : side - 1], b[:, :, : side - 1])
        out = run_onnx(built / f"lpips_{backbone}_v0.1.onnx", {"in0": a.numpy(), "in1": b.numpy()})
        assert abs(float(out["distance"][0]) - want) < 1e-6


@pytest.mark.parametrize("backbone", BACKBONES)
def test_official_pth_files_give_the_same_weights(tmp_path, backbone):
    """The lpips package's linear layers + a torchvision backbone .pth = the safetensors file."""
    _require_shared()
    st = ex.read_safetensors(ex.DEFAULT_WEIGHTS[backbone])
    # A torchvision-style backbone checkpoint (features.* plus a classifier LPIPS does not use).
    tv = {k: v.clone() for k, v in st.items() if k.startswith("features.")}
    tv["classifier.1.weight"] = torch.zeros(10, 4)
    torch.save(tv, tmp_path / ex.OFFICIAL_FILES[backbone][1])
    lin_pth = LPIPS_DIR / f"{backbone}_v0.1.pth"  # the lpips package's weights/v0.1/<net>.pth
    assert all(k.endswith(".model.1.weight") for k in torch.load(lin_pth, map_location="cpu"))
    from_st = ex.load_weights([ex.DEFAULT_WEIGHTS[backbone]], backbone)
    from_pth = ex.load_weights([tmp_path / ex.OFFICIAL_FILES[backbone][1], lin_pth], backbone)
    assert from_st.keys() == from_pth.keys()
    for k in from_st:
        assert torch.equal(from_st[k], from_pth[k]), k
    # A whole lpips.LPIPS state dict (net.sliceK.N.*, linK.model.1.weight, scaling_layer.*).
    slice_of = {}
    for s, (lo, hi) in enumerate(zip([-1] + ex.TAPS[backbone][:-1], ex.TAPS[backbone]), start=1):
        for n in range(lo + 1, hi + 1):
            slice_of[n] = s
    full = {
        "scaling_layer.shift": torch.tensor(ex.SHIFT)[None, :, None, None],
        "scaling_layer.scale": torch.tensor(ex.SCALE)[None, :, None, None],
    }
    for k, v in st.items():
        if k.startswith("features."):
            n = int(k.split(".")[1])
            full[f"net.slice{slice_of[n]}.{k.removeprefix('features.')}"] = v
        else:
            full[k.replace(".weight", ".model.1.weight")] = v
    torch.save(full, tmp_path / "lpips_full.pth")
    from_full = ex.load_weights([tmp_path / "lpips_full.pth"], backbone)
    for k in from_st:
        assert torch.equal(from_st[k], from_full[k]), k


def test_incomplete_or_missing_weights_fail_clearly(tmp_path):
    _require_shared()
    with pytest.raises(ValueError, match=r"missing features\.0\.bias.*alexnet-owt-7be5be79\.pth"):
        ex.load_weights([LPIPS_DIR / "alex_v0.1.pth"], "alex")
    with pytest.raises(ValueError, match="shape"):
        ex.load_weights([ex.DEFAULT_WEIGHTS["squeeze"], LPIPS_DIR / "alex_v0.1.pth"], "squeeze")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "o"), "--alex-weights", str(tmp_path / "nope.pth")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "nope.pth not found" in proc.stderr
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_safetensors_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.safetensors"
    header = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    bad.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 8)
    with pytest.raises(ValueError, match="outside the file"):
        ex.read_safetensors(bad)
    good = tmp_path / "good.safetensors"
    vals = np.array([1.5, -2, 3, 0.25], dtype="<f4")
    half = np.array([1, 2], dtype="<f2")
    header = json.dumps(
        {
            "__metadata__": {"k": "v"},
            "x": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
            "h": {"dtype": "F16", "shape": [2], "data_offsets": [16, 20]},
        }
    ).encode()
    good.write_bytes(len(header).to_bytes(8, "little") + header + vals.tobytes() + half.tobytes())
    t = ex.read_safetensors(good)
    assert t["x"].tolist() == [[1.5, -2.0], [3.0, 0.25]]
    assert t["h"].dtype == torch.float32 and t["h"].tolist() == [1.0, 2.0]


def test_lpips_vgg_matches_pytorch_with_the_official_linear_layers(tmp_path):
    """LPIPS-VGG, the research's metric: torchvision's ImageNet VGG-16 is not on these machines, so the
    backbone here is a seeded random VGG-16 saved under torchvision's names; the linear layers are the
    official vgg_v0.1.pth. The graph must equal the official forward built from the same weights."""
    linear = LPIPS_DIR / "vgg_v0.1.pth"
    if not linear.is_file():
        pytest.fail(f"LPIPS test data missing: {linear}", pytrace=False)
    torch.manual_seed(3)
    features = ex.backbone_features("vgg")
    backbone = tmp_path / ex.VGG_BACKBONE
    state = {f"features.{k}": v for k, v in features.state_dict().items()}
    torch.save({**state, "classifier.0.weight": torch.zeros(4, 4)}, backbone)
    out = tmp_path / "lpips"
    cmd = [sys.executable, str(SCRIPT), "--out", str(out), "--only", "vgg", "--vgg-weights", str(linear), str(backbone)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    g = manifest["graphs"]["vgg"]
    assert (g["backbone"], g["minSide"], g["layers"], manifest["default"]) == ("vgg", 16, 5, "vgg")
    model = ex.build_model("vgg", [linear, backbone])
    official = torch.load(str(linear), map_location="cpu")
    assert torch.equal(model.lin3.weight, official["lin3.model.1.weight"])
    gen = torch.Generator().manual_seed(5)
    in0 = torch.rand(1, 3, 40, 56, generator=gen) * 2 - 1
    in1 = (in0 + 0.3 * torch.randn(1, 3, 40, 56, generator=gen)).clamp(-1, 1)
    got = run_onnx(out / g["file"], {"in0": in0.numpy(), "in1": in1.numpy()})
    with torch.no_grad():
        want = official_forward(model, in0, in1, spatial=False).reshape(1).numpy()
        want_map = official_forward(model, in0, in1, spatial=True).numpy()
    assert want[0] > 1e-3
    assert abs(got["distance"][0] - want[0]) < 1e-5 * max(1.0, abs(want[0]))
    assert np.abs(got["distance_map"] - want_map).max() < TOL

    # The studio's dataset evaluation (ToonCrafter-KDQ protocol) scores LPIPS-VGG with this graph: on
    # 512×320 frames (so KDQ's resize changes nothing) the repeated-frame anchor's value is this
    # network's distance between the ground truth and the start keyframe.
    gen = np.random.default_rng(7)
    yy, xx = np.mgrid[0:320, 0:512]
    frames = []
    for k in range(3):
        base = np.stack([np.sin(xx / (40 + 9 * k)), np.cos(yy / (30 + 5 * k)), np.sin((xx + yy) / 70)], -1)
        frames.append(np.clip((base * 0.5 + 0.5) * 255 + gen.normal(0, 6, base.shape), 0, 255).astype(np.uint8))
    clip = tmp_path / "data" / "clip_1"
    clip.mkdir(parents=True)
    for k, f in enumerate(frames):
        Image.fromarray(f).save(clip / f"frame{k + 1}.png")
    run = tmp_path / "run"
    cmd = ["node", "bin/inbetween.mjs", "eval", "--pack", "models/tiny", "--data", str(tmp_path / "data")]
    cmd += ["--out", str(run), "--protocol", "kdq", "--lpips", str(out), "--steps", "1", "--variants", "baseline"]
    proc = subprocess.run(cmd + ["--quiet"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in (run / "results.jsonl").read_text().splitlines()]
    repeat = next(x for x in lines if x["config"] == "anchor:repeat")
    gt, start = (torch.from_numpy(load_array(f)) for f in (frames[1], frames[0]))
    with torch.no_grad():
        want = float(official_forward(model, gt, start, spatial=False).reshape(()))
    assert abs(repeat["metrics"]["lpipsVgg"] - want) < TOL, (repeat["metrics"], want)
    assert all(x["metrics"]["lpipsVgg"] is not None for x in lines)


def test_lpips_vgg_without_its_backbone_says_how_to_get_it(tmp_path):
    env = {**__import__("os").environ, "TORCH_HOME": str(tmp_path / "torch")}
    cmd = [sys.executable, str(SCRIPT), "--out", str(tmp_path / "o"), "--only", "vgg"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 2
    assert "LPIPS-VGG not built" in proc.stderr and "vgg16-397923af.pth" in proc.stderr
    assert "--vgg-weights" in proc.stderr
