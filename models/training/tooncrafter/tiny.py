"""A tiny UNet of exactly ToonCrafter's architecture (its own `UNetModel` class, imported from a
checkout), configured like `configs/inference_512_v1.0.yaml` but small, with seeded random weights,
and the inputs ToonCrafter's DDIM sampler passes it.

ToonCrafter zero-initialises its output layers (ResBlock.out_layers, the transformers' proj_out,
TemporalConvBlock.conv4, fps_embedding, the UNet's `out`), so a fresh copy outputs zeros; every
layer whose weight is all zeros after construction is re-initialised with its own default init.

Sizes: the config's four levels (channel_mult 1, 2, 4, 4) downsample the latent three times and
upsample back by concatenation, so latent height and width must be multiples of 8: 64×40-pixel
frames (latent 8×5) cannot pass ToonCrafter's UNet (5 → 3 → 2 → 1, back up to 4 ≠ 3). The tiny
default is 128×64 pixels (latent 16×8); the real model runs 512×320 (latent 64×40).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn

from models.training.tooncrafter.standins import tooncrafter_imports

TEXT_TOKENS = 77  # hard-coded in ToonCrafter's UNetModel.forward and CrossAttention (text_context_len)
DEFAULT_CHECKOUT = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "tooncrafter"


@dataclass
class TinyUNetConfig:
    """UNetModel's parameters: the inference config's values except the sizes marked 'tiny'."""

    in_channels: int = 8  # noisy latent + concatenated keyframe conditioning
    out_channels: int = 4
    model_channels: int = 32  # tiny (320)
    attention_resolutions: tuple = (4, 2, 1)
    num_res_blocks: int = 2
    channel_mult: tuple = (1, 2, 4, 4)
    dropout: float = 0.1
    num_head_channels: int = 16  # tiny (64)
    transformer_depth: int = 1
    context_dim: int = 64  # tiny (1024)
    use_linear: bool = True
    use_checkpoint: bool = False  # inference: gradient checkpointing off (config: True)
    temporal_conv: bool = True
    temporal_attention: bool = True
    temporal_selfatt_only: bool = True
    use_relative_position: bool = False
    use_causal_attention: bool = False
    temporal_length: int = 16
    addition_attention: bool = True
    image_cross_attention: bool = True
    default_fs: int = 24
    fs_condition: bool = True


@dataclass
class TinyClip:
    """The clip the UNet denoises: frames, latent size and the image tokens per frame (the
    resampler's num_queries; ToonCrafter's forward splits per-frame image tokens only when the
    context holds 77 + frames·16 tokens)."""

    frames: int = 16
    latent_h: int = 8
    latent_w: int = 16
    image_tokens_per_frame: int = 16


def rerandomise_zero_layers(model: nn.Module) -> list[str]:
    """Re-initialises (reset_parameters) every module whose weight is all zeros; returns their names."""
    names = []
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(w, torch.Tensor) and w.numel() and not w.detach().any() and hasattr(m, "reset_parameters"):
            m.reset_parameters()
            names.append(name)
    return names


def build_tiny_unet(
    checkout: str | Path = DEFAULT_CHECKOUT, config: TinyUNetConfig | None = None, seed: int = 0
) -> nn.Module:
    """ToonCrafter's UNetModel in the tiny configuration, seeded, eval mode, no zero layers left."""
    config = config or TinyUNetConfig()
    with tooncrafter_imports(checkout):
        from lvdm.modules.networks.openaimodel3d import UNetModel
    torch.manual_seed(seed)
    kwargs = asdict(config)
    kwargs["attention_resolutions"] = list(config.attention_resolutions)
    kwargs["channel_mult"] = list(config.channel_mult)
    unet = UNetModel(**kwargs)
    rerandomise_zero_layers(unet)
    return unet.eval()


def sampler_inputs(
    config: TinyUNetConfig | None = None, clip: TinyClip | None = None, batch: int = 1, seed: int = 1
) -> dict[str, torch.Tensor]:
    """What ToonCrafter's DDIMSampler passes the UNet (through DiffusionWrapper, conditioning_key
    'hybrid'), seeded: x = cat(noisy latent, keyframe conditioning) on channels, the conditioning
    being the keyframe latents at frames 0 and T−1 and zeros between (scripts/evaluation/
    inference.py, interp); timesteps [B] (the sampler's are int64; float32 here, the UNet casts);
    context = text tokens [B, 77, D] + image tokens [B, T·16, D]; fs [B] (frame stride)."""
    config, clip = config or TinyUNetConfig(), clip or TinyClip()
    g = torch.Generator().manual_seed(seed)
    c = config.out_channels
    shape = (batch, c, clip.frames, clip.latent_h, clip.latent_w)
    noisy = torch.randn(shape, generator=g)
    keyframes = torch.randn(shape, generator=g)
    cond = torch.zeros(shape)
    cond[:, :, 0] = keyframes[:, :, 0]
    cond[:, :, -1] = keyframes[:, :, -1]
    tokens = TEXT_TOKENS + clip.frames * clip.image_tokens_per_frame
    return {
        "x": torch.cat([noisy, cond], dim=1),
        "timesteps": torch.tensor([999.0, 500.0][:batch] + [250.0] * max(0, batch - 2)),
        "context": torch.randn(batch, tokens, config.context_dim, generator=g),
        "fs": torch.full((batch,), float(config.default_fs)),
    }


class UNetCall(nn.Module):
    """UNetModel with positional inputs in sampler_inputs' order (x, timesteps, context, fs), for export."""

    def __init__(self, unet: nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, x, timesteps, context, fs):
        return self.unet(x, timesteps, context=context, fs=fs)
