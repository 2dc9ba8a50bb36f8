"""export.py: a denoiser with peft-style LoRA layers becomes a graph with a live lora_scale input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from models.training.export import (
    LiveLoraScale,
    check_against_torch,
    export_denoiser,
    export_fp16,
    file_refs,
    update_manifest_hashes,
)
from models.training.ort_node import run_onnx

HERE = Path(__file__).resolve().parent

REPO = HERE.parents[2]


class PeftStyleLinear(nn.Module):
    """The attribute layout of peft's LoraLayer (base_layer, lora_A/lora_B/lora_dropout ModuleDicts, scaling)."""

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.ModuleDict({"default": nn.Linear(base.in_features, r, bias=False)})
        self.lora_B = nn.ModuleDict({"default": nn.Linear(r, base.out_features, bias=False)})
        self.lora_dropout = nn.ModuleDict({"default": nn.Identity()})
        self.scaling = {"default": alpha / r}
        self.active_adapters = ["default"]
        nn.init.normal_(self.lora_B["default"].weight, std=0.5)

    def forward(self, x):
        return self.base_layer(x) + self.lora_B["default"](self.lora_A["default"](x)) * self.scaling["default"]


class Toy(nn.Module):
    """A toy 'denoiser' with the studio's input names: per-pixel MLP with one LoRA layer."""

    def __init__(self):
        super().__init__()
        self.mix = nn.Conv2d(12, 16, 1)
        self.proj = PeftStyleLinear(nn.Linear(16, 16))
        self.out = nn.Conv2d(16, 4, 1)

    def forward(self, sample, timestep, start_latent, end_latent, position):
        h = (
            self.mix(torch.cat([sample, start_latent, end_latent], 1))
            + (timestep / 1000 + position)[:, None, None, None]
        )
        h = self.proj(h.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.out(torch.relu(h))


def feeds(b=2, h=8, w=12):
    g = torch.Generator().manual_seed(0)
    return {
        "sample": torch.randn(b, 4, h, w, generator=g),
        "timestep": torch.tensor([900.0, 100.0][:b]),
        "start_latent": torch.randn(b, 4, h, w, generator=g),
        "end_latent": torch.randn(b, 4, h, w, generator=g),
        "position": torch.tensor([0.25, 0.75][:b]),
    }


def test_live_scale_matches_peft_at_one_and_base_at_zero():
    torch.manual_seed(0)
    model = Toy().eval()
    f = feeds()
    with torch.no_grad():
        peft_out = model(*f.values())
        live = LiveLoraScale(model)
        at_one = live(*f.values(), torch.tensor([1.0]))
        at_zero = live(*f.values(), torch.tensor([0.0]))
        base_only = model.out(
            torch.relu(
                model.proj.base_layer(
                    (
                        model.mix(torch.cat([f["sample"], f["start_latent"], f["end_latent"]], 1))
                        + (f["timestep"] / 1000 + f["position"])[:, None, None, None]
                    ).permute(0, 2, 3, 1)
                ).permute(0, 3, 1, 2)
            )
        )
    assert torch.allclose(at_one, peft_out, atol=1e-6)
    assert torch.allclose(at_zero, base_only, atol=1e-6)


def test_exported_graph_has_a_live_scale_and_matches_pytorch(tmp_path):
    torch.manual_seed(0)
    model = Toy().eval()
    path = export_denoiser(model, feeds(), tmp_path / "toy_lora.onnx", lora_scale=True)
    for s in (0.0, 0.15, 1.0):
        assert check_against_torch(model, path, feeds(b=1, h=16, w=24), lora_scale=s) < 1e-5
    a = run_onnx(path, {**{k: v.numpy() for k, v in feeds().items()}, "lora_scale": np.array([0.0], np.float32)})
    b = run_onnx(path, {**{k: v.numpy() for k, v in feeds().items()}, "lora_scale": np.array([1.0], np.float32)})
    assert np.max(np.abs(a["prediction"] - b["prediction"])) > 1e-3


def test_a_model_without_lora_is_refused():
    with pytest.raises(ValueError, match="no LoRA layers"):
        LiveLoraScale(nn.Linear(2, 2))


def test_fp16_export_and_manifest_hashes(tmp_path):
    torch.manual_seed(0)
    model = Toy().eval()
    export_denoiser(model, feeds(), tmp_path / "den.onnx")
    export_fp16(tmp_path / "den.onnx", tmp_path / "den16.onnx")
    f = {k: v.numpy() for k, v in feeds().items()}
    a = run_onnx(tmp_path / "den.onnx", f)["prediction"]
    b = run_onnx(tmp_path / "den16.onnx", f)["prediction"]
    assert np.max(np.abs(a - b)) < 1e-2
    # Hash update: copy the tiny pack, replace one graph, and check the manifest follows.
    pack = tmp_path / "pack"
    shutil.copytree(REPO / "models" / "tiny", pack)
    shutil.copy(tmp_path / "den16.onnx", pack / "denoiser_fp16.onnx")
    m = update_manifest_hashes(pack)
    entry = m["graphs"]["denoisers"]["fp16"]
    assert entry["sizeBytes"] == (pack / "denoiser_fp16.onnx").stat().st_size
    assert json.loads((pack / "manifest.json").read_text())["graphs"]["denoisers"]["fp16"]["sha256"] == entry["sha256"]


def test_manifest_hashes_of_a_format_2_pack(tmp_path):
    # No encoder graph; stages, a denoiser and a decoder: every file's entry is rewritten.
    pack = tmp_path / "flow"
    shutil.copytree(REPO / "models" / "reference" / "flow-tiny", pack)
    original = json.loads((pack / "manifest.json").read_text())
    stale = json.loads(json.dumps(original))
    for ref in file_refs(stale):
        ref["sha256"], ref["sizeBytes"] = "0" * 64, 1
    (pack / "manifest.json").write_text(json.dumps(stale))
    assert len(file_refs(stale)) == 3  # the encoder stage, the denoiser, the decoder
    assert update_manifest_hashes(pack) == original
