"""Build the sampler reference packs (issue 23): three small, randomly initialised format-2 clip packs,
one per sampler family the studio runs besides DDIM, each with the conditioning its family's models
use, and the outputs the studio must reproduce.

    /usr/bin/python3 -m models.training.reference_packs [--out models/reference] [--only svd,flow,lcm,wan,ltx]

* ``svd-tiny``: Stable Video Diffusion / Framer shape. EDM on Karras σ (σ 0.002…700, v-prediction,
  c_noise = ¼ ln σ, initial noise √(σ₀²+1)·z, Euler by default); the sample input is the c_in-scaled
  noisy latent with the condition latent and a mask concatenated (4 + 4 + 1 = 9 channels), built as
  Framer's pipeline builds them (``pipeline_stable_video_diffusion_interp_control.py``): the
  keyframes' VAE posterior modes *unscaled* at frames 0 and T−1 (SVD's ``_encode_vae_image`` applies
  no scaling factor), the UNet's learned ``mask_token`` (C values, the pack constant
  ``mask_token.npy``) at every frame between, and a mask of 1 at the frames to generate, 0 at the
  keyframes; the unconditional pass zeroes the keyframes' latents only (SVD's negative image
  latents) and keeps the mask token and the mask. fps, motion bucket and augmentation level are
  scalar inputs, and the augmentation level is also the std of the noise added to the keyframes
  before the VAE encoder (SVD's noise_aug_strength).
* ``flow-tiny``: Wan 2.1 / LTX-Video shape. Rectified-flow Euler with timestep shift 3; the
  denoiser takes the condition latent and the guidance scale as inputs (a CFG-distilled student:
  one pass per step).
* ``wan-tiny``: Wan 2.1 first-last-frame shape (``wan/first_last_frame2video.py``): a causal video VAE
  with 4× temporal compression (a 9-frame clip has 1 + 8/4 = 3 latent frames), latents normalised
  per channel inside the VAE wrappers (scale factor 1), the condition y = the VAE's encoding of the
  clip [start, zeros…, end] taken whole from the VAE stage, and Wan's 4-channel frame mask
  concatenated inside the denoiser wrapper; shift 5 and Wan's default solver, UniPC (its
  DPM-Solver++(2M) and flow Euler as the other choices), a CFG-distilled student (guidance input).
* ``ltx-tiny``: LTX-Video keyframe shape (diffusers' ``LTXConditionPipeline`` with an image at frame 0
  and one at the last frame): a causal video VAE with 8× temporal compression (9 frames, 2 latent
  frames), latents normalised in the VAE wrappers (scale factor 1); no condition input: the start
  keyframe's latent replaces latent frame 0 of the noise and the end keyframe's rides as one extra
  latent frame appended after the clip (LTX's extra conditioning tokens), both kept clean by the
  sampler and re-noised by 0.15·σ²·z before each step (``image_cond_noise_scale``); the wrapper gives
  those frames timestep 0 (LTX's per-token timesteps, ``min(t, (1 − mask)·1000)``). Rectified-flow
  Euler on LTX's linear-quadratic σ grid, with true classifier-free guidance (a prompt-embedding
  constant and a negative one, both passes in one batch of 2).
* ``lcm-tiny``: a consistency-distilled student (LCM: ε-prediction, 50-step distillation grid,
  4 steps by default) with the guidance scale as an input (LCM's w-embedding).

Each pack is 64×64 pixels, a 6-frame clip (wan-tiny: 9 frames, 3 latent frames; ltx-tiny: 9 frames, 2
latent frames and the appended end keyframe), latent 4×8×8.
``parity/expected.json`` holds the final clip latent of one run per sampler setting, computed with the
independent numpy samplers of scripts/reference/samplers_reference.py around the exported graphs run in
onnxruntime-node, with the studio's seeded noise (tooncrafter/clip_sampler.py mirrors src/core/rng.ts).
The studio's tests run the same packs in onnxruntime-node and Chromium and compare.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw

from models.training.ort_node import run_onnx
from models.training.tooncrafter.clip_sampler import frame_noise, step_seed

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "models" / "reference"
OPSET = 17
WIDTH = HEIGHT = 64
DOWN = 8
C = 4
T = 6
SCALE_FACTOR = 0.18215
AUG_STEP = 65535  # clip.ts augmentationNoise: the step noise of a step no run reaches
MASK_TOKEN_FILE = "mask_token.npy"
NEGATIVE_EMB_FILE = "negative_image_embeddings.npy"


def _reference_samplers():
    path = REPO / "scripts" / "reference" / "samplers_reference.py"
    spec = importlib.util.spec_from_file_location("samplers_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---- the graphs ------------------------------------------------------------------------------------


def timestep_embedding(t: torch.Tensor, dim: int = 16) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    arg = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class TinyVideoDenoiser(nn.Module):
    """Conv3d → SiLU → + embedding(timestep, extras) → Conv3d: enough structure that every input moves
    the output. `cond_input`: the graph takes `condition` and concatenates it itself (ToonCrafter, Wan);
    otherwise the studio concatenates into `sample` (SVD)."""

    def __init__(self, in_ch: int, n_extra: int, cond_input: bool, width: int = 16):
        super().__init__()
        self.cond_input = cond_input
        self.conv_in = nn.Conv3d(in_ch + (C if cond_input else 0), width, 3, padding=1)
        self.emb = nn.Sequential(nn.Linear(16 + n_extra, width), nn.SiLU(), nn.Linear(width, width))
        self.conv_out = nn.Conv3d(width, C, 3, padding=1)

    def core(self, x, timestep, extras):
        B = x.shape[0]
        emb = timestep_embedding(timestep)
        if extras:
            emb = torch.cat([emb] + [e.reshape(-1, 1).expand(B, 1) for e in extras], dim=1)
        h = torch.nn.functional.silu(self.conv_in(x))
        h = h + self.emb(emb)[:, :, None, None, None]
        return self.conv_out(h)


# SVD's CLIP image embedding (1024 wide in SVD; Framer concatenates the start and end frames'): [1, 2, D].
EMB = 8


class ImageEncoder(nn.Module):
    """The CLIP image-encoder stage of svd-tiny: keyframes [2, 3, H, W] → [1, 2, EMB], the start and end
    frames' embeddings side by side as Framer concatenates them (cat([start, end], dim=1))."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, EMB, DOWN, stride=DOWN)

    def forward(self, images):
        return torch.tanh(self.conv(images)).mean((2, 3))[None]


class SvdDenoiser(TinyVideoDenoiser):
    def __init__(self):
        super().__init__(in_ch=2 * C + 1, n_extra=3, cond_input=False)
        self.ctx = nn.Linear(2 * EMB, 16)

    def forward(self, sample, timestep, image_embeddings, fps, motion_bucket, aug_level):
        h = self.core(sample, timestep, [fps, motion_bucket / 255.0, aug_level])
        ctx = self.ctx(image_embeddings.reshape(image_embeddings.shape[0], -1))  # stands in for cross-attention
        return h + ctx[:, :C, None, None, None]


class GuidedDenoiser(TinyVideoDenoiser):
    def __init__(self):
        super().__init__(in_ch=C, n_extra=1, cond_input=True)

    def forward(self, sample, timestep, condition, guidance):
        return self.core(torch.cat([sample, condition], dim=1), timestep, [guidance / 10.0])


# wan-tiny's clip: F frames, temporal compression K (Wan 2.1's VAE: 4), so 1 + (F − 1)/K latent frames.
WAN_F = 9
WAN_K = 4
WAN_T = 1 + (WAN_F - 1) // WAN_K


def wan_frame_mask(frames: int, h: int, w: int) -> torch.Tensor:
    """Wan 2.1's first-last-frame mask, as wan/first_last_frame2video.py builds it: 1 at the given
    frames (first and last), 0 between; the first frame repeated 4 times so that the F + 3 frames fold
    into 4 channels per latent frame: [4, 1 + (F − 1)/4, h, w]."""
    msk = torch.ones(1, frames, h, w)
    msk[:, 1:-1] = 0
    msk = torch.cat([torch.repeat_interleave(msk[:, 0:1], repeats=4, dim=1), msk[:, 1:]], dim=1)
    msk = msk.view(1, msk.shape[1] // 4, 4, h, w)
    return msk.transpose(1, 2)[0]


class WanDenoiser(TinyVideoDenoiser):
    """Wan's DiT input as its pipeline builds it: cat([x, y]) with y = cat([mask, VAE latent of the
    clip]); the wrapper adds the fixed mask itself, the studio feeds x, y's latent part and the
    guidance scale (a CFG-distilled student)."""

    def __init__(self):
        super().__init__(in_ch=C + 4, n_extra=1, cond_input=True)
        self.register_buffer("mask", wan_frame_mask(WAN_F, HEIGHT // DOWN, WIDTH // DOWN)[None])

    def forward(self, sample, timestep, condition, guidance):
        mask = self.mask.expand(sample.shape[0], -1, -1, -1, -1)
        return self.core(torch.cat([sample, mask, condition], dim=1), timestep, [guidance / 10.0])


class KeyframeEncoder(nn.Module):
    """A causal video VAE's encoder on keyframes [2, 3, H, W] → [2, C, h, w], each encoded alone (one
    frame is one latent frame), normalised per channel, (z − mean)/std, as Wan's and LTX-Video's VAE
    wrappers do, so the pack's scale factor is 1. ltx-tiny's VAE stage."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, C, DOWN, stride=DOWN)
        self.register_buffer("mean", torch.randn(1, C, 1, 1) * 0.1)
        self.register_buffer("inv_std", 1.0 / (0.5 + torch.rand(1, C, 1, 1)))

    def normalise(self, z):
        return (z - self.mean) * self.inv_std

    def forward(self, images):
        return self.normalise(torch.tanh(self.conv(images)))


class WanEncoder(KeyframeEncoder):
    """The VAE stage of wan-tiny: keyframes [2, 3, H, W] → `latents` [2, C, h, w] (each keyframe
    encoded alone: a causal video VAE gives a single frame one latent frame) and `clip` [1, C, T, h, w]
    (the clip [start, zeros…, end] encoded with causal temporal compression: frame 0 alone, then
    every K frames into one). Latents leave normalised per channel, (z − mean)/std, as Wan's VAE
    wrapper does, so the pack's scale factor is 1."""

    def forward(self, images):
        # A single frame is its own latent frame, as the clip's first frame is below.
        latents = super().forward(images)
        h, w = images.shape[2], images.shape[3]
        zeros = torch.zeros(WAN_F - 2, 3, h, w)
        feats = torch.tanh(self.conv(torch.cat([images[:1], zeros, images[1:]])))  # [F, C, h, w]
        groups = feats[1:].reshape(WAN_T - 1, WAN_K, C, h // DOWN, w // DOWN).mean(1)
        clip = self.normalise(torch.cat([feats[:1], groups]))  # [T, C, h, w]
        return latents, clip.permute(1, 0, 2, 3)[None]


class WanDecoder(nn.Module):
    """[1, C, T, h, w] normalised → [1, 3, F, H, W]: each latent frame decodes to K frames, the first
    latent frame to the first frame alone (causal)."""

    def __init__(self, k: int = WAN_K):
        super().__init__()
        self.k = k
        self.up = nn.ConvTranspose2d(C, 3 * k, DOWN, stride=DOWN)
        self.register_buffer("mean", torch.randn(1, C, 1, 1) * 0.1)
        self.register_buffer("std", 0.5 + torch.rand(1, C, 1, 1))

    def forward(self, latent):
        _, c, t, h, w = latent.shape
        z = latent.permute(0, 2, 1, 3, 4).reshape(t, c, h, w) * self.std + self.mean
        sub = torch.tanh(self.up(z)).reshape(t, self.k, 3, h * DOWN, w * DOWN)
        frames = torch.cat([sub[0, -1:], sub[1:].reshape((t - 1) * self.k, 3, h * DOWN, w * DOWN)])
        return frames.permute(1, 0, 2, 3)[None]


# ltx-tiny's clip: 9 frames at LTX-Video's 8× temporal compression → 2 latent frames, and the sample
# carries the end keyframe's latent as a third, appended latent frame.
LTX_F = 9
LTX_K = 8
LTX_T = 1 + (LTX_F - 1) // LTX_K
LTX_NOISE_SCALE = 0.15
# The latent frames LTX keeps as conditioning (mask 1): the start keyframe's and the appended end's.
LTX_KEPT = (0, LTX_T)


class LtxDenoiser(nn.Module):
    """LTX's transformer call as its condition pipeline makes it: the sample's tokens (here latent frames)
    with per-token timesteps min(t, (1 − mask)·1000), so the kept frames (mask 1) see timestep 0; the
    prompt's embeddings as context. Predicts the velocity for every frame of the sample."""

    def __init__(self, width: int = 16):
        super().__init__()
        mask = torch.zeros(LTX_T + 1)
        mask[list(LTX_KEPT)] = 1.0
        self.register_buffer("mask", mask)
        self.conv_in = nn.Conv3d(C, width, 3, padding=1)
        self.emb = nn.Sequential(nn.Linear(16, width), nn.SiLU(), nn.Linear(width, width))
        self.ctx = nn.Linear(2 * EMB, width)
        self.conv_out = nn.Conv3d(width, C, 3, padding=1)

    def frame_timesteps(self, timestep):
        """[B] → [B, T]: LTX's per-token timesteps, 0 at the kept frames."""
        return torch.minimum(timestep[:, None], (1.0 - self.mask)[None] * 1000.0)

    def forward(self, sample, timestep, context):
        B, _, T_, _, _ = sample.shape
        per_frame = self.frame_timesteps(timestep)
        emb = self.emb(timestep_embedding(per_frame.reshape(-1))).reshape(B, T_, -1).permute(0, 2, 1)
        h = torch.nn.functional.silu(self.conv_in(sample))
        h = h + emb[:, :, :, None, None] + self.ctx(context.reshape(B, -1))[:, :, None, None, None]
        return self.conv_out(h)


class TinyEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, C, DOWN, stride=DOWN)

    def forward(self, images):
        return self.conv(images)


class TinyDecoder(nn.Module):
    """[1, C, T, h, w] unscaled → [1, 3, T, H, W] in [-1, 1], frame by frame (ConvTranspose2d)."""

    def __init__(self):
        super().__init__()
        self.up = nn.ConvTranspose2d(C, 3, DOWN, stride=DOWN)

    def forward(self, latent):
        _, c, t, h, w = latent.shape
        frames = latent.permute(0, 2, 1, 3, 4).reshape(t, c, h, w)
        out = torch.tanh(self.up(frames))
        return out.reshape(1, t, 3, h * DOWN, w * DOWN).permute(0, 2, 1, 3, 4)


def export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str], dynamic: dict):
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(path),
            input_names=inputs,
            output_names=outputs,
            dynamic_axes=dynamic,
            opset_version=OPSET,
            do_constant_folding=True,
        )


def file_ref(root: Path, rel: str) -> dict:
    data = (root / rel).read_bytes()
    return {"file": rel, "sizeBytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


# ---- the packs -------------------------------------------------------------------------------------

SVD_SCHEDULER = {
    "type": "edm",
    "sampler": "euler",
    "prediction": "v_prediction",
    "sigmaData": 0.5,
    "sigmaMin": 0.002,
    "sigmaMax": 700.0,
    "rho": 7.0,
    "timestepInput": "log_sigma",
    "initNoise": "sigma_vp",
    "defaultSteps": 8,
    "eta": 1.0,
}
FLOW_SCHEDULER = {"type": "flow", "trainTimesteps": 1000, "shift": 3.0, "defaultSteps": 8}
LTX_SCHEDULER = {
    "type": "flow",
    "trainTimesteps": 1000,
    "shift": 1.0,
    "schedule": "linear_quadratic",
    "thresholdNoise": 0.025,
    "defaultSteps": 8,
}
LTX_GUIDANCE = {"scale": {"default": 3.0, "min": 1.0, "max": 10.0}, "rescale": 0.0}
PROMPT_EMB_FILE = "prompt_embeddings.npy"
NEGATIVE_PROMPT_EMB_FILE = "negative_prompt_embeddings.npy"
# Wan 2.1 samples with UniPC by default (sample_solver "unipc"); flow Euler is the other choice.
WAN_SCHEDULER = {"type": "flow", "trainTimesteps": 1000, "shift": 5.0, "sampler": "flow_unipc", "defaultSteps": 6}
LCM_SCHEDULER = {
    "type": "lcm",
    "trainTimesteps": 1000,
    "betaSchedule": "scaled_linear",
    "betaStart": 0.00085,
    "betaEnd": 0.012,
    "predictionType": "epsilon",
    "originalSteps": 50,
    "timestepScaling": 10.0,
    "defaultSteps": 4,
}
SVD_SCALARS = {
    "fps": {"label": "Frames per second", "default": 7, "min": 1, "max": 30, "integer": True},
    "motionBucket": {"label": "Motion bucket", "default": 127, "min": 0, "max": 255, "integer": True},
    "augLevel": {
        "label": "Augmentation level",
        "description": "Noise added to the keyframes before encoding (SVD's noise_aug_strength).",
        "default": 0.02,
        "min": 0,
        "max": 1,
        "integer": False,
    },
}
GUIDANCE = {"scale": {"default": 5.0, "min": 1.0, "max": 10.0}, "rescale": 0.0}
# SVD's classifier-free guidance: the scale ramps per frame from 1 to the chosen one (min_guidance_scale 1,
# max_guidance_scale 3 by default); the unconditional pass sees zeros for the condition latent.
SVD_GUIDANCE = {"scale": {"default": 3.0, "min": 1.0, "max": 10.0}, "rescale": 0.0, "frameRamp": {"from": 1.0}}
# The runs parity/expected.json records: (sampler, steps, controls).
PARITY_RUNS = {
    "svd": [
        ("euler", 8, {}),
        ("euler_ancestral", 6, {"motionBucket": 40, "augLevel": 0.1, "guidance": 2.5}),
        ("dpmpp_2m", 5, {"fps": 12, "guidance": 1.0}),
    ],
    "flow": [("flow_euler", 8, {"guidance": 5.0}), ("flow_euler", 3, {"guidance": 1.0})],
    "lcm": [("lcm", 4, {"guidance": 5.0}), ("lcm", 1, {"guidance": 8.0}), ("lcm", 6, {"guidance": 2.0})],
    "wan": [
        ("flow_unipc", 6, {"guidance": 5.0}),
        ("flow_unipc", 3, {"guidance": 1.5}),
        ("flow_dpmpp_2m", 5, {"guidance": 5.0}),
        ("flow_euler", 2, {"guidance": 1.5}),
    ],
    "ltx": [("flow_euler", 8, {"guidance": 3.0}), ("flow_euler", 3, {"guidance": 1.0})],
}
PARITY_SEED = 11


def keyframes() -> tuple[np.ndarray, np.ndarray]:
    """Two drawn keyframes (a ball moving right and up), RGB uint8 [H, W, 3]."""
    frames = []
    for cx, cy in ((18, 44), (46, 22)):
        im = Image.new("RGB", (WIDTH, HEIGHT), (250, 246, 235))
        d = ImageDraw.Draw(im)
        d.line([(0, 56), (63, 56)], fill=(60, 60, 60), width=2)
        d.ellipse([cx - 9, cy - 9, cx + 9, cy + 9], fill=(220, 70, 60), outline=(20, 20, 20), width=2)
        frames.append(np.asarray(im))
    return frames[0], frames[1]


def to_tensor(rgb: np.ndarray) -> np.ndarray:
    """rgbaToTensor with valueRange [-1, 1]: [1, 3, H, W] float32."""
    x = rgb.astype(np.float32) / 255.0 * 2.0 - 1.0
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def build_graphs(kind: str, out: Path) -> tuple[dict, dict]:
    """Exports the pack's graphs; returns the denoiser's manifest entry and the decoder's."""
    torch.manual_seed({"svd": 1, "flow": 2, "lcm": 3, "wan": 4, "ltx": 5}[kind])
    h, w = HEIGHT // DOWN, WIDTH // DOWN
    if kind == "ltx":
        # LTX encodes each conditioning image alone, as a one-frame video.
        enc, dec = KeyframeEncoder().eval(), WanDecoder(LTX_K).eval()
        export(enc, (torch.zeros(2, 3, HEIGHT, WIDTH),), out / "vae_encoder.onnx", ["images"], ["latents"], {})
        export(dec, (torch.zeros(1, C, LTX_T, h, w),), out / "decoder.onnx", ["latent"], ["frames"], {})
        # The prompt's embeddings and the negative prompt's (T5 in LTX-Video), as pack constants.
        np.save(out / PROMPT_EMB_FILE, torch.randn(1, 2, EMB).numpy().astype(np.float32))
        np.save(out / NEGATIVE_PROMPT_EMB_FILE, torch.randn(1, 2, EMB).numpy().astype(np.float32))
        den = LtxDenoiser().eval()
        names = ["sample", "timestep", "context"]
        args = (torch.zeros(1, C, LTX_T + 1, h, w), torch.ones(1), torch.zeros(1, 2, EMB))
        export(den, args, out / "transformer.onnx", names, ["velocity"], {n: {0: "B"} for n in names + ["velocity"]})
        spec = {
            **file_ref(out, "transformer.onnx"),
            "inputs": {"sample": "sample", "timestep": "timestep"},
            "outputs": {"prediction": "velocity"},
            "replace": {"end": "appended", "noiseScale": LTX_NOISE_SCALE},
            "feeds": {"context": "constant:promptEmbeddings"},
            "unconditional": {"context": "constant:negativePromptEmbeddings"},
            "maxBatch": 2,
        }
        return spec, {**file_ref(out, "decoder.onnx"), "inputs": {"latent": "latent"}, "outputs": {"image": "frames"}}
    if kind == "wan":
        enc, dec = WanEncoder().eval(), WanDecoder().eval()
        export(enc, (torch.zeros(2, 3, HEIGHT, WIDTH),), out / "vae_encoder.onnx", ["images"], ["latents", "clip"], {})
        export(dec, (torch.zeros(1, C, WAN_T, h, w),), out / "decoder.onnx", ["latent"], ["frames"], {})
    else:
        enc, dec = TinyEncoder().eval(), TinyDecoder().eval()
        export(enc, (torch.zeros(2, 3, HEIGHT, WIDTH),), out / "vae_encoder.onnx", ["images"], ["latents"], {})
        export(dec, (torch.zeros(1, C, T, h, w),), out / "decoder.onnx", ["latent"], ["frames"], {})
    if kind == "svd":
        # Framer's UNet parameter `mask_token` ([1, 1, C, 1, 1], randn at init), fed as C values.
        np.save(out / MASK_TOKEN_FILE, torch.randn(C).numpy().astype(np.float32))
        # SVD's negative image embeddings are zeros (_encode_image with classifier-free guidance).
        np.save(out / NEGATIVE_EMB_FILE, np.zeros((1, 2, EMB), np.float32))
        export(
            ImageEncoder().eval(),
            (torch.zeros(2, 3, HEIGHT, WIDTH),),
            out / "image_encoder.onnx",
            ["images"],
            ["embeddings"],
            {},
        )
        den = SvdDenoiser().eval()
        one = torch.ones(1)
        args = (torch.zeros(1, 2 * C + 1, T, h, w), torch.ones(1), torch.zeros(1, 2, EMB), one, one, one)
        names = ["sample", "timestep", "image_embeddings", "fps", "motion_bucket", "aug_level"]
        # Scalar feeds arrive as [1] and are tiled to the call's batch (both guidance passes at once).
        dyn = {n: {0: "B"} for n in names + ["v"]}
        export(den, args, out / "unet.onnx", names, ["v"], dyn)
        spec = {
            **file_ref(out, "unet.onnx"),
            "inputs": {"sample": "sample", "timestep": "timestep"},
            "outputs": {"prediction": "v"},
            "concat": ["condition", "mask"],
            "conditionLatent": {"latents": "unscaled", "between": "constant:mask_token", "mask": "inbetweens"},
            "unconditionalCondition": "zeros",
            "maxBatch": 2,
            "feeds": {
                "image_embeddings": "stage:clip/embeddings",
                "fps": "scalar:fps",
                "motion_bucket": "scalar:motionBucket",
                "aug_level": "scalar:augLevel",
            },
            "unconditional": {"image_embeddings": "constant:negativeImageEmbeddings"},
        }
    else:
        den = (WanDenoiser() if kind == "wan" else GuidedDenoiser()).eval()
        t = WAN_T if kind == "wan" else T
        args = (torch.zeros(1, C, t, h, w), torch.ones(1), torch.zeros(1, C, t, h, w), torch.ones(1))
        names = ["sample", "timestep", "condition", "guidance"]
        dyn = {n: {0: "B"} for n in names + ["prediction"]}
        export(den, args, out / "student.onnx", names, ["prediction"], dyn)
        spec = {
            **file_ref(out, "student.onnx"),
            "inputs": {"sample": "sample", "timestep": "timestep", "condition": "condition", "guidance": "guidance"},
            "outputs": {"prediction": "prediction"},
        }
        if kind == "wan":
            # y's latent part comes whole from the VAE stage: the clip [start, zeros…, end] encoded.
            spec["conditionLatent"] = {"source": "stage:vae/clip", "latents": "unscaled"}
    return spec, {**file_ref(out, "decoder.onnx"), "inputs": {"latent": "latent"}, "outputs": {"image": "frames"}}


def manifest_for(kind: str, out: Path, den: dict, dec: dict) -> dict:
    label = {
        "svd": ("svd-tiny", "SVD/Framer shape (tiny, untrained)", "base", "EDM Euler, 9-channel sample"),
        "flow": ("flow-tiny", "Flow matching, Wan shape (tiny, untrained)", "student", "CFG-distilled, shift 3"),
        "lcm": ("lcm-tiny", "LCM student (tiny, untrained)", "student", "4-step consistency student"),
        "wan": ("wan-tiny", "Wan 2.1 first-last-frame shape (tiny, untrained)", "student", "3 latent frames, shift 5"),
        "ltx": ("ltx-tiny", "LTX-Video keyframe shape (tiny, untrained)", "base", "latent replacement, CFG"),
    }[kind]
    m = {
        "format": "inbetween-pack",
        "formatVersion": 2,
        "id": label[0],
        "name": label[1],
        "version": "0.1.0",
        "description": (
            "A randomly initialised reference pack for the studio's sampler tests "
            "(models/training/reference_packs.py): its frames are noise, its shape is the research's."
        ),
        "trained": False,
        "license": "MIT",
        "image": {
            "defaultSize": [WIDTH, HEIGHT],
            "multipleOf": 64,
            "valueRange": [-1, 1],
            "channels": 3,
            "fixedSize": True,
        },
        "latent": {"channels": C, "downsample": DOWN, "scaleFactor": SCALE_FACTOR},
        "scheduler": {
            "svd": SVD_SCHEDULER,
            "flow": FLOW_SCHEDULER,
            "lcm": LCM_SCHEDULER,
            "wan": WAN_SCHEDULER,
            "ltx": LTX_SCHEDULER,
        }[kind],
        "frames": {"mode": "clip", "clipLength": T},
        "stages": {
            "vae": {
                **file_ref(out, "vae_encoder.onnx"),
                "label": "VAE encoder",
                "inputs": {"images": "keyframes:pair"},
                "outputs": ["latents"],
            }
        },
        "keyframeLatents": "stage:vae/latents",
        "graphs": {"decoder": dec, "denoisers": {label[2]: den}},
        "variants": [{"id": label[2], "label": label[3], "precision": "fp32", "denoiser": label[2]}],
    }
    if kind == "wan":
        m["latent"] = {"channels": C, "downsample": DOWN, "scaleFactor": 1.0, "temporalDownsample": WAN_K}
        m["frames"]["clipLength"] = WAN_F
        m["stages"]["vae"]["outputs"] = ["latents", "clip"]
    if kind == "ltx":
        m["latent"] = {"channels": C, "downsample": DOWN, "scaleFactor": 1.0, "temporalDownsample": LTX_K}
        m["frames"]["clipLength"] = LTX_F
        m["constants"] = {
            "promptEmbeddings": {**file_ref(out, PROMPT_EMB_FILE), "dtype": "float32", "shape": [1, 2, EMB]},
            "negativePromptEmbeddings": {
                **file_ref(out, NEGATIVE_PROMPT_EMB_FILE),
                "dtype": "float32",
                "shape": [1, 2, EMB],
            },
        }
        m["guidance"] = LTX_GUIDANCE
        return m
    if kind == "svd":
        m["constants"] = {
            "mask_token": {**file_ref(out, MASK_TOKEN_FILE), "dtype": "float32", "shape": [C]},
            "negativeImageEmbeddings": {**file_ref(out, NEGATIVE_EMB_FILE), "dtype": "float32", "shape": [1, 2, EMB]},
        }
        # SVD's CLIP image encoder sees the clean keyframes; only the VAE's get the noise.
        m["stages"] = {
            "clip": {
                **file_ref(out, "image_encoder.onnx"),
                "label": "CLIP image encoder",
                "inputs": {"images": "keyframes:pair"},
                "outputs": ["embeddings"],
            },
            **m["stages"],
        }
        m["scalars"] = SVD_SCALARS
        m["augmentation"] = {"scalar": "augLevel", "stages": ["vae"]}
        m["guidance"] = SVD_GUIDANCE
    else:
        m["guidance"] = GUIDANCE
    return m


def clip_condition(lat: np.ndarray, between: np.ndarray | None = None) -> np.ndarray:
    """[2, C, h, w] → [1, C, T, h, w] with the keyframes at frames 0 and T−1 and, between them, zeros
    or `between` ([C], Framer's mask_token) at every pixel."""
    cond = np.zeros((1, C, T) + lat.shape[2:], np.float32)
    if between is not None:
        cond[0, :, 1 : T - 1] = between.reshape(C, 1, 1, 1)
    cond[0, :, 0] = lat[0]
    cond[0, :, T - 1] = lat[1]
    return cond


def reference_run(kind: str, out: Path, m: dict, sampler: str, steps: int, controls: dict, seed: int) -> np.ndarray:
    """The final clip latent (scaled) of one run: the pack's graphs in onnxruntime-node, the independent
    numpy sampler of scripts/reference/samplers_reference.py, the studio's seeded noise."""
    ref = _reference_samplers()
    sched = dict(m["scheduler"])
    if sched["type"] in ("edm", "flow"):
        sched["sampler"] = sampler
    start, end = keyframes()
    images = np.concatenate([to_tensor(start), to_tensor(end)])
    scalars = {k: float(controls.get(k, s["default"])) for k, s in m.get("scalars", {}).items()}
    g = float(controls.get("guidance", m["guidance"]["scale"]["default"]))
    if kind == "svd":
        # SVD's pipeline: the CLIP image embedding of the clean keyframes first, then the noise for the VAE.
        embeddings = run_onnx(out / "image_encoder.onnx", {"images": images})["embeddings"]
        negative = np.load(out / NEGATIVE_EMB_FILE)
        aug = scalars["augLevel"]
        for which in (0, 1):
            z = frame_noise(step_seed(seed, AUG_STEP), which, images[which].size).reshape(images[which].shape)
            images[which] = (images[which].astype(np.float64) + aug * z).astype(np.float32)
    encoded = run_onnx(out / "vae_encoder.onnx", {"images": images})
    lat = encoded["latents"]
    if kind == "ltx":
        return ltx_reference_run(out, m, steps, g, lat.astype(np.float32), seed)
    if kind == "wan":
        cond = encoded["clip"].astype(np.float32)  # y's latent part, whole, at scale factor 1
    elif kind == "svd":
        # Framer: unscaled posterior modes at the keyframes, the mask token between, and for the
        # unconditional pass zeros at the keyframes with the mask token kept.
        token = np.load(out / MASK_TOKEN_FILE)
        cond = clip_condition(lat.astype(np.float32), token)
        uncond = clip_condition(np.zeros_like(lat, np.float32), token)
    else:
        cond = clip_condition((lat * np.float32(SCALE_FACTOR)).astype(np.float32))
    family = sampler if sampler in ("flow_unipc", "flow_dpmpp_2m") else sched["type"]
    plans = {
        "edm": ref.edm_plan,
        "lcm": ref.lcm_plan,
        "flow": ref.flow_plan,
        "flow_unipc": ref.flow_unipc_plan,
        "flow_dpmpp_2m": ref.flow_dpmpp_plan,
    }
    updaters = {
        "edm": ref.edm_updater,
        "lcm": ref.lcm_updater,
        "flow": ref.flow_updater,
        "flow_unipc": ref.flow_unipc_updater,
        "flow_dpmpp_2m": ref.flow_dpmpp_updater,
    }
    plan = plans[family](sched, steps)
    update = updaters[family](sched, plan)
    n = cond.size
    x = (frame_noise(seed, 0, n).astype(np.float64) * plan["initScale"]).astype(np.float32)
    den_file = m["graphs"]["denoisers"][m["variants"][0]["denoiser"]]["file"]
    for s in range(steps):
        x_in = (x.astype(np.float64) * plan["inputScales"][s]).astype(np.float32).reshape(cond.shape)
        t = np.array([plan["modelTimesteps"][s]], np.float32)
        if kind == "svd":
            mask = np.ones((1, 1, T) + cond.shape[3:], np.float32)
            mask[0, 0, 0] = mask[0, 0, T - 1] = 0  # Framer: 1 at the frames to generate

            def svd_pass(condition, image_embeddings):
                feeds = {
                    "sample": np.concatenate([x_in, condition, mask], axis=1),
                    "timestep": t,
                    "image_embeddings": image_embeddings,
                    "fps": np.array([scalars["fps"]], np.float32),
                    "motion_bucket": np.array([scalars["motionBucket"]], np.float32),
                    "aug_level": np.array([scalars["augLevel"]], np.float32),
                }
                return next(iter(run_onnx(out / den_file, feeds).values())).astype(np.float64)

            c = svd_pass(cond, embeddings)
            if g == 1.0:
                pred = c.reshape(-1)
            else:
                # SVD's guidance: u + g_f·(c − u), g_f from 1 at the first frame to g at the last.
                u = svd_pass(uncond, negative)
                ramp = np.linspace(SVD_GUIDANCE["frameRamp"]["from"], g, T).reshape(1, 1, T, 1, 1)
                pred = (u + ramp * (c - u)).astype(np.float32).reshape(-1)
        else:
            feeds = {"sample": x_in, "timestep": t, "condition": cond, "guidance": np.array([g], np.float32)}
            pred = next(iter(run_onnx(out / den_file, feeds).values())).reshape(-1)
        uses_noise = {
            "euler_ancestral": plan["sigmas"][s + 1] > 0 if "sigmas" in plan else False,
            "lcm": s < steps - 1,
        }.get(sampler, False)
        z = frame_noise(step_seed(seed, s), 0, n).astype(np.float64) if uses_noise else None
        x = np.asarray(update(s, pred.astype(np.float64), x.astype(np.float64), z), np.float64).astype(np.float32)
    if not np.all(np.isfinite(x)):
        raise RuntimeError(f"{kind} {sampler} {steps}: the reference run gave non-finite values")
    return x.reshape(cond.shape)


def ltx_reference_run(out: Path, m: dict, steps: int, g: float, lat: np.ndarray, seed: int) -> np.ndarray:
    """LTX-Video's keyframe loop as diffusers' LTXConditionPipeline runs it (prepare_latents, the
    denoising loop, add_noise_to_image_conditioning_latents), around the exported transformer: the
    noise with the start keyframe's latent at latent frame 0 and the end keyframe's appended; before
    each step the kept frames become init + 0.15·z·(t/1000)²; classifier-free guidance when g > 1;
    Euler on every frame, then the kept frames left as they were. Returns the clip's latent frames."""
    ref = _reference_samplers()
    plan = ref.flow_plan(m["scheduler"], steps)
    sigmas = plan["sigmas"]
    h, w = lat.shape[2:]
    shape = (1, C, LTX_T + 1, h, w)
    n = int(np.prod(shape))
    kept = np.zeros(shape, bool)
    kept[:, :, list(LTX_KEPT)] = True
    init = frame_noise(seed, 0, n).reshape(shape).astype(np.float32)
    init[0, :, 0] = lat[0]
    init[0, :, LTX_T] = lat[1]
    x = init.copy()
    pos = np.load(out / PROMPT_EMB_FILE)
    neg = np.load(out / NEGATIVE_PROMPT_EMB_FILE)
    den = out / m["graphs"]["denoisers"]["base"]["file"]
    for s in range(steps):
        z = frame_noise(step_seed(seed, s), 1, n).reshape(shape).astype(np.float64)
        x = np.where(kept, init + LTX_NOISE_SCALE * z * sigmas[s] ** 2, x).astype(np.float32)
        t = np.array([plan["modelTimesteps"][s]], np.float32)
        c = run_onnx(den, {"sample": x, "timestep": t, "context": pos})["velocity"].astype(np.float64)
        if g > 1.0:
            u = run_onnx(den, {"sample": x, "timestep": t, "context": neg})["velocity"].astype(np.float64)
            v = u + g * (c - u)
        else:
            v = c
        stepped = (x.astype(np.float64) + (sigmas[s + 1] - sigmas[s]) * v).astype(np.float32)
        x = np.where(kept, x, stepped)
    if not np.all(np.isfinite(x)):
        raise RuntimeError(f"ltx {steps}: the reference run gave non-finite values")
    return np.ascontiguousarray(x[:, :, :LTX_T])


def build(kind: str, root: Path) -> None:
    out = root / m_id(kind)
    if out.exists():
        shutil.rmtree(out)
    (out / "parity").mkdir(parents=True)
    den, dec = build_graphs(kind, out)
    m = manifest_for(kind, out, den, dec)
    (out / "manifest.json").write_text(json.dumps(m, indent=2) + "\n")
    start, end = keyframes()
    Image.fromarray(start).save(out / "parity" / "start.png")
    Image.fromarray(end).save(out / "parity" / "end.png")
    runs = []
    for i, (sampler, steps, controls) in enumerate(PARITY_RUNS[kind]):
        lat = reference_run(kind, out, m, sampler, steps, controls, PARITY_SEED)
        if i == 0:
            save_frames(out, lat, m["latent"]["scaleFactor"])
        runs.append(
            {
                "sampler": sampler,
                "steps": steps,
                "seed": PARITY_SEED,
                "controls": controls,
                "dims": list(lat.shape),
                "std": float(lat.std()),
                "latent": [float(v) for v in lat.reshape(-1)],
            }
        )
        print(f"{m['id']}: {sampler} × {steps}: final latent std {lat.std():.4f}")
    (out / "parity" / "expected.json").write_text(
        json.dumps({"generator": "models/training/reference_packs.py", "runs": runs}) + "\n"
    )


def save_frames(out: Path, lat: np.ndarray, scale_factor: float) -> None:
    """The first run's in-betweens (clip frames 1…T−2) decoded by the pack's decoder, as the studio
    turns them into pixels (tensorToRgba: round((x + 1)·127.5), clamped): parity/frame_k.png."""
    frames = run_onnx(out / "decoder.onnx", {"latent": (lat / np.float32(scale_factor)).astype(np.float32)})["frames"]
    for k in range(1, frames.shape[2] - 1):
        rgb = np.clip(np.round((frames[0, :, k].astype(np.float64) + 1.0) * 127.5), 0, 255).astype(np.uint8)
        Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0))).save(out / "parity" / f"frame_{k}.png")


def m_id(kind: str) -> str:
    return f"{kind}-tiny"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--only", default="svd,flow,lcm,wan,ltx")
    args = ap.parse_args(argv)
    for kind in args.only.split(","):
        if kind not in PARITY_RUNS:
            raise SystemExit(f"unknown pack {kind!r}: choose from {', '.join(PARITY_RUNS)}")
        build(kind, Path(args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
