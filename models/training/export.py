"""Export denoisers into model packs (see docs/exporting.md).

A researcher's PyTorch denoiser with peft-style LoRA layers becomes a pack denoiser with a live
`lora_scale` input (every adapter branch is multiplied by it, so one graph serves every scale);
any ONNX denoiser becomes an fp16 variant (fp32 inputs/outputs, sensitive ops in fp32); every
export is checked against PyTorch with onnxruntime-node; sizes and sha256 go into the manifest.

Python API:
    export_denoiser(model, feeds, path, lora_scale=True)   -> writes ONNX (lora_scale input when asked)
    export_fp16(src, dst)                                   -> fp16 variant of an ONNX graph
    check_against_torch(model, path, feeds, lora_scale=s)   -> max |ONNX - PyTorch|
    update_manifest_hashes(pack_dir)                        -> rewrites sizeBytes / sha256

CLI:
    /usr/bin/python3 -m models.training.export fp16 IN.onnx OUT.onnx
    /usr/bin/python3 -m models.training.export hashes PACK_DIR
"""
from __future__ import annotations

import hashlib
import io
import json
import sys
import types
from pathlib import Path
from typing import Iterable

import numpy as np
import onnx
import torch
import torch.nn as nn

from models.training.onnx_fp16 import convert_to_fp16
from models.training.ort_node import run_onnx

OPSET = 17
SPATIAL = {0: "batch", 2: "height", 3: "width"}
# A denoiser's `motion` input: one motion-graph output for the whole batch, at image resolution.
MOTION_AXES = {0: "motion_batch", 2: "image_height", 3: "image_width"}
DENOISER_INPUTS = ["sample", "timestep", "start_latent", "end_latent", "position"]


def example_inputs(batch: int = 2, w: int = 192, h: int = 128, seed: int = 1) -> dict[str, torch.Tensor]:
    """Seeded denoiser feeds (DENOISER_INPUTS, in order) for exports and their checks: latents of an
    image w × h, timesteps 999, 250, then 500, positions evenly from ¼ to ¾."""
    g = torch.Generator().manual_seed(seed)
    lh, lw = h // 8, w // 8
    return {
        "sample": torch.randn(batch, 4, lh, lw, generator=g),
        "timestep": torch.tensor([999.0, 250.0][:batch] + [500.0] * max(0, batch - 2)),
        "start_latent": torch.randn(batch, 4, lh, lw, generator=g),
        "end_latent": torch.randn(batch, 4, lh, lw, generator=g),
        "position": torch.linspace(0.25, 0.75, batch),
    }


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a − b| in float64."""
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def default_dynamic_axes(input_names: Iterable[str], output_names: Iterable[str]) -> dict:
    """Batch/height/width dynamic for 4-D tensors, batch for 1-D per-item inputs, fixed lora_scale."""
    axes: dict = {}
    for n in list(input_names) + list(output_names):
        if n in ("timestep", "position"):
            axes[n] = {0: "batch"}
        elif n != "lora_scale":
            axes[n] = SPATIAL
    return axes


# ---- LoRA discovery -------------------------------------------------------------------------------


def is_lora_module(m: nn.Module) -> bool:
    """peft LoraLayer (lora_A / lora_B ModuleDicts) or a single-adapter layer with lora_A / lora_B."""
    return hasattr(m, "lora_A") and hasattr(m, "lora_B")


def find_lora_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if is_lora_module(m)]


def _peft_forward(self, x, *args, **kwargs):
    """peft LoraLayer.forward with every adapter branch multiplied by the live scale."""
    result = self.base_layer(x, *args, **kwargs)
    for name in self.active_adapters if hasattr(self, "active_adapters") else self.lora_A.keys():
        if name not in self.lora_A:
            continue
        dropout = self.lora_dropout[name] if isinstance(self.lora_dropout, nn.ModuleDict) else self.lora_dropout
        result = result + self._live_scale * self.scaling[name] * self.lora_B[name](self.lora_A[name](dropout(x)))
    return result


class LiveLoraScale(nn.Module):
    """Wraps a model so its graph takes `lora_scale` ([1], float32) as the last input and multiplies
    every LoRA branch by it: W x + s · (α/r) · B A x."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.loras = [m for _, m in find_lora_modules(model)]
        if not self.loras:
            raise ValueError("the model has no LoRA layers (modules with lora_A and lora_B)")
        for m in self.loras:
            if isinstance(m.lora_A, nn.ModuleDict):
                m.forward = types.MethodType(_peft_forward, m)
            elif not hasattr(m, "live_scale"):
                raise ValueError(f"{type(m).__name__} has lora_A/lora_B but neither peft ModuleDicts nor live_scale")

    def forward(self, *args):
        *inputs, scale = args
        attr = lambda m: "_live_scale" if isinstance(m.lora_A, nn.ModuleDict) else "live_scale"  # noqa: E731
        saved = [getattr(m, attr(m), 1.0) for m in self.loras]
        for m in self.loras:
            setattr(m, attr(m), scale)
        try:
            return self.model(*inputs)
        finally:
            for m, v in zip(self.loras, saved):
                setattr(m, attr(m), v)


# ---- export and checks ------------------------------------------------------------------------------


def export_module(
    module: nn.Module, args: tuple, input_names: list[str], output_names: list[str], dynamic_axes: dict
) -> bytes:
    """torch.onnx.export at the studio's opset, checked, with a stable producer (byte-deterministic)."""
    buf = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(
            module.eval(),
            args,
            buf,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    proto.producer_name = "inbetween-studio export.py"
    proto.producer_version = ""
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def export_denoiser(
    model: nn.Module,
    feeds: dict[str, torch.Tensor],
    path: str | Path,
    *,
    lora_scale: bool = False,
    output_name: str = "prediction",
    dynamic_axes: dict | None = None,
) -> Path:
    """Exports `model(*feeds.values())` (plus a `lora_scale` input when asked) to ONNX at `path`."""
    names = list(feeds)
    args = tuple(feeds.values())
    module: nn.Module = model
    if lora_scale:
        module = LiveLoraScale(model)
        names.append("lora_scale")
        args = args + (torch.tensor([1.0]),)
    axes = dynamic_axes if dynamic_axes is not None else default_dynamic_axes(names, [output_name])
    Path(path).write_bytes(export_module(module, args, names, [output_name], axes))
    return Path(path)


def export_fp16(src: str | Path, dst: str | Path) -> Path:
    onnx.save(convert_to_fp16(onnx.load(str(src))), str(dst))
    return Path(dst)


def check_against_torch(
    model: nn.Module,
    path: str | Path,
    feeds: dict[str, torch.Tensor],
    *,
    lora_scale: float | None = None,
    output_name: str = "prediction",
) -> float:
    """Max |ONNX − PyTorch| on `feeds` (onnxruntime-node)."""
    model = model.eval()
    with torch.no_grad():
        if lora_scale is None:
            ref = model(*feeds.values())
        else:
            ref = LiveLoraScale(model)(*feeds.values(), torch.tensor([float(lora_scale)]))
    np_feeds = {k: v.detach().numpy() for k, v in feeds.items()}
    if lora_scale is not None:
        np_feeds["lora_scale"] = np.array([lora_scale], np.float32)
    got = run_onnx(path, np_feeds)[output_name]
    return float(np.max(np.abs(got.astype(np.float64) - ref.numpy().astype(np.float64))))


def file_ref(path: Path) -> dict:
    data = path.read_bytes()
    return {"sizeBytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def file_refs(node) -> list[dict]:
    """Every file reference in a manifest (any object naming a `file` with its `sha256`), in order."""
    if isinstance(node, list):
        return [r for x in node for r in file_refs(x)]
    if not isinstance(node, dict):
        return []
    own = [node] if isinstance(node.get("file"), str) and "sha256" in node else []
    return own + [r for v in node.values() for r in file_refs(v)]


def update_manifest_hashes(pack_dir: str | Path) -> dict:
    """Rewrites sizeBytes and sha256 of every file the manifest names: graphs of both formats (with
    their external data), stages, constants and the tokenizer."""
    pack = Path(pack_dir)
    manifest = json.loads((pack / "manifest.json").read_text())
    for ref in file_refs(manifest):
        ref.update(file_ref(pack / ref["file"]))
    # As the TypeScript tools write it (JSON.stringify): UTF-8, not \u escapes.
    (pack / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[1] == "fp16" and len(argv) == 4:
        export_fp16(argv[2], argv[3])
        print(f"wrote {argv[3]}")
        return 0
    if len(argv) == 3 and argv[1] == "hashes":
        update_manifest_hashes(argv[2])
        print(f"updated {Path(argv[2]) / 'manifest.json'}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
