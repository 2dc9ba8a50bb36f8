"""ToonCrafter's UNet to ONNX (opset 17) with the inputs its DDIM sampler passes, and the check of
the graph against PyTorch at each ONNX Runtime optimisation level (issue 18, first step; see
"Exporting ToonCrafter" in docs/exporting.md).

    from models.training.tooncrafter.tiny import build_tiny_unet, sampler_inputs
    from models.training.tooncrafter.export import export_unet, check_levels
    unet, feeds = build_tiny_unet(), sampler_inputs(batch=2)
    export_unet(unet, feeds, "unet.onnx")                    # batch dynamic (cond + uncond in one call)
    check_levels(unet, "unet.onnx", feeds)                   # {level: {"maxAbsDiff", "runMs", "createMs"}}
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn as nn

from models.training.ort_node import run_onnx_timed
from models.training.tooncrafter.standins import static_sizes
from models.training.tooncrafter.tiny import UNetCall

OPSET = 17
INPUTS = ["x", "timesteps", "context", "fs"]
OUTPUT = "model_output"  # v (ToonCrafter's parameterization: "v")


def export_unet(
    unet: nn.Module,
    feeds: dict[str, torch.Tensor],
    path: str | Path,
    dynamic_batch: bool = True,
    static_einops: bool = True,
) -> Path:
    """Exports UNetModel(x, timesteps, context=…, fs=…) for feeds in INPUTS order. Only the batch axis
    is dynamic: the clip length, latent size and token count are the model's (its forward hard-codes
    77 text tokens + 16 image tokens per frame). static_einops: the einops stand-in's sizes other
    than the batch are constants (standins.static_sizes), not Shape -> Gather arithmetic."""
    if list(feeds) != INPUTS:
        raise ValueError(f"feeds must be {INPUTS} in that order, not {list(feeds)}")
    axes = {n: {0: "batch"} for n in INPUTS + [OUTPUT]} if dynamic_batch else None
    with torch.no_grad(), static_sizes(static_einops), warnings.catch_warnings():
        # int(size) under static_sizes: the constant is what we want, so the tracer's warning is noise
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            UNetCall(unet).eval(),
            tuple(feeds.values()),
            str(path),
            input_names=INPUTS,
            output_names=[OUTPUT],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    proto = onnx.load(str(path))
    proto.producer_name, proto.producer_version = "inbetween-studio tooncrafter/export.py", ""
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return Path(path)


def check_levels(
    unet: nn.Module,
    path: str | Path,
    feeds: dict[str, torch.Tensor],
    levels: tuple[str, ...] = ("disabled", "basic", "all"),
    repeats: int = 3,
) -> dict[str, dict]:
    """Runs the graph in onnxruntime-node at each level: max |ORT − PyTorch|, session creation and
    per-call ms (the first call included in runMs). A level ORT refuses raises OrtSessionError."""
    with torch.no_grad():
        ref = UNetCall(unet).eval()(*feeds.values()).numpy().astype(np.float64)
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    report = {}
    for level in levels:
        out, timing = run_onnx_timed(path, np_feeds, level=level, repeats=repeats)
        report[level] = {"maxAbsDiff": float(np.max(np.abs(out[OUTPUT] - ref))), **timing}
    return report
