"""What full-size ToonCrafter needs: parameters of its UNet, VAE (encoder, dual-reference decoder) and
image resampler, built from ToonCrafter's own classes with its inference config, and the bytes of
their weights at fp32 and fp16 — without allocating a single weight (every tensor is created on
PyTorch's meta device), so it runs in seconds on any machine.

    /usr/bin/python3 -m models.training.tooncrafter.fullsize [--checkout ../shared/reference/tooncrafter]

Prints JSON. The OpenCLIP ViT-H-14 encoders are not part of the checkout and are not counted.
"""
from __future__ import annotations

import argparse
import contextlib
import json
from pathlib import Path
from typing import Iterator

import torch
import yaml

from models.training.tooncrafter.standins import tooncrafter_imports
from models.training.tooncrafter.tiny import DEFAULT_CHECKOUT

_FACTORIES = ("empty", "zeros", "ones", "randn", "rand")


@contextlib.contextmanager
def meta_tensors() -> Iterator[None]:
    """torch.empty/zeros/ones/randn/rand create meta tensors (shape only) inside the block."""
    saved = {name: getattr(torch, name) for name in _FACTORIES}

    def on_meta(real):
        def make(*args, **kwargs):
            kwargs["device"] = "meta"
            return real(*args, **kwargs)

        return make

    try:
        for name, real in saved.items():
            setattr(torch, name, on_meta(real))
        yield
    finally:
        for name, real in saved.items():
            setattr(torch, name, real)


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def full_size(checkout: str | Path = DEFAULT_CHECKOUT) -> dict:
    """Parameter counts and weight bytes of full-size ToonCrafter's modules."""
    cfg = yaml.safe_load((Path(checkout) / "configs" / "inference_512_v1.0.yaml").read_text())["model"]["params"]
    with tooncrafter_imports(checkout), meta_tensors():
        from lvdm.models.autoencoder import AutoencoderKL_Dualref
        from lvdm.modules.encoders.resampler import Resampler
        from lvdm.modules.networks.openaimodel3d import UNetModel

        unet_params = dict(cfg["unet_config"]["params"], use_checkpoint=False)
        unet = UNetModel(**unet_params)
        first = cfg["first_stage_config"]["params"]
        vae = AutoencoderKL_Dualref(first["ddconfig"], {"target": "torch.nn.Identity"}, first["embed_dim"])
        resampler = Resampler(**cfg["image_proj_stage_config"]["params"])
    parts = {
        "unet": count(unet),
        "vaeEncoder": count(vae.encoder) + count(vae.quant_conv),
        "vaeDecoder": count(vae.decoder) + count(vae.post_quant_conv),
        "resampler": count(resampler),
    }
    total = sum(parts.values())
    return {
        "parameters": {**parts, "total": total},
        "weightBytes": {
            "fp32": total * 4,
            "fp16": total * 2,
            "unetFp32": parts["unet"] * 4,
            "unetFp16": parts["unet"] * 2,
        },
        "config": "configs/inference_512_v1.0.yaml",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkout", default=str(DEFAULT_CHECKOUT), help="a ToonCrafter checkout")
    args = ap.parse_args()
    print(json.dumps(full_size(args.checkout), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
