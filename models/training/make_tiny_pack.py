"""Build the tiny, randomly initialised test pack `models/tiny` (fixed seed, a few hundred KB):
encoder, decoder, and baseline / LoRA (live scale) / fp16 denoisers, checked against PyTorch with
onnxruntime-node, described by one manifest with sizes and sha256.

    /usr/bin/python3 models/training/make_tiny_pack.py [--out models/tiny]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_fp16 import convert_to_fp16  # noqa: E402
from ort_node import run_onnx  # noqa: E402
from tiny_model import BaselineView, DenoiserConfig, TinyDecoder, TinyDenoiser, TinyEncoder  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SEED = 0
SIZE = (192, 128)  # width, height
DENOISER_INPUTS = ["sample", "timestep", "start_latent", "end_latent", "position"]
SPATIAL = {0: "batch", 2: "height", 3: "width"}


def build_modules(seed: int = SEED):
    torch.manual_seed(seed)
    enc = TinyEncoder().eval()
    dec = TinyDecoder().eval()
    cfg = DenoiserConfig(width=16, emb_dim=32, lora_rank=4, lora_alpha=4.0, lora_dropout=0.0)
    den = TinyDenoiser(cfg).eval()
    # peft initialises B to zero; the test pack wants the scale to matter, so give B small values.
    with torch.no_grad():
        for p in den.lora_parameters():
            if p.shape[1] == cfg.lora_rank:  # lora_B: [out, r]
                p.normal_(0.0, 1.0)
    return enc, dec, den


def example_inputs(batch: int = 2, w: int = SIZE[0], h: int = SIZE[1], seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    lh, lw = h // 8, w // 8
    return {
        "sample": torch.randn(batch, 4, lh, lw, generator=g),
        "timestep": torch.tensor([999.0, 250.0][:batch] + [500.0] * max(0, batch - 2)),
        "start_latent": torch.randn(batch, 4, lh, lw, generator=g),
        "end_latent": torch.randn(batch, 4, lh, lw, generator=g),
        "position": torch.linspace(0.25, 0.75, batch),
    }


def export(module: torch.nn.Module, args: tuple, inputs: list[str], outputs: list[str], axes: dict) -> bytes:
    buf = io.BytesIO()
    torch.onnx.export(module, args, buf, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=17, do_constant_folding=True)
    model = onnx.load_from_string(buf.getvalue())
    model.producer_name = "inbetween-studio make_tiny_pack.py"
    model.producer_version = ""
    return model.SerializeToString()


def file_ref(path: Path) -> dict:
    data = path.read_bytes()
    return {"file": path.name, "sizeBytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=str(REPO / "models" / "tiny"))
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime-node checks")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    enc, dec, den = build_modules()
    w, h = SIZE
    image = torch.rand(1, 3, h, w) * 2 - 1
    latent = torch.randn(1, 4, h // 8, w // 8)
    ex = example_inputs()
    den_args = tuple(ex[k] for k in DENOISER_INPUTS)
    den_axes = {k: SPATIAL for k in ["sample", "start_latent", "end_latent", "prediction"]}
    den_axes.update({"timestep": {0: "batch"}, "position": {0: "batch"}})
    scale = torch.tensor([0.5])

    with torch.no_grad():
        files = {
            "encoder.onnx": export(enc, (image,), ["image"], ["latent"], {"image": SPATIAL, "latent": SPATIAL}),
            "decoder.onnx": export(dec, (latent,), ["latent"], ["image"], {"latent": SPATIAL, "image": SPATIAL}),
            "denoiser_fp32.onnx": export(BaselineView(den), den_args, DENOISER_INPUTS, ["prediction"], den_axes),
            "denoiser_lora.onnx": export(den, den_args + (scale,), DENOISER_INPUTS + ["lora_scale"], ["prediction"],
                                         {**den_axes, "lora_scale": {}}),
        }
    files["denoiser_fp16.onnx"] = convert_to_fp16(onnx.load_from_string(files["denoiser_fp32.onnx"])).SerializeToString()
    for name, data in files.items():
        (out / name).write_bytes(data)

    if not args.no_check:
        check(out, enc, dec, den, image, latent, ex, scale)

    din = {"sample": "sample", "timestep": "timestep", "startLatent": "start_latent", "endLatent": "end_latent",
           "position": "position"}
    manifest = {
        "format": "inbetween-pack",
        "formatVersion": 1,
        "id": "tiny-random",
        "name": "Tiny random pack (untrained)",
        "version": "1.0.0",
        "description": "Randomly initialised with a fixed seed by models/training/make_tiny_pack.py, for tests: "
                       "it runs the whole pipeline but produces noise-like frames.",
        "trained": False,
        "license": "MIT (generated by models/training/make_tiny_pack.py)",
        "image": {"defaultSize": [w, h], "multipleOf": 64, "valueRange": [-1, 1], "channels": 3},
        "latent": {"channels": 4, "downsample": 8, "scaleFactor": 1.0},
        "scheduler": {"type": "ddim", "trainTimesteps": 1000, "betaSchedule": "scaled_linear", "betaStart": 0.00085,
                      "betaEnd": 0.012, "predictionType": "v_prediction", "timestepSpacing": "trailing",
                      "stepsOffset": 0, "rescaleZeroTerminalSnr": True, "setAlphaToOne": True, "defaultSteps": 8,
                      "eta": 0},
        "frames": {"mode": "position", "maxBatch": 16},
        "graphs": {
            "encoder": {**file_ref(out / "encoder.onnx"), "inputs": {"image": "image"}, "outputs": {"latent": "latent"}},
            "decoder": {**file_ref(out / "decoder.onnx"), "inputs": {"latent": "latent"}, "outputs": {"image": "image"}},
            "denoisers": {
                "fp32": {**file_ref(out / "denoiser_fp32.onnx"), "inputs": din, "outputs": {"prediction": "prediction"}},
                "lora": {**file_ref(out / "denoiser_lora.onnx"), "inputs": {**din, "loraScale": "lora_scale"},
                         "outputs": {"prediction": "prediction"}},
                "fp16": {**file_ref(out / "denoiser_fp16.onnx"), "inputs": din, "outputs": {"prediction": "prediction"}},
            },
        },
        "variants": [
            {"id": "baseline", "label": "Baseline (fp32)", "precision": "fp32", "denoiser": "fp32"},
            {"id": "lora", "label": "LoRA (live scale)", "precision": "fp32", "denoiser": "lora",
             "loraScale": {"default": 0.15, "min": 0, "max": 1}},
            {"id": "fp16", "label": "fp16", "precision": "fp16", "denoiser": "fp16"},
        ],
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum((out / n).stat().st_size for n in files) + (out / "manifest.json").stat().st_size
    print(f"wrote {out} ({total / 1024:.0f} KB)")
    return 0


def check(out: Path, enc, dec, den, image, latent, ex, scale) -> None:
    """Every graph against PyTorch; LoRA at scale 0 against the baseline; fp16 against fp32."""
    with torch.no_grad():
        ref_lat = enc(image).numpy()
        ref_img = dec(latent).numpy()
        ref_base = den(*(ex[k] for k in DENOISER_INPUTS)).numpy()
        ref_lora = den(*(ex[k] for k in DENOISER_INPUTS), scale).numpy()
    feeds = {k: v.numpy() for k, v in ex.items()}
    got_lat = run_onnx(out / "encoder.onnx", {"image": image.numpy()})["latent"]
    got_img = run_onnx(out / "decoder.onnx", {"latent": latent.numpy()})["image"]
    got_base = run_onnx(out / "denoiser_fp32.onnx", feeds)["prediction"]
    got_lora = run_onnx(out / "denoiser_lora.onnx", {**feeds, "lora_scale": scale.numpy()})["prediction"]
    got_lora0 = run_onnx(out / "denoiser_lora.onnx", {**feeds, "lora_scale": np.zeros(1, np.float32)})["prediction"]
    got_fp16 = run_onnx(out / "denoiser_fp16.onnx", feeds)["prediction"]
    report = {
        "encoder vs torch": max_diff(got_lat, ref_lat),
        "decoder vs torch": max_diff(got_img, ref_img),
        "baseline vs torch": max_diff(got_base, ref_base),
        "lora(0.5) vs torch": max_diff(got_lora, ref_lora),
        "lora(0) vs baseline": max_diff(got_lora0, got_base),
        "fp16 vs fp32": max_diff(got_fp16, got_base),
        "lora(0.5) vs baseline": max_diff(got_lora, got_base),
    }
    for k, v in report.items():
        print(f"  {k:24s} max |diff| = {v:.2e}")
    for k in ["encoder vs torch", "decoder vs torch", "baseline vs torch", "lora(0.5) vs torch"]:
        assert report[k] < 1e-4, f"{k}: {report[k]}"
    assert report["lora(0) vs baseline"] < 1e-5, report["lora(0) vs baseline"]
    assert report["fp16 vs fp32"] < 2e-2, report["fp16 vs fp32"]
    assert report["lora(0.5) vs baseline"] > 1e-3, "the LoRA scale should change the output"


if __name__ == "__main__":
    raise SystemExit(main())
