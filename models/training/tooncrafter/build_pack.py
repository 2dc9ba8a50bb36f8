"""Build the tiny ToonCrafter-architecture pack (format 2, /work/notes/format2-spec.md and
docs/exporting.md "Exporting ToonCrafter") from ToonCrafter's own classes, and the reference outputs of
ToonCrafter's own DDIM sampler that the studio's parity test compares against (issue 18).

    /usr/bin/python3 -m models.training.tooncrafter.build_pack --out models/tooncrafter-tiny
        [--checkout ../shared/reference/tooncrafter] [--variants base,lora,fp16] [--no-check] [--force]

One LatentVisualDiffusion (lvdm/models/ddpm3d.py) is instantiated from a config dict (tiny_config):
ToonCrafter's UNetModel, AutoencoderKL_Dualref and Resampler, with our CLIP stand-ins
(clip_standins.py) as the text and image embedders; seeded weights, every zero-initialised layer
re-randomised. Its modules are exported (opset 17, onnx.checker):

    vae_encoder.onnx   images [2, 3, H, W] (start, end) -> latents [2, 4, h, w] (posterior mean, unscaled),
                       ref0..ref4 [1, c_i, 2, h_i, w_i] (the encoder's hidden states, first and last frame)
    image_tokens.onnx  image [B, 3, H, W] -> tokens [B, 256, 64] (CLIP image stand-in + Resampler)
    text_encoder.onnx  tokens [1, 77] int64 -> embedding [1, 77, 64] (the text embedder's encode_with_transformer)
    tokenizer.json     the text stand-in's tokeniser as a Hugging Face tokenizer.json (clip_standins.tokenizer_json)
    unet.onnx          sample, condition [B, 4, 16, h, w], timestep [B], text [B, 77, 64],
                       image_tokens [B, 256, 64], fs [B] -> v [B, 4, 16, h, w] (through DiffusionWrapper 'hybrid')
    unet_lora.onnx     the same + lora_scale [1] (peft-style LoRA on the spatial attn2 projections)
    unet_fp16.onnx     unet.onnx in fp16 (onnx_fp16.convert_to_fp16: float32 inputs and outputs)
    decoder.onnx       latent [1, 4, 16, h, w] UNSCALED, ref0..ref4 -> frames [1, 3, 16, H, W] (decode_core)
    constants/*.npy    the text stand-in's embedding of "" and of two prompts, [1, 77, 64] float32

and `parity/` holds what ToonCrafter's DDIMSampler (lvdm/models/samplers/ddim.py, run on CPU, its
noise replaced by the studio's) makes from two drawn keyframes (start.png, end.png). `build.json`
records the fingerprint of the inputs, the timings and the checks; a build whose fingerprint and files
still match is skipped unless --force.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import shutil
import sys
import time
import types
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
import torch
import torch.nn as nn

from models.training.export import LiveLoraScale, max_diff
from models.training.layers import LoRALinear
from models.training.onnx_fp16 import convert_to_fp16
from models.training.ort_node import run_onnx
from models.training.tooncrafter.clip_sampler import frame_noise, step_seed
from models.training.tooncrafter.clip_standins import EOT, PAD, text_ids, tokenize, tokenizer_json
from models.training.tooncrafter.standins import plain_repeat_interleave, rearrange, static_sizes, tooncrafter_imports
from models.training.tooncrafter.tiny import DEFAULT_CHECKOUT, TinyUNetConfig, rerandomise_zero_layers

REPO = Path(__file__).resolve().parents[3]
DEFAULT_OUT = REPO / "models" / "tooncrafter-tiny"
OPSET = 17
SEED = 0
WIDTH, HEIGHT = 128, 64  # pixels; latent 16 × 8 (tiny.py: the UNet needs latent sides that are multiples of 8)
FRAMES = 16
DOWNSAMPLE = 8
LATENT_CHANNELS = 4
SCALE_FACTOR = 0.18215
CONTEXT_DIM = 64
TEXT_TOKENS = 77
IMAGE_TOKENS = 16 * FRAMES  # Resampler num_queries × video_length
DEFAULT_STEPS = 10
LORA_RANK, LORA_ALPHA, LORA_SEED = 16, 16.0, 5
VARIANTS = ("base", "lora", "fp16")
# tiny.py's UNet with one res block per level instead of two: torch 1.13 exports it in about 80 s instead of
# about 160 s (the exporter's time grows faster than the graph), and every block type is still there.
PACK_UNET = TinyUNetConfig(num_res_blocks=1)
# (prompt id, label, text, constant name, file)
PROMPTS = [
    ("none", "No prompt (ToonCrafter's default)", "", "emptyPrompt", "constants/empty_prompt.npy"),
    ("walk", "a cartoon character walking", "a cartoon character walking", "promptWalk", "constants/prompt_walk.npy"),
    ("ball", "a bouncing ball", "a bouncing ball", "promptBall", "constants/prompt_ball.npy"),
]
# Texts whose token ids parity/tokens.json records for the studio's tokeniser test: plain, empty, spaces,
# non-ASCII, special-token names, and one past the 77-token context.
TOKEN_TEXTS = [
    "a bouncing ball",
    "",
    "  two  spaces\tand a tab ",
    "Ünïcødé 🎈 ✏️",
    "<start_of_text>x<end_of_text> <pad>",
    "a very long prompt " * 8,
]
# The parity run: scripts/run.sh's settings (guidance 7.5, rescale 0.7, uniform_trailing) with few steps.
PARITY = {"seed": 7, "steps": 4, "guidance": 7.5, "rescale": 0.7, "fs": 24, "prompt": "none", "etas": [0.0, 1.0]}
# Files whose contents decide the build (with the checkout's code and torch's version): build.json.
SOURCES = [
    "models/training/tooncrafter/build_pack.py",
    "models/training/tooncrafter/clip_standins.py",
    "models/training/tooncrafter/clip_sampler.py",
    "models/training/tooncrafter/standins.py",
    "models/training/tooncrafter/tiny.py",
    "models/training/onnx_fp16.py",
    "models/training/layers.py",
    "models/training/export.py",
]


# ---- the model -------------------------------------------------------------------------------------


class AttrDict(dict):
    """A dict that also reads keys as attributes: what ToonCrafter reads of its OmegaConf configs
    (`unet_config.params.temporal_length`, `first_stage_config.params.ddconfig.ch_mult`)."""

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError as e:
            raise AttributeError(key) from e


def _attrs(x):
    if isinstance(x, dict):
        return AttrDict({k: _attrs(v) for k, v in x.items()})
    if isinstance(x, (list, tuple)):
        return [_attrs(v) for v in x]
    return x


def tiny_config(unet: TinyUNetConfig = PACK_UNET) -> AttrDict:
    """configs/inference_512_v1.0.yaml's model with tiny sub-configs: the UNet of tiny.py (PACK_UNET), the dual-ref
    autoencoder with ch 32 (GroupNorm's 32 groups need ≥ 32 channels), ch_mult (1, 2, 4, 4) (downsample
    8, five hidden states) and one res block per level, a Resampler of width 64, and our CLIP stand-ins
    in place of the OpenCLIP embedders. Every other value is the config's."""
    u = asdict(unet)
    u["attention_resolutions"], u["channel_mult"] = list(u["attention_resolutions"]), list(u["channel_mult"])
    ddconfig = dict(
        double_z=True,
        z_channels=LATENT_CHANNELS,
        resolution=256,
        in_channels=3,
        out_ch=3,
        ch=32,  # tiny (128)
        ch_mult=[1, 2, 4, 4],
        num_res_blocks=1,  # tiny (2)
        attn_resolutions=[],
        dropout=0.0,
    )
    params = dict(
        rescale_betas_zero_snr=True,
        parameterization="v",
        linear_start=0.00085,
        linear_end=0.012,
        num_timesteps_cond=1,
        timesteps=1000,
        first_stage_key="video",
        cond_stage_key="caption",
        cond_stage_trainable=False,
        conditioning_key="hybrid",
        image_size=[HEIGHT // DOWNSAMPLE, WIDTH // DOWNSAMPLE],
        channels=LATENT_CHANNELS,
        scale_by_std=False,
        scale_factor=SCALE_FACTOR,
        use_ema=False,
        uncond_type="empty_seq",
        use_dynamic_rescale=True,
        base_scale=0.7,
        fps_condition_type="fps",
        perframe_ae=True,  # scripts/run.sh passes --perframe_ae
        loop_video=True,
        unet_config=dict(target="lvdm.modules.networks.openaimodel3d.UNetModel", params=u),
        first_stage_config=dict(
            target="lvdm.models.autoencoder.AutoencoderKL_Dualref",
            params=dict(embed_dim=LATENT_CHANNELS, ddconfig=ddconfig, lossconfig=dict(target="torch.nn.Identity")),
        ),
        cond_stage_config=dict(
            target="models.training.tooncrafter.clip_standins.TinyOpenCLIPEmbedder",
            params=dict(freeze=True, layer="penultimate", width=CONTEXT_DIM),
        ),
        img_cond_stage_config=dict(
            target="models.training.tooncrafter.clip_standins.TinyOpenCLIPImageEmbedderV2", params=dict(freeze=True)
        ),
        image_proj_stage_config=dict(
            target="lvdm.modules.encoders.resampler.Resampler",
            params=dict(
                dim=CONTEXT_DIM,  # tiny (1024)
                depth=2,  # tiny (4)
                dim_head=16,  # tiny (64)
                heads=4,  # tiny (12)
                num_queries=16,
                embedding_dim=48,  # the image stand-in's width (ViT-H: 1280)
                output_dim=CONTEXT_DIM,
                ff_mult=4,
                video_length=FRAMES,
            ),
        ),
    )
    return _attrs(dict(target="lvdm.models.ddpm3d.LatentVisualDiffusion", params=params))


def build_model(checkout: str | Path = DEFAULT_CHECKOUT, seed: int = SEED, unet: TinyUNetConfig = PACK_UNET):
    """ToonCrafter's LatentVisualDiffusion from tiny_config, seeded, zero layers re-randomised, eval mode."""
    with tooncrafter_imports(checkout), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from utils.utils import instantiate_from_config

        torch.manual_seed(seed)
        with contextlib.redirect_stdout(None):  # "====>... is NOT using checkpointing", per block
            model = instantiate_from_config(tiny_config(unet))
    rerandomise_zero_layers(model)
    return model.eval()


def add_lora(unet: nn.Module, rank: int = LORA_RANK, alpha: float = LORA_ALPHA, seed: int = LORA_SEED) -> list[str]:
    """peft-style LoRA (LoRALinear: W x + s·(α/r)·B A x) on to_q, to_k, to_v and to_out[0] of every spatial
    transformer's cross-attention (attn2). peft starts B at zero; here B is seeded N(0, 0.1²) so the
    adapter changes the output. Returns the adapted layers' names."""
    names = []
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        for name, m in unet.named_modules():
            if type(m).__name__ != "SpatialTransformer":
                continue
            for i, block in enumerate(m.transformer_blocks):
                attn = block.attn2
                for proj in ("to_q", "to_k", "to_v"):
                    setattr(attn, proj, LoRALinear(getattr(attn, proj), rank, alpha))
                    names.append(f"{name}.transformer_blocks.{i}.attn2.{proj}")
                attn.to_out[0] = LoRALinear(attn.to_out[0], rank, alpha)
                names.append(f"{name}.transformer_blocks.{i}.attn2.to_out.0")
        for m in unet.modules():
            if isinstance(m, LoRALinear):
                nn.init.normal_(m.lora_B.weight, 0.0, 0.1)
    return names


# ---- the graphs ------------------------------------------------------------------------------------


def ref_names(model) -> list[str]:
    return [f"ref{i}" for i in range(len(model.first_stage_model.decoder.attn_refinement))]


class VaeEncoderGraph(nn.Module):
    """images [2, 3, H, W] (start, end) -> latents [2, C, h, w] = the posterior MEAN, unscaled, and each
    hidden state of encode(x, return_hidden_states=True) as scripts/evaluation/inference.py's
    get_latent_z_with_hidden_states arranges it: '(b t) c h w -> b c t h w', frames 0 and -1 -> [1, c, 2, h, w].
    ToonCrafter encodes all 16 frames of its keyframe video (start ×8, end ×8); the encoder works per
    frame, so the first and last frames' states are the start's and the end's."""

    def __init__(self, model):
        super().__init__()
        self.ae = model.first_stage_model

    def forward(self, images):
        posterior, hidden = self.ae.encode(images, return_hidden_states=True)
        refs = []
        for hid in hidden:
            hid = rearrange(hid, "(b t) c h w -> b c t h w", t=images.shape[0])
            refs.append(torch.cat([hid[:, :, 0:1], hid[:, :, -1:]], dim=2))
        return (posterior.mean, *refs)


class ImageTokensGraph(nn.Module):
    """image [B, 3, H, W] in [-1, 1] -> tokens [B, 256, D]: model.image_proj_model(model.embedder(img))."""

    def __init__(self, model):
        super().__init__()
        self.embedder, self.proj = model.embedder, model.image_proj_model

    def forward(self, image):
        return self.proj(self.embedder(image))


class TextEncoderGraph(nn.Module):
    """tokens [1, 77] int64 -> embedding [1, 77, D]: the text embedder after tokenisation
    (FrozenOpenCLIPEmbedder.encode_with_transformer, which the stand-in shares); the studio tokenises
    with the pack's tokenizer.json."""

    def __init__(self, model):
        super().__init__()
        self.embedder = model.cond_stage_model

    def forward(self, tokens):
        return self.embedder.encode_with_transformer(tokens)


class DenoiserGraph(nn.Module):
    """ToonCrafter's DiffusionWrapper ('hybrid') as apply_model calls it: x = cat([sample, condition], 1),
    context = cat(c_crossattn, 1) with c_crossattn = [cat([text, image_tokens], 1)], then
    UNetModel(x, t, context=context, fs=fs) -> v."""

    def __init__(self, wrapper: nn.Module):
        super().__init__()
        self.wrapper = wrapper

    def forward(self, sample, timestep, condition, text, image_tokens, fs):
        context = torch.cat([text, image_tokens], dim=1)
        return self.wrapper(sample, timestep, c_concat=[condition], c_crossattn=[context], fs=fs)


class DecoderGraph(nn.Module):
    """latent [1, C, T, h, w] UNSCALED, ref0..refK -> frames [1, 3, T, H, W]: LatentVisualDiffusion.decode_core
    (what decode_first_stage(z, ref_context=hs) runs) with scale_factor 1 while it runs, because the
    studio has already divided by it. With perframe_ae, decode_core passes timesteps=T to the
    VideoDecoder, and AutoencoderKL.decode skips post_quant_conv whenever it gets keyword arguments."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, latent, *refs):
        saved = self.model.scale_factor
        self.model.scale_factor = 1.0
        try:
            return self.model.decode_core(latent, ref_context=list(refs))
        finally:
            self.model.scale_factor = saved


def export_graph(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: dict, batch=()) -> Path:
    """torch.onnx.export at opset 17 with the einops stand-in's static sizes (standins.static_sizes) and
    repeat_interleave as expand + reshape (standins.plain_repeat_interleave, no ONNX Loop): only the axes
    named in `batch` (axis 0) are dynamic. `outputs`: name -> shape, written into the graph's output
    types (the exporter leaves symbolic names such as "Reshapev_dim_1" behind Reshape). Checked by
    onnx.checker; stable producer."""
    axes = {n: {0: "batch"} for n in batch} or None
    with torch.no_grad(), static_sizes(), plain_repeat_interleave(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning for int(size); autocast("cuda") without CUDA
        torch.onnx.export(
            module.eval(),
            args,
            str(path),
            input_names=inputs,
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    proto = compact_zero_constants(onnx.load(str(path)))
    for out in proto.graph.output:
        dims = out.type.tensor_type.shape.dim
        for i, (dim, size) in enumerate(zip(dims, outputs[out.name])):
            if i == 0 and out.name in batch:
                dim.dim_param = "batch"
            else:
                dim.dim_value = int(size)
    proto.producer_name, proto.producer_version = "inbetween-studio tooncrafter/build_pack.py", ""
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


def compact_zero_constants(proto: onnx.ModelProto, min_elements: int = 4096) -> onnx.ModelProto:
    """Replaces each large all-zero float Constant by ConstantOfShape (the same tensor, made at load time).
    The dual-ref decoder's temporal ResBlocks (skip_t_emb) add torch.zeros_like(h) to h; with static
    sizes the exporter folds those into constants of the activations' size, 63 of the decoder's 78 MB."""
    nodes = []
    for node in proto.graph.node:
        t = node.attribute[0].t if node.op_type == "Constant" and node.attribute[0].name == "value" else None
        if t is not None and t.data_type in (TensorProto.FLOAT, TensorProto.FLOAT16):
            a = numpy_helper.to_array(t)
            if a.size >= min_elements and not a.any():
                shape = numpy_helper.from_array(np.array(a.shape, np.int64), f"{node.output[0]}_shape")
                zero = numpy_helper.from_array(np.zeros(1, a.dtype))
                nodes.append(helper.make_node("Constant", [], [shape.name], value=shape))
                nodes.append(helper.make_node("ConstantOfShape", [shape.name], list(node.output), value=zero))
                continue
        nodes.append(node)
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    return proto


UNET_INPUTS = ["sample", "timestep", "condition", "text", "image_tokens", "fs"]


def unet_feeds(batch: int = 2, seed: int = 1) -> dict[str, torch.Tensor]:
    """Random denoiser inputs of the clip's shapes (timesteps 999, 500, 250…; fs 24)."""
    g = torch.Generator().manual_seed(seed)
    shape = (batch, LATENT_CHANNELS, FRAMES, HEIGHT // DOWNSAMPLE, WIDTH // DOWNSAMPLE)
    cond = torch.zeros(shape)
    keys = torch.randn(shape, generator=g)
    cond[:, :, 0], cond[:, :, -1] = keys[:, :, 0], keys[:, :, -1]
    return {
        "sample": torch.randn(shape, generator=g),
        "timestep": torch.tensor(([999.0, 500.0] + [250.0] * batch)[:batch]),
        "condition": cond,
        "text": torch.randn(batch, TEXT_TOKENS, CONTEXT_DIM, generator=g),
        "image_tokens": torch.randn(batch, IMAGE_TOKENS, CONTEXT_DIM, generator=g),
        "fs": torch.full((batch,), 24.0),
    }


# ---- keyframes, constants, files -------------------------------------------------------------------


def draw_keyframes() -> tuple[np.ndarray, np.ndarray]:
    """Two 128×64 RGB uint8 keyframes: a ball and a box on a light ground, moved and recoloured between."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]

    def frame(ball_x, ball_y, box_x, box_color):
        img = np.empty((HEIGHT, WIDTH, 3), np.uint8)
        img[:] = (236, 228, 210)
        img[yy > 50] = (120, 160, 90)  # ground
        box = (abs(xx - box_x) <= 9) & (abs(yy - 40) <= 9)
        img[box] = box_color
        ball = (xx - ball_x) ** 2 + (yy - ball_y) ** 2 <= 100
        img[ball] = (200, 40, 40)
        img[((xx - ball_x) ** 2 + (yy - ball_y) ** 2 <= 100) & ((xx - ball_x) ** 2 + (yy - ball_y) ** 2 > 70)] = (
            30,
            20,
            20,
        )
        return img

    return frame(22, 20, 96, (40, 70, 190)), frame(100, 38, 60, (230, 180, 40))


def load_png(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """8-bit RGB [H, W, 3] -> [1, 3, H, W] float32 in [-1, 1] as v/127.5 − 1."""
    return torch.from_numpy(rgb.astype(np.float32) / 127.5 - 1.0).permute(2, 0, 1)[None].contiguous()


def save_npy(path: Path, array: np.ndarray) -> None:
    """NumPy .npy v1.0, little-endian float32, C order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        np.lib.format.write_array(f, np.ascontiguousarray(array, dtype="<f4"), version=(1, 0))


def file_ref(path: Path, root: Path) -> dict:
    data = path.read_bytes()
    return {
        "file": path.relative_to(root).as_posix(),
        "sizeBytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


# ---- ToonCrafter's own sampler (parity reference) ----------------------------------------------------


@contextlib.contextmanager
def studio_noise(ddim_module, seed: int):
    """Replaces the noise_like that lvdm/models/samplers/ddim.py imported by the studio's eta noise:
    the s-th call (0-based, one per visited step, made whether or not eta is 0) returns
    frameNoise((seed + imul(0x9e3779b1, s + 1)) >>> 0, 0, n) in C order."""
    calls = [0]
    original = ddim_module.noise_like

    def noise_like(shape, device, repeat=False):
        n = int(np.prod(shape))
        z = frame_noise(step_seed(seed, calls[0]), 0, n).reshape(shape)
        calls[0] += 1
        return torch.from_numpy(z).to(device)

    ddim_module.noise_like = noise_like
    try:
        yield calls
    finally:
        ddim_module.noise_like = original


def conditioning(model, start: torch.Tensor, end: torch.Tensor) -> dict:
    """scripts/evaluation/inference.py image_guided_synthesis with interp=True and no text input, for one
    sample: the keyframe video (start ×T/2, end ×T/2), img_emb of the START frame, c_crossattn = cat(
    prompt_emb(""), img_emb), c_concat = the scaled keyframe latents at frames 0 and T−1 and zeros
    between, uc = cat(emb(""), image tokens of zeros_like(img)) with the same c_concat, and the decoder's
    reference states. The latents are get_first_stage_encoding(posterior, noise=zeros) — the scaled
    posterior MEAN — where ToonCrafter draws a posterior sample (its noise is not the studio's)."""
    videos = torch.cat(
        [start[:, :, None].expand(-1, -1, FRAMES // 2, -1, -1), end[:, :, None].expand(-1, -1, FRAMES // 2, -1, -1)], 2
    )
    b, _, t, _, _ = videos.shape
    img = videos[:, :, 0]
    img_emb = model.image_proj_model(model.embedder(img))
    cond_emb = model.get_learned_conditioning([""] * b)
    x = rearrange(videos, "b c t h w -> (b t) c h w")
    posterior, hidden = model.first_stage_model.encode(x, return_hidden_states=True)
    hs = []
    for hid in hidden:
        hid = rearrange(hid, "(b t) c h w -> b c t h w", t=t)
        hs.append(torch.cat([hid[:, :, 0:1], hid[:, :, -1:]], dim=2))
    z = model.get_first_stage_encoding(posterior, noise=torch.zeros_like(posterior.mean))
    z = rearrange(z, "(b t) c h w -> b c t h w", b=b, t=t)
    img_cat_cond = torch.zeros_like(z)
    img_cat_cond[:, :, 0] = z[:, :, 0]
    img_cat_cond[:, :, -1] = z[:, :, -1]
    uc_emb = model.get_learned_conditioning([""] * b)
    uc_img_emb = model.image_proj_model(model.embedder(torch.zeros_like(img)))
    return {
        "cond": {"c_crossattn": [torch.cat([cond_emb, img_emb], dim=1)], "c_concat": [img_cat_cond]},
        "uc": {"c_crossattn": [torch.cat([uc_emb, uc_img_emb], dim=1)], "c_concat": [img_cat_cond]},
        "hs": hs,
        "z": z,
    }


def reference_sample(model, checkout: Path, cond: dict, eta: float, settings: dict = PARITY) -> dict[str, np.ndarray]:
    """ToonCrafter's DDIMSampler.sample as image_guided_synthesis calls it (S steps, uniform_trailing,
    guidance and guidance_rescale, fs), x_T and the eta noise from the studio's RNG, on CPU (the
    sampler's register_buffer moves tensors to CUDA: replaced on this instance by a plain setattr);
    then decode_first_stage(samples, ref_context=hs) once — not funcs.py's / inference.py's second
    decode of 14 frames spliced into the middle."""
    with tooncrafter_imports(checkout):
        import lvdm.models.samplers.ddim as ddim_module
    seed = settings["seed"]
    shape = (1, LATENT_CHANNELS, FRAMES, HEIGHT // DOWNSAMPLE, WIDTH // DOWNSAMPLE)
    x_T = frame_noise(seed, 0, int(np.prod(shape))).reshape(shape)
    sampler = ddim_module.DDIMSampler(model)
    sampler.register_buffer = types.MethodType(lambda self, name, attr: setattr(self, name, attr), sampler)
    fs = torch.tensor([settings["fs"]], dtype=torch.long)
    with torch.no_grad(), studio_noise(ddim_module, seed) as calls, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        samples, _ = sampler.sample(
            S=settings["steps"],
            conditioning=cond["cond"],
            batch_size=1,
            shape=shape[1:],
            verbose=False,
            unconditional_guidance_scale=settings["guidance"],
            unconditional_conditioning=cond["uc"],
            eta=eta,
            cfg_img=None,
            mask=None,
            x0=None,
            fs=fs,
            timestep_spacing="uniform_trailing",
            guidance_rescale=settings["rescale"],
            unconditional_conditioning_img_nonetext=None,
            x_T=torch.from_numpy(x_T.copy()),
        )
        frames = model.decode_first_stage(samples, ref_context=cond["hs"])
    assert calls[0] == settings["steps"], calls
    return {
        "x_T": x_T,
        "samples": samples.numpy().astype(np.float32),
        "frames": frames.numpy().astype(np.float32),
        "timesteps": np.flip(sampler.ddim_timesteps).astype(np.int64),
    }


# ---- checks ------------------------------------------------------------------------------------------


def graph_checks(out: Path, model, lora_model=None, batch: int = 2) -> dict[str, float]:
    """max |ORT − PyTorch| of every graph in `out` (onnxruntime-node, optimisation level all) on the parity
    keyframes and random denoiser inputs at `batch`; LoRA at scales 0 and 1, fp16 against fp32."""
    start, end = to_tensor(load_png(out / "parity" / "start.png")), to_tensor(load_png(out / "parity" / "end.png"))
    pair = torch.cat([start, end])
    report = {}
    with torch.no_grad():
        enc = VaeEncoderGraph(model)(pair)
        names = ["latents"] + ref_names(model)
        got = run_onnx(out / "vae_encoder.onnx", {"images": pair.numpy()})
        report["vae_encoder"] = max(max_diff(got[n], t.numpy()) for n, t in zip(names, enc))
        images = torch.cat([start, torch.zeros_like(start)])[:batch]
        ref = ImageTokensGraph(model)(images).numpy()
        report["image_tokens"] = max_diff(run_onnx(out / "image_tokens.onnx", {"image": images.numpy()})["tokens"], ref)
        tokens = tokenize("a bouncing ball")
        ref = TextEncoderGraph(model)(tokens).numpy()
        report["text_encoder"] = max_diff(run_onnx(out / "text_encoder.onnx", {"tokens": tokens.numpy()})["embedding"], ref)
        feeds = unet_feeds(batch)
        np_feeds = {k: v.numpy() for k, v in feeds.items()}
        ref = DenoiserGraph(model.model)(*feeds.values()).numpy()
        got_base = run_onnx(out / "unet.onnx", np_feeds)["v"]
        report["unet"] = max_diff(got_base, ref)
        if (out / "unet_fp16.onnx").is_file():
            report["unet_fp16 vs unet"] = max_diff(run_onnx(out / "unet_fp16.onnx", np_feeds)["v"], got_base)
            report["unet_fp16 vs unet (relative to max |v|)"] = report["unet_fp16 vs unet"] / float(
                np.abs(got_base).max()
            )
        if lora_model is not None and (out / "unet_lora.onnx").is_file():
            lora = LiveLoraScale(DenoiserGraph(lora_model.model))
            ref1 = lora(*feeds.values(), torch.tensor([1.0])).numpy()
            got1 = run_onnx(out / "unet_lora.onnx", {**np_feeds, "lora_scale": np.ones(1, np.float32)})["v"]
            got0 = run_onnx(out / "unet_lora.onnx", {**np_feeds, "lora_scale": np.zeros(1, np.float32)})["v"]
            report["unet_lora(1)"] = max_diff(got1, ref1)
            report["unet_lora(0) vs unet"] = max_diff(got0, got_base)
            report["unet_lora(1) vs unet"] = max_diff(got1, got_base)
        latent = torch.from_numpy(frame_noise(3, 0, LATENT_CHANNELS * FRAMES * (HEIGHT // 8) * (WIDTH // 8)))
        latent = latent.reshape(1, LATENT_CHANNELS, FRAMES, HEIGHT // 8, WIDTH // 8)
        refs = list(enc[1:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = DecoderGraph(model)(latent, *refs).numpy()
        dec_feeds = {"latent": latent.numpy(), **{n: r.numpy() for n, r in zip(ref_names(model), refs)}}
        report["decoder"] = max_diff(run_onnx(out / "decoder.onnx", dec_feeds)["frames"], ref)
    return report


# ---- manifest ----------------------------------------------------------------------------------------


def write_manifest(out: Path, model, variants: tuple[str, ...]) -> dict:
    refs = ref_names(model)
    h, w = HEIGHT // DOWNSAMPLE, WIDTH // DOWNSAMPLE
    denoiser = {
        "inputs": {"sample": "sample", "timestep": "timestep", "condition": "condition"},
        "feeds": {"text": "prompt", "image_tokens": "stage:imageTokens/tokens", "fs": "scalar:fs"},
        "unconditional": {"image_tokens": "stage:blankImageTokens/tokens", "text": "constant:emptyPrompt"},
        "maxBatch": 2,
        "outputs": {"prediction": "v"},
    }
    files = {"base": "unet.onnx", "lora": "unet_lora.onnx", "fp16": "unet_fp16.onnx"}
    denoisers = {}
    for v in variants:
        d = {**file_ref(out / files[v], out), **json.loads(json.dumps(denoiser))}
        if v == "lora":
            d["inputs"]["loraScale"] = "lora_scale"
        denoisers[v] = d
    labels = {
        "base": {"id": "base", "label": "Tiny ToonCrafter (fp32)", "precision": "fp32", "denoiser": "base"},
        "lora": {
            "id": "lora",
            "label": "Tiny ToonCrafter + LoRA",
            "description": "A random rank-16 LoRA on the spatial cross-attention (attn2 q/k/v/out), live scale.",
            "precision": "fp32",
            "denoiser": "lora",
            "loraScale": {"default": 1, "min": 0, "max": 2},
        },
        "fp16": {"id": "fp16", "label": "Tiny ToonCrafter (fp16)", "precision": "fp16", "denoiser": "fp16"},
    }
    image_tokens = file_ref(out / "image_tokens.onnx", out)
    manifest = {
        "format": "inbetween-pack",
        "formatVersion": 2,
        "id": "tooncrafter-tiny",
        "name": "ToonCrafter architecture (tiny, untrained)",
        "version": "0.1.0",
        "description": (
            "ToonCrafter's own UNet, dual-reference VAE and image resampler (configs/inference_512_v1.0.yaml, tiny "
            f"sizes) with random weights and small stand-ins for its OpenCLIP encoders, {WIDTH}×{HEIGHT} pixels, "
            f"{FRAMES}-frame clips. For testing the format-2 pipeline; built by "
            "models/training/tooncrafter/build_pack.py, with parity/ holding ToonCrafter's own sampler's output."
        ),
        "trained": False,
        "license": "Apache-2.0 (graphs traced from ToonCrafter's code, Apache-2.0; weights are seeded random numbers)",
        "image": {
            "defaultSize": [WIDTH, HEIGHT],
            "multipleOf": 64,
            "valueRange": [-1, 1],
            "channels": 3,
            "fixedSize": True,
        },
        "latent": {"channels": LATENT_CHANNELS, "downsample": DOWNSAMPLE, "scaleFactor": SCALE_FACTOR},
        "scheduler": {
            "type": "ddim",
            "trainTimesteps": 1000,
            "betaSchedule": "scaled_linear",  # make_beta_schedule("linear"): linspace of √β, squared
            "betaStart": 0.00085,
            "betaEnd": 0.012,
            "predictionType": "v_prediction",
            "timestepSpacing": "trailing",  # uniform_trailing
            "stepsOffset": 0,
            "rescaleZeroTerminalSnr": True,
            "setAlphaToOne": False,  # the last step's ᾱ_prev is alphas_cumprod[0]
            "defaultSteps": DEFAULT_STEPS,
            "eta": 1,
            "previousTimestep": "plan",
            "dynamicRescale": {"baseScale": 0.7, "turningStep": 400},
        },
        "frames": {"mode": "clip", "clipLength": FRAMES},
        "guidance": {"scale": {"default": 7.5, "min": 1, "max": 15}, "rescale": 0.7},
        "scalars": {
            "fs": {
                "label": "Frame stride (fs)",
                "description": "ToonCrafter's frame-stride conditioning (smaller: larger motion).",
                "default": 24,
                "min": 1,
                "max": 60,
                "integer": True,
            }
        },
        "constants": {
            const: {**file_ref(out / f, out), "dtype": "float32", "shape": [1, TEXT_TOKENS, CONTEXT_DIM]}
            for _, _, _, const, f in PROMPTS
        },
        "prompts": [{"id": pid, "label": label, "constant": const} for pid, label, _, const, _ in PROMPTS],
        "text": {
            "tokenizer": file_ref(out / "tokenizer.json", out),
            "contextLength": TEXT_TOKENS,
            "padId": PAD,
            "embedding": "stage:text/embedding",
        },
        "stages": {
            "text": {**file_ref(out / "text_encoder.onnx", out), "inputs": {"tokens": "text"}, "outputs": ["embedding"]},
            "vae": {
                **file_ref(out / "vae_encoder.onnx", out),
                "inputs": {"images": "keyframes:pair"},
                "outputs": ["latents", *refs],
            },
            "imageTokens": {**image_tokens, "inputs": {"image": "keyframes:start"}, "outputs": ["tokens"]},
            "blankImageTokens": {**image_tokens, "inputs": {"image": "keyframes:blank"}, "outputs": ["tokens"]},
        },
        "keyframeLatents": "stage:vae/latents",
        "graphs": {
            "denoisers": denoisers,
            "decoder": {
                **file_ref(out / "decoder.onnx", out),
                "inputs": {"latent": "latent"},
                "feeds": {r: f"stage:vae/{r}" for r in refs},
                "outputs": {"image": "frames"},
            },
        },
        "variants": [labels[v] for v in variants],
    }
    assert (h, w) == (8, 16)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return manifest


# ---- the build ---------------------------------------------------------------------------------------


def fingerprint(checkout: Path, variants: tuple[str, ...]) -> str:
    """sha256 of what decides the pack: our sources, the checkout's Python files, torch's version, variants."""
    h = hashlib.sha256()
    for rel in SOURCES:
        h.update(rel.encode() + b"\0" + (REPO / rel).read_bytes())
    for path in sorted(Path(checkout).rglob("*.py")):
        h.update(path.relative_to(checkout).as_posix().encode() + b"\0" + path.read_bytes())
    h.update(f"torch {torch.__version__} onnx {onnx.__version__} variants {','.join(variants)}".encode())
    return h.hexdigest()


def pack_is_fresh(out: Path, checkout: Path = DEFAULT_CHECKOUT, variants: tuple[str, ...] = VARIANTS) -> bool:
    """True when out/build.json has this build's fingerprint and every file it lists has its sha256."""
    try:
        info = json.loads((out / "build.json").read_text())
    except (OSError, ValueError):
        return False
    if info.get("fingerprint") != fingerprint(Path(checkout), tuple(variants)):
        return False
    for rel, digest in info.get("files", {}).items():
        path = out / rel
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False
    return True


def build(
    out: str | Path = DEFAULT_OUT,
    checkout: str | Path = DEFAULT_CHECKOUT,
    variants: tuple[str, ...] = VARIANTS,
    check: bool = True,
    log=print,
) -> dict:
    """Writes the pack into `out` (replacing what an earlier build wrote there); returns build.json's dict."""
    out, checkout = Path(out), Path(checkout).resolve()
    if "base" not in variants:
        raise ValueError("the base variant is always built (fp16 converts it; lora is checked against it)")
    t0 = time.perf_counter()
    timings = {}

    def lap(name, since):
        timings[name] = round(time.perf_counter() - since, 1)
        log(f"  {name}: {timings[name]} s")

    (out / "build.json").unlink(missing_ok=True)
    for sub in ("constants", "parity"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for f in ("vae_encoder.onnx", "image_tokens.onnx", "text_encoder.onnx", "tokenizer.json", "unet.onnx", "unet_lora.onnx", "unet_fp16.onnx", "decoder.onnx"):
        (out / f).unlink(missing_ok=True)
    (out / "parity").mkdir(parents=True)

    t = time.perf_counter()
    model = build_model(checkout)
    lap("build model", t)

    from PIL import Image

    start_u8, end_u8 = draw_keyframes()
    Image.fromarray(start_u8).save(out / "parity" / "start.png")
    Image.fromarray(end_u8).save(out / "parity" / "end.png")
    start, end = to_tensor(load_png(out / "parity" / "start.png")), to_tensor(load_png(out / "parity" / "end.png"))

    t = time.perf_counter()
    with torch.no_grad():
        for _, _, text, _, f in PROMPTS:
            save_npy(out / f, model.get_learned_conditioning([text]).numpy())
    refs = ref_names(model)
    pair = torch.cat([start, end])
    h, w = HEIGHT // DOWNSAMPLE, WIDTH // DOWNSAMPLE
    with torch.no_grad():
        latents, *hidden = VaeEncoderGraph(model)(pair)
    vae_outputs = {"latents": tuple(latents.shape), **{r: tuple(x.shape) for r, x in zip(refs, hidden)}}
    export_graph(VaeEncoderGraph(model), (pair,), out / "vae_encoder.onnx", ["images"], vae_outputs)
    tokens = {"tokens": (1, IMAGE_TOKENS, CONTEXT_DIM)}
    export_graph(ImageTokensGraph(model), (start,), out / "image_tokens.onnx", ["image"], tokens, ["image", "tokens"])
    embedding = {"embedding": (1, TEXT_TOKENS, CONTEXT_DIM)}
    export_graph(TextEncoderGraph(model), (tokenize(""),), out / "text_encoder.onnx", ["tokens"], embedding)
    (out / "tokenizer.json").write_text(json.dumps(tokenizer_json(), ensure_ascii=False) + "\n")
    token_cases = [{"text": x, "ids": tokenize(x)[0].tolist(), "cut": len(text_ids(x)) + 2 > TEXT_TOKENS} for x in TOKEN_TEXTS]
    assert all(c["ids"][-1] == EOT for c in token_cases if c["cut"])
    (out / "parity" / "tokens.json").write_text(json.dumps(token_cases, indent=1, ensure_ascii=False) + "\n")
    lap("export vae_encoder, image_tokens, text_encoder", t)
    t = time.perf_counter()
    latent = torch.zeros(1, LATENT_CHANNELS, FRAMES, h, w)
    frames = {"frames": (1, 3, FRAMES, HEIGHT, WIDTH)}
    export_graph(DecoderGraph(model), (latent, *hidden), out / "decoder.onnx", ["latent", *refs], frames)
    lap("export decoder", t)
    t = time.perf_counter()
    feeds = unet_feeds(2)
    v = {"v": (2, LATENT_CHANNELS, FRAMES, h, w)}
    export_graph(
        DenoiserGraph(model.model), tuple(feeds.values()), out / "unet.onnx", UNET_INPUTS, v, UNET_INPUTS + ["v"]
    )
    lap("export unet", t)
    lora_model = None
    if "lora" in variants:
        t = time.perf_counter()
        lora_model = build_model(checkout)
        add_lora(lora_model.model.diffusion_model)
        export_graph(
            LiveLoraScale(DenoiserGraph(lora_model.model)),
            (*feeds.values(), torch.tensor([1.0])),
            out / "unet_lora.onnx",
            UNET_INPUTS + ["lora_scale"],
            v,
            UNET_INPUTS + ["v"],
        )
        lap("export unet_lora", t)
    if "fp16" in variants:
        t = time.perf_counter()
        onnx.save(convert_to_fp16(onnx.load(str(out / "unet.onnx"))), str(out / "unet_fp16.onnx"))
        lap("convert unet_fp16", t)

    t = time.perf_counter()
    with torch.no_grad():
        cond = conditioning(model, start, end)
    parity_settings = {k: v for k, v in PARITY.items() if k != "etas"}
    timesteps = None
    for eta in PARITY["etas"]:
        ref = reference_sample(model, checkout, cond, eta)
        timesteps = ref.pop("timesteps")
        np.savez(out / "parity" / f"eta{eta:g}.npz", **ref)
    with torch.no_grad():
        tokens = cond["cond"]["c_crossattn"][0][:, TEXT_TOKENS:].numpy()
        blank = cond["uc"]["c_crossattn"][0][:, TEXT_TOKENS:].numpy()
        latents = VaeEncoderGraph(model)(pair)[0].numpy()
    np.savez(
        out / "parity" / "conditioning.npz",
        latents=latents,
        condition=cond["cond"]["c_concat"][0].numpy(),
        image_tokens=tokens,
        blank_image_tokens=blank,
        text=cond["cond"]["c_crossattn"][0][:, :TEXT_TOKENS].numpy(),
    )
    settings = {
        **parity_settings,
        "etas": PARITY["etas"],
        "timesteps": [int(x) for x in timesteps],
        "timestepSpacing": "uniform_trailing",
        "frameSize": [WIDTH, HEIGHT],
        "keyframes": ["start.png", "end.png"],
        "noise": "x_T = frameNoise(seed, 0, n) in C order; "
        "step s (0-based): frameNoise((seed + imul(0x9e3779b1, s+1)) >>> 0, 0, n)",
        "keyframeLatents": "posterior mean (get_first_stage_encoding with zero noise)",
        "decode": "decode_first_stage(samples, ref_context=hs) once (no middle-frame re-decode)",
        "files": {
            "eta<e>.npz": "x_T [1,4,16,8,16], samples [1,4,16,8,16] (scaled), frames [1,3,16,64,128] "
            "(valueRange [-1,1], not clamped: random weights go past it)",
            "conditioning.npz": "latents [2,4,8,16] unscaled, condition [1,4,16,8,16] scaled, image_tokens / "
            "blank_image_tokens [1,256,64], text [1,77,64]",
        },
    }
    (out / "parity" / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    lap("parity (ToonCrafter's DDIMSampler, 2 runs)", t)

    manifest = write_manifest(out, model, tuple(variants))
    report = {}
    if check:
        t = time.perf_counter()
        report = graph_checks(out, model, lora_model)
        lap("checks (onnxruntime-node)", t)
        for k, v in report.items():
            log(f"  {k:45s} max |diff| = {v:.3g}")
    timings["total"] = round(time.perf_counter() - t0, 1)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "build.json")
    info = {
        "fingerprint": fingerprint(checkout, tuple(variants)),
        "variants": list(variants),
        "timingsSeconds": timings,
        "checks": report,
        "sizesBytes": {p.relative_to(out).as_posix(): p.stat().st_size for p in files},
        "files": {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in files},
        "manifestId": manifest["id"],
    }
    (out / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--checkout", default=str(DEFAULT_CHECKOUT), help="a ToonCrafter checkout (its lvdm/ is imported)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: base (always), lora, fp16")
    ap.add_argument("--no-check", action="store_true", help="skip the onnxruntime-node checks")
    ap.add_argument("--force", action="store_true", help="rebuild even when build.json says the pack is up to date")
    ap.add_argument(
        "--skip-without-checkout",
        action="store_true",
        help="exit 0 with a message when the checkout is missing (npm test on a machine without ../shared)",
    )
    args = ap.parse_args(argv)
    if not (Path(args.checkout) / "lvdm").is_dir():
        print(
            f"ToonCrafter's code is not at {args.checkout}: clone https://github.com/ToonCrafter/ToonCrafter "
            "(Apache-2.0) and pass --checkout DIR. The tiny ToonCrafter pack is not built"
            + (", so its tests skip." if args.skip_without_checkout else "."),
            file=sys.stderr,
        )
        return 0 if args.skip_without_checkout else 2
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}")
    out = Path(args.out)
    if not args.force and pack_is_fresh(out, Path(args.checkout).resolve(), variants):
        print(f"{out} is up to date (build.json); --force rebuilds")
        return 0
    print(f"building {out} from {args.checkout}")
    info = build(out, args.checkout, variants, check=not args.no_check)
    total = sum(info["sizesBytes"].values())
    print(f"wrote {out}: {len(info['files'])} files, {total / 1e6:.1f} MB in {info['timingsSeconds']['total']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
