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
import tempfile
import time
import types
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, external_data_helper, helper, numpy_helper
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


@dataclass(frozen=True)
class PackDims:
    """The sizes a pack's graphs and manifest take, read from a model config (`dims_of`)."""

    width: int
    height: int
    frames: int
    latent_channels: int
    downsample: int
    scale_factor: float
    context_dim: int
    text_tokens: int
    image_tokens: int
    fs_default: int
    linear_start: float
    linear_end: float
    rescale_zero_snr: bool
    prediction: str
    dynamic_rescale: float | None


def dims_of(config: dict) -> PackDims:
    """PackDims of a LatentVisualDiffusion config (`target` + `params`, as in configs/*.yaml's `model`):
    pixels = image_size × 2^(levels − 1) of the autoencoder, T = the UNet's temporal_length, image tokens
    = the Resampler's num_queries × video_length, text tokens = the text embedder's max_length (77)."""
    p = config["params"]
    u = p["unet_config"]["params"]
    down = 2 ** (len(p["first_stage_config"]["params"]["ddconfig"]["ch_mult"]) - 1)
    h, w = p["image_size"]
    r = p["image_proj_stage_config"]["params"]
    return PackDims(
        width=w * down,
        height=h * down,
        frames=u["temporal_length"],
        latent_channels=p["channels"],
        downsample=down,
        scale_factor=p["scale_factor"],
        context_dim=u["context_dim"],
        text_tokens=p["cond_stage_config"].get("params", {}).get("max_length", TEXT_TOKENS),
        image_tokens=r["num_queries"] * r["video_length"],
        fs_default=u.get("default_fs", 24),
        linear_start=p["linear_start"],
        linear_end=p["linear_end"],
        rescale_zero_snr=bool(p.get("rescale_betas_zero_snr", False)),
        prediction={"v": "v_prediction", "eps": "epsilon"}[p.get("parameterization", "eps")],
        dynamic_rescale=p.get("base_scale", 0.7) if p.get("use_dynamic_rescale", False) else None,
    )


TINY = dims_of(tiny_config())


def load_config(path: str | Path) -> AttrDict:
    """A ToonCrafter config file's `model` (target + params) as an AttrDict, with the UNet's gradient
    checkpointing off (its custom autograd function does not trace; inference never needs it)."""
    import yaml

    config = _attrs(yaml.safe_load(Path(path).read_text())["model"])
    config["params"]["unet_config"]["params"]["use_checkpoint"] = False
    return config


def load_checkpoint(model: nn.Module, ckpt: str | Path) -> None:
    """Loads a ToonCrafter checkpoint as scripts/evaluation/funcs.py load_model_checkpoint does: the
    Lightning `state_dict` (with 256×256 models' framestride_embed renamed fps_embedding) or a DeepSpeed
    `module` dict (keys without their 16-character prefix); strict, so a checkpoint of another
    configuration fails here, naming the keys."""
    sd = torch.load(str(ckpt), map_location="cpu")
    if "state_dict" in sd:
        sd = {k.replace("framestride_embed", "fps_embedding"): v for k, v in sd["state_dict"].items()}
    elif "module" in sd:
        sd = {k[16:]: v for k, v in sd["module"].items()}
    model.load_state_dict(sd, strict=True)


def build_model_from(config: dict, ckpt: str | Path, checkout: str | Path = DEFAULT_CHECKOUT):
    """The model a config describes (its own embedders: OpenCLIP for ToonCrafter's configs, which needs
    open_clip and its ViT-H-14 weights) with the checkpoint's weights, in eval mode."""
    with tooncrafter_imports(checkout), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from utils.utils import instantiate_from_config

        with contextlib.redirect_stdout(None):
            model = instantiate_from_config(config)
    load_checkpoint(model, ckpt)
    return model.eval()


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


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """A .safetensors file (8-byte little-endian header length, a JSON header of name -> dtype, shape,
    data_offsets, then the raw little-endian data), read without the safetensors package, which
    Debian lacks. F32, F16 and BF16 tensors."""
    raw = Path(path).read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    data = memoryview(raw)[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        chunk = data[begin:end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(chunk, "<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            array = np.frombuffer(chunk, {"F32": "<f4", "F16": "<f2"}[info["dtype"]])
        out[name] = torch.from_numpy(array.astype(np.float32).reshape(info["shape"]))
    return out


def load_lora(unet: nn.Module, path: str | Path) -> int:
    """Loads trained LoRA weights into the LoRALinear layers `add_lora` made in `unet` (the
    diffusion_model). The file is a state dict — torch.save'd (.pt, .bin, .ckpt; a dict under
    "state_dict" too) or .safetensors, as peft's save_pretrained writes adapter_model.safetensors — whose
    keys end in `<layer>.lora_A.weight` / `<layer>.lora_B.weight`, <layer> being the layer's path in the
    UNet (input_blocks.1.1.transformer_blocks.0.attn2.to_q); any prefix (peft's base_model.model.,
    model.diffusion_model.) and peft's adapter name (.default) are ignored. Every adapted layer must be
    found, with A's and B's shapes; returns how many tensors were loaded."""
    path = Path(path)
    if path.suffix == ".safetensors":
        sd = read_safetensors(path)
    else:
        sd = torch.load(str(path), map_location="cpu")
        sd = sd.get("state_dict", sd)
    weights = {k.replace(".default.", "."): v for k, v in sd.items() if ".lora_A." in k or ".lora_B." in k}
    loaded, missing = 0, []
    for name, module in unet.named_modules():
        if not isinstance(module, LoRALinear):
            continue
        for part in ("lora_A", "lora_B"):
            suffix = f"{name}.{part}.weight"
            found = [k for k in weights if k == suffix or k.endswith("." + suffix)]
            if len(found) != 1:
                missing.append(suffix if not found else f"{suffix} (ambiguous: {found[:2]})")
                continue
            target = getattr(module, part).weight
            value = weights[found[0]]
            if tuple(value.shape) != tuple(target.shape):
                raise ValueError(
                    f"{path.name}: {found[0]} is {list(value.shape)}, the layer takes {list(target.shape)}"
                )
            with torch.no_grad():
                target.copy_(value)
            loaded += 1
    if missing:
        raise ValueError(f"{path.name} has no LoRA weights for {len(missing)} layers, e.g. {missing[:3]}")
    return loaded


def lora_config(path: str | Path) -> tuple[int, float]:
    """(rank, alpha) of a LoRA file: peft's adapter_config.json beside it ("r", "lora_alpha") where there
    is one, else the research's rank 16, α 16."""
    config = Path(path).with_name("adapter_config.json")
    if config.is_file():
        c = json.loads(config.read_text())
        return int(c["r"]), float(c["lora_alpha"])
    return LORA_RANK, LORA_ALPHA


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


# Graphs whose weights pass this many bytes are written with ONNX external data (protobuf's limit is 2 GiB).
EXTERNAL_DATA_BYTES = 1_800_000_000


def weight_bytes(proto: onnx.ModelProto) -> int:
    return sum(len(t.raw_data) or numpy_helper.to_array(t).nbytes for t in proto.graph.initializer)


# The most weight bytes one external-data file holds. The studio takes files of up to 4 GiB − 64 KiB
# and up to 64 per graph (a 32-bit length in the browser); ToonCrafter's fp32 UNet is 5.8 GB.
EXTERNAL_CHUNK_BYTES = 2 << 30


def external_data_files(path: Path) -> list[Path]:
    """The external-data files beside the graph at `path`, in order: `<name>.data`, `<name>.data.1`, …"""
    first = path.with_name(path.name + ".data")
    rest = sorted(
        (p for p in path.parent.glob(path.name + ".data.*") if p.suffix[1:].isdigit()),
        key=lambda p: int(p.suffix[1:]),
    )
    return ([first] if first.is_file() else []) + rest


def save_onnx(
    proto: onnx.ModelProto, path: Path, external: bool | None = None, chunk_bytes: int = EXTERNAL_CHUNK_BYTES
) -> Path:
    """Saves and checks `proto`; with `external` (None: when its weights pass EXTERNAL_DATA_BYTES) every
    tensor of 1 KiB or more goes to files beside it, `<name>.data` then `<name>.data.1`, … of at most
    `chunk_bytes` each (a tensor bigger than that alone in its file), which the manifest lists as the
    graph's externalData, in that order."""
    for stale in external_data_files(path):
        stale.unlink()
    if external is None:
        external = weight_bytes(proto) > EXTERNAL_DATA_BYTES
    if external:
        data = path.name + ".data"
        external_data_helper.convert_model_to_external_data(
            proto, all_tensors_to_one_file=True, location=data, size_threshold=1024
        )
        chunk, used = 0, 0
        for tensor in external_data_helper._get_all_tensors(proto):
            if not external_data_helper.uses_external_data(tensor):
                continue
            size = len(tensor.raw_data)
            if used and used + size > chunk_bytes:
                chunk, used = chunk + 1, 0
            external_data_helper.set_external_data(tensor, data if chunk == 0 else f"{data}.{chunk}")
            used += size
        onnx.save_model(proto, str(path))
        onnx.checker.check_model(str(path))
    else:
        onnx.checker.check_model(proto)
        onnx.save(proto, str(path))
    return path


def export_graph(
    module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: dict, batch=(), external: bool | None = None
) -> Path:
    """torch.onnx.export at opset 17 with the einops stand-in's static sizes (standins.static_sizes) and
    repeat_interleave as expand + reshape (standins.plain_repeat_interleave, no ONNX Loop): only the axes
    named in `batch` (axis 0) are dynamic. `outputs`: name -> shape, written into the graph's output
    types (the exporter leaves symbolic names such as "Reshapev_dim_1" behind Reshape). Exported in a
    temporary folder (torch writes a model over 2 GiB as one file per tensor) and saved by `save_onnx`:
    checked by onnx.checker, external data where large, stable producer."""
    axes = {n: {0: "batch"} for n in batch} or None
    with tempfile.TemporaryDirectory(prefix="tc-export-") as tmp:
        raw = Path(tmp) / path.name
        with torch.no_grad(), static_sizes(), plain_repeat_interleave(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TracerWarning for int(size); autocast("cuda") without CUDA
            torch.onnx.export(
                module.eval(),
                args,
                str(raw),
                input_names=inputs,
                output_names=list(outputs),
                dynamic_axes=axes,
                opset_version=OPSET,
                do_constant_folding=True,
            )
        proto = compact_zero_constants(onnx.load(str(raw)))
    for out in proto.graph.output:
        dims = out.type.tensor_type.shape.dim
        for i, (dim, size) in enumerate(zip(dims, outputs[out.name])):
            if i == 0 and out.name in batch:
                dim.dim_param = "batch"
            else:
                dim.dim_value = int(size)
    proto.producer_name, proto.producer_version = "inbetween-studio tooncrafter/build_pack.py", ""
    return save_onnx(proto, path, external)


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


def latent_shape(d: PackDims, batch: int = 1) -> tuple[int, ...]:
    return (batch, d.latent_channels, d.frames, d.height // d.downsample, d.width // d.downsample)


def unet_feeds(batch: int = 2, seed: int = 1, d: PackDims = TINY) -> dict[str, torch.Tensor]:
    """Random denoiser inputs of the clip's shapes (timesteps 999, 500, 250…; fs 24)."""
    g = torch.Generator().manual_seed(seed)
    shape = latent_shape(d, batch)
    cond = torch.zeros(shape)
    keys = torch.randn(shape, generator=g)
    cond[:, :, 0], cond[:, :, -1] = keys[:, :, 0], keys[:, :, -1]
    return {
        "sample": torch.randn(shape, generator=g),
        "timestep": torch.tensor(([999.0, 500.0] + [250.0] * batch)[:batch]),
        "condition": cond,
        "text": torch.randn(batch, d.text_tokens, d.context_dim, generator=g),
        "image_tokens": torch.randn(batch, d.image_tokens, d.context_dim, generator=g),
        "fs": torch.full((batch,), 24.0),
    }


# ---- keyframes, constants, files -------------------------------------------------------------------


def draw_keyframes(d: PackDims = TINY) -> tuple[np.ndarray, np.ndarray]:
    """Two 128×64 RGB uint8 keyframes: a ball and a box on a light ground, moved and recoloured between;
    resized (nearest) to another pack's size."""
    yy, xx = np.mgrid[0:64, 0:128]

    def frame(ball_x, ball_y, box_x, box_color):
        img = np.empty((64, 128, 3), np.uint8)
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
        if (d.width, d.height) != (128, 64):
            from PIL import Image

            img = np.asarray(Image.fromarray(img).resize((d.width, d.height), Image.NEAREST))
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
    """The manifest's file entry; a graph saved with external data lists its data files too, in order."""
    data = path.read_bytes()
    ref = {
        "file": path.relative_to(root).as_posix(),
        "sizeBytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    external = external_data_files(path) if path.suffix == ".onnx" else []
    if external:
        ref["externalData"] = [file_ref(p, root) for p in external]
    return ref


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


def conditioning(model, start: torch.Tensor, end: torch.Tensor, d: PackDims = TINY) -> dict:
    """scripts/evaluation/inference.py image_guided_synthesis with interp=True and no text input, for one
    sample: the keyframe video (start ×T/2, end ×T/2), img_emb of the START frame, c_crossattn = cat(
    prompt_emb(""), img_emb), c_concat = the scaled keyframe latents at frames 0 and T−1 and zeros
    between, uc = cat(emb(""), image tokens of zeros_like(img)) with the same c_concat, and the decoder's
    reference states. The latents are get_first_stage_encoding(posterior, noise=zeros) — the scaled
    posterior MEAN — where ToonCrafter draws a posterior sample (its noise is not the studio's)."""
    videos = torch.cat(
        [
            start[:, :, None].expand(-1, -1, d.frames // 2, -1, -1),
            end[:, :, None].expand(-1, -1, d.frames // 2, -1, -1),
        ],
        2,
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


def reference_sample(
    model, checkout: Path, cond: dict, eta: float, settings: dict = PARITY, d: PackDims = TINY
) -> dict[str, np.ndarray]:
    """ToonCrafter's DDIMSampler.sample as image_guided_synthesis calls it (S steps, uniform_trailing,
    guidance and guidance_rescale, fs), x_T and the eta noise from the studio's RNG, on CPU (the
    sampler's register_buffer moves tensors to CUDA: replaced on this instance by a plain setattr);
    then decode_first_stage(samples, ref_context=hs) once — not funcs.py's / inference.py's second
    decode of 14 frames spliced into the middle."""
    with tooncrafter_imports(checkout):
        import lvdm.models.samplers.ddim as ddim_module
    seed = settings["seed"]
    shape = latent_shape(d)
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


def graph_checks(out: Path, model, lora_model=None, batch: int = 2, d: PackDims = TINY) -> dict[str, float]:
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
        if (out / "text_encoder.onnx").is_file():
            tokens = torch.randint(1, 256, (1, d.text_tokens))
            ref = TextEncoderGraph(model)(tokens).numpy()
            got = run_onnx(out / "text_encoder.onnx", {"tokens": tokens.numpy()})["embedding"]
            report["text_encoder"] = max_diff(got, ref)
        feeds = unet_feeds(batch, d=d)
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
        latent = torch.from_numpy(frame_noise(3, 0, int(np.prod(latent_shape(d))))).reshape(latent_shape(d))
        refs = list(enc[1:])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = DecoderGraph(model)(latent, *refs).numpy()
        dec_feeds = {"latent": latent.numpy(), **{n: r.numpy() for n, r in zip(ref_names(model), refs)}}
        report["decoder"] = max_diff(run_onnx(out / "decoder.onnx", dec_feeds)["frames"], ref)
    return report


# ---- manifest ----------------------------------------------------------------------------------------


TINY_META = {
    "id": "tooncrafter-tiny",
    "name": "ToonCrafter architecture (tiny, untrained)",
    "label": "Tiny ToonCrafter",
    "trained": False,
    "license": "Apache-2.0 (graphs traced from ToonCrafter's code, Apache-2.0; weights are seeded random numbers)",
}


def pack_meta(d: PackDims, ckpt: Path | None, pack_id: str | None, name: str | None) -> dict:
    """The manifest's id, name, labels, description and licence: the tiny pack's, or a checkpoint's."""
    if ckpt is None:
        return {
            **TINY_META,
            "description": (
                "ToonCrafter's own UNet, dual-reference VAE and image resampler (configs/inference_512_v1.0.yaml, tiny "
                "sizes) with random weights and small stand-ins for its OpenCLIP encoders, "
                f"{d.width}×{d.height} pixels, "
                f"{d.frames}-frame clips. For testing the format-2 pipeline; built by "
                "models/training/tooncrafter/build_pack.py, with parity/ holding ToonCrafter's own sampler's output."
            ),
        }
    return {
        "id": pack_id or "tooncrafter",
        "name": name or f"ToonCrafter ({Path(ckpt).name})",
        "label": "ToonCrafter",
        "trained": True,
        "license": "ToonCrafter's code is Apache-2.0; the weights are under their checkpoint's own licence",
        "description": (
            f"Exported by models/training/tooncrafter/build_pack.py from {Path(ckpt).name}: "
            f"{d.width}×{d.height} pixels, "
            f"{d.frames}-frame clips, ToonCrafter's UNet, dual-reference VAE, image embedder with resampler and text "
            "embedder."
        ),
    }


def write_manifest(out: Path, model, variants: tuple[str, ...], d: PackDims = TINY, meta: dict | None = None) -> dict:
    meta = meta or pack_meta(d, None, None, None)
    refs = ref_names(model)
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
        g = {**file_ref(out / files[v], out), **json.loads(json.dumps(denoiser))}
        if v == "lora":
            g["inputs"]["loraScale"] = "lora_scale"
        denoisers[v] = g
    label = meta["label"]
    labels = {
        "base": {"id": "base", "label": f"{label} (fp32)", "precision": "fp32", "denoiser": "base"},
        "lora": {
            "id": "lora",
            "label": f"{label} + LoRA",
            "description": meta.get(
                "lora", "A random rank-16 LoRA on the spatial cross-attention (attn2 q/k/v/out), live scale."
            ),
            "precision": "fp32",
            "denoiser": "lora",
            "loraScale": {"default": 1, "min": 0, "max": 2},
        },
        "fp16": {"id": "fp16", "label": f"{label} (fp16)", "precision": "fp16", "denoiser": "fp16"},
    }
    image_tokens = file_ref(out / "image_tokens.onnx", out)
    stages = {
        "vae": {
            **file_ref(out / "vae_encoder.onnx", out),
            "inputs": {"images": "keyframes:pair"},
            "outputs": ["latents", *refs],
        },
        "imageTokens": {**image_tokens, "inputs": {"image": "keyframes:start"}, "outputs": ["tokens"]},
        "blankImageTokens": {**image_tokens, "inputs": {"image": "keyframes:blank"}, "outputs": ["tokens"]},
    }
    text = None
    if (out / "tokenizer.json").is_file():
        stages = {
            "text": {
                **file_ref(out / "text_encoder.onnx", out),
                "inputs": {"tokens": "text"},
                "outputs": ["embedding"],
            },
            **stages,
        }
        text = {
            "tokenizer": file_ref(out / "tokenizer.json", out),
            "contextLength": d.text_tokens,
            "padId": PAD,
            "embedding": "stage:text/embedding",
        }
    scheduler = {
        "type": "ddim",
        "trainTimesteps": 1000,
        "betaSchedule": "scaled_linear",  # make_beta_schedule("linear"): linspace of √β, squared
        "betaStart": d.linear_start,
        "betaEnd": d.linear_end,
        "predictionType": d.prediction,
        "timestepSpacing": "trailing",  # uniform_trailing
        "stepsOffset": 0,
        "rescaleZeroTerminalSnr": d.rescale_zero_snr,
        "setAlphaToOne": False,  # the last step's ᾱ_prev is alphas_cumprod[0]
        "defaultSteps": DEFAULT_STEPS,
        "eta": 1,
        "previousTimestep": "plan",
    }
    if d.dynamic_rescale is not None:
        scheduler["dynamicRescale"] = {"baseScale": d.dynamic_rescale, "turningStep": 400}
    manifest = {
        "format": "inbetween-pack",
        "formatVersion": 2,
        "id": meta["id"],
        "name": meta["name"],
        "version": "0.1.0",
        "description": meta["description"],
        "trained": meta["trained"],
        "license": meta["license"],
        "image": {
            "defaultSize": [d.width, d.height],
            "multipleOf": 64,
            "valueRange": [-1, 1],
            "channels": 3,
            "fixedSize": True,
        },
        "latent": {"channels": d.latent_channels, "downsample": d.downsample, "scaleFactor": d.scale_factor},
        "scheduler": scheduler,
        "frames": {"mode": "clip", "clipLength": d.frames},
        "guidance": {"scale": {"default": 7.5, "min": 1, "max": 15}, "rescale": 0.7},
        "scalars": {
            "fs": {
                "label": "Frame stride (fs)",
                "description": "ToonCrafter's frame-stride conditioning (smaller: larger motion).",
                "default": d.fs_default,
                "min": 1,
                "max": 60,
                "integer": True,
            }
        },
        "constants": {
            const: {**file_ref(out / f, out), "dtype": "float32", "shape": [1, d.text_tokens, d.context_dim]}
            for _, _, _, const, f in PROMPTS
        },
        "prompts": [{"id": pid, "label": label, "constant": const} for pid, label, _, const, _ in PROMPTS],
        **({"text": text} if text else {}),
        "stages": stages,
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
    config: str | Path | None = None,
    ckpt: str | Path | None = None,
    tokenizer: str | Path | None = None,
    parity: bool | None = None,
    external: bool | None = None,
    pack_id: str | None = None,
    name: str | None = None,
    lora: str | Path | None = None,
) -> dict:
    """Writes the pack into `out` (replacing what an earlier build wrote there); returns build.json's dict.

    Without `config`: the tiny pack (tiny_config, seeded weights, the stand-ins' tokenizer.json). With
    `config` and `ckpt`: the model that config file describes with the checkpoint's weights (ToonCrafter's
    own configs/inference_512_v1.0.yaml and its model.ckpt for the real thing), its sizes read from the
    config; `tokenizer` is the text encoder's tokenizer.json (without it the pack has precomputed prompts
    only). `lora` is a trained LoRA for the lora variant (`load_lora`; without it, a seeded random one).
    `parity` (default: tiny only) runs ToonCrafter's DDIMSampler for parity/; `external` writes
    graphs with external data (default: graphs over EXTERNAL_DATA_BYTES)."""
    out, checkout = Path(out), Path(checkout).resolve()
    if "base" not in variants:
        raise ValueError("the base variant is always built (fp16 converts it; lora is checked against it)")
    if (config is None) != (ckpt is None):
        raise ValueError("give both config and ckpt, or neither (the tiny pack)")
    if parity is None:
        parity = config is None
    t0 = time.perf_counter()
    timings = {}

    def lap(name, since):
        timings[name] = round(time.perf_counter() - since, 1)
        log(f"  {name}: {timings[name]} s")

    (out / "build.json").unlink(missing_ok=True)
    for sub in ("constants", "parity"):
        shutil.rmtree(out / sub, ignore_errors=True)
    for f in GRAPH_FILES + ("tokenizer.json",):
        (out / f).unlink(missing_ok=True)
        (out / (f + ".data")).unlink(missing_ok=True)
    (out / "parity").mkdir(parents=True)

    t = time.perf_counter()
    if config is None:
        d = TINY
        model = build_model(checkout)
        make_model = lambda: build_model(checkout)  # noqa: E731
    else:
        cfg = load_config(config)
        d = dims_of(cfg)
        model = build_model_from(cfg, ckpt, checkout)
        make_model = lambda: build_model_from(load_config(config), ckpt, checkout)  # noqa: E731
    lap("build model", t)
    from PIL import Image

    start_u8, end_u8 = draw_keyframes(d)
    Image.fromarray(start_u8).save(out / "parity" / "start.png")
    Image.fromarray(end_u8).save(out / "parity" / "end.png")
    start, end = to_tensor(load_png(out / "parity" / "start.png")), to_tensor(load_png(out / "parity" / "end.png"))

    t = time.perf_counter()
    with torch.no_grad():
        for _, _, text, _, f in PROMPTS:
            save_npy(out / f, model.get_learned_conditioning([text]).numpy())
    refs = ref_names(model)
    pair = torch.cat([start, end])
    with torch.no_grad():
        latents, *hidden = VaeEncoderGraph(model)(pair)
    vae_outputs = {"latents": tuple(latents.shape), **{r: tuple(x.shape) for r, x in zip(refs, hidden)}}
    export_graph(VaeEncoderGraph(model), (pair,), out / "vae_encoder.onnx", ["images"], vae_outputs, external=external)
    tokens = {"tokens": (1, d.image_tokens, d.context_dim)}
    export_graph(
        ImageTokensGraph(model), (start,), out / "image_tokens.onnx", ["image"], tokens, ["image", "tokens"], external
    )
    if config is None:
        (out / "tokenizer.json").write_text(json.dumps(tokenizer_json(), ensure_ascii=False) + "\n")
        cases = [
            {"text": x, "ids": tokenize(x)[0].tolist(), "cut": len(text_ids(x)) + 2 > d.text_tokens}
            for x in TOKEN_TEXTS
        ]
        assert all(c["ids"][-1] == EOT for c in cases if c["cut"])
        (out / "parity" / "tokens.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    elif tokenizer is not None:
        shutil.copyfile(tokenizer, out / "tokenizer.json")
    if (out / "tokenizer.json").is_file():
        embedding = {"embedding": (1, d.text_tokens, d.context_dim)}
        ids = torch.zeros(1, d.text_tokens, dtype=torch.long)
        export_graph(
            TextEncoderGraph(model), (ids,), out / "text_encoder.onnx", ["tokens"], embedding, external=external
        )
    lap("export vae_encoder, image_tokens, text_encoder", t)
    t = time.perf_counter()
    latent = torch.zeros(latent_shape(d))
    frames = {"frames": (1, 3, d.frames, d.height, d.width)}
    export_graph(
        DecoderGraph(model), (latent, *hidden), out / "decoder.onnx", ["latent", *refs], frames, external=external
    )
    lap("export decoder", t)
    t = time.perf_counter()
    feeds = unet_feeds(2, d=d)
    v = {"v": latent_shape(d, 2)}
    export_graph(
        DenoiserGraph(model.model),
        tuple(feeds.values()),
        out / "unet.onnx",
        UNET_INPUTS,
        v,
        UNET_INPUTS + ["v"],
        external,
    )
    lap("export unet", t)
    lora_model = None
    if "lora" in variants:
        t = time.perf_counter()
        lora_model = make_model()
        if lora is None:
            add_lora(lora_model.model.diffusion_model)
        else:
            rank, alpha = lora_config(lora)
            add_lora(lora_model.model.diffusion_model, rank, alpha)
            n = load_lora(lora_model.model.diffusion_model, lora)
            log(f"  LoRA: {n} tensors from {lora} (rank {rank}, α {alpha:g})")
        export_graph(
            LiveLoraScale(DenoiserGraph(lora_model.model)),
            (*feeds.values(), torch.tensor([1.0])),
            out / "unet_lora.onnx",
            UNET_INPUTS + ["lora_scale"],
            v,
            UNET_INPUTS + ["v"],
            external,
        )
        lap("export unet_lora", t)
    if "fp16" in variants:
        t = time.perf_counter()
        half = convert_to_fp16(onnx.load(str(out / "unet.onnx")))
        save_onnx(half, out / "unet_fp16.onnx", external)
        lap("convert unet_fp16", t)

    if parity:
        t = time.perf_counter()
        write_parity(out, model, checkout, start, end, pair, d)
        lap("parity (ToonCrafter's DDIMSampler, 2 runs)", t)

    meta = pack_meta(d, ckpt and Path(ckpt), pack_id, name)
    if lora is not None:
        meta["lora"] = f"The LoRA of {Path(lora).name} on the spatial cross-attention (attn2 q/k/v/out), live scale."
    manifest = write_manifest(out, model, tuple(variants), d, meta)
    report = {}
    if check:
        t = time.perf_counter()
        report = graph_checks(out, model, lora_model, d=d)
        lap("checks (onnxruntime-node)", t)
        for k, val in report.items():
            log(f"  {k:45s} max |diff| = {val:.3g}")
    timings["total"] = round(time.perf_counter() - t0, 1)
    files = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "build.json")
    info = {
        "fingerprint": fingerprint(checkout, tuple(variants)) if config is None else None,
        "source": None if config is None else {"config": str(config), "ckpt": str(ckpt)},
        "variants": list(variants),
        "timingsSeconds": timings,
        "checks": report,
        "sizesBytes": {p.relative_to(out).as_posix(): p.stat().st_size for p in files},
        "files": {p.relative_to(out).as_posix(): sha256_file(p) for p in files},
        "manifestId": manifest["id"],
    }
    (out / "build.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


GRAPH_FILES = (
    "vae_encoder.onnx",
    "image_tokens.onnx",
    "text_encoder.onnx",
    "unet.onnx",
    "unet_lora.onnx",
    "unet_fp16.onnx",
    "decoder.onnx",
)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def write_parity(out: Path, model, checkout: Path, start, end, pair, d: PackDims) -> None:
    """parity/: ToonCrafter's DDIMSampler at each η of PARITY (eta<e>.npz), the conditioning it saw and
    settings.json, for the studio's parity tests."""
    with torch.no_grad():
        cond = conditioning(model, start, end, d)
    parity_settings = {k: v for k, v in PARITY.items() if k != "etas"}
    timesteps = None
    for eta in PARITY["etas"]:
        ref = reference_sample(model, checkout, cond, eta, d=d)
        timesteps = ref.pop("timesteps")
        np.savez(out / "parity" / f"eta{eta:g}.npz", **ref)
    with torch.no_grad():
        tokens = cond["cond"]["c_crossattn"][0][:, d.text_tokens :].numpy()
        blank = cond["uc"]["c_crossattn"][0][:, d.text_tokens :].numpy()
        latents = VaeEncoderGraph(model)(pair)[0].numpy()
    np.savez(
        out / "parity" / "conditioning.npz",
        latents=latents,
        condition=cond["cond"]["c_concat"][0].numpy(),
        image_tokens=tokens,
        blank_image_tokens=blank,
        text=cond["cond"]["c_crossattn"][0][:, : d.text_tokens].numpy(),
    )
    shape = list(latent_shape(d))
    settings = {
        **parity_settings,
        "etas": PARITY["etas"],
        "timesteps": [int(x) for x in timesteps],
        "timestepSpacing": "uniform_trailing",
        "frameSize": [d.width, d.height],
        "keyframes": ["start.png", "end.png"],
        "noise": "x_T = frameNoise(seed, 0, n) in C order; "
        "step s (0-based): frameNoise((seed + imul(0x9e3779b1, s+1)) >>> 0, 0, n)",
        "keyframeLatents": "posterior mean (get_first_stage_encoding with zero noise)",
        "decode": "decode_first_stage(samples, ref_context=hs) once (no middle-frame re-decode)",
        "files": {
            "eta<e>.npz": f"x_T {shape}, samples {shape} (scaled), frames {[1, 3, d.frames, d.height, d.width]} "
            "(valueRange [-1,1], not clamped: random weights go past it)",
            "conditioning.npz": f"latents {[2] + shape[1:2] + shape[3:]} unscaled, condition {shape} scaled, "
            f"image_tokens / blank_image_tokens {[1, d.image_tokens, d.context_dim]}, "
            f"text {[1, d.text_tokens, d.context_dim]}",
        },
    }
    (out / "parity" / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--out", default=None, help=f"the pack folder (default: {DEFAULT_OUT.relative_to(REPO)} for the tiny pack)"
    )
    ap.add_argument("--checkout", default=str(DEFAULT_CHECKOUT), help="a ToonCrafter checkout (its lvdm/ is imported)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: base (always), lora, fp16")
    ap.add_argument("--config", help="a ToonCrafter config file (configs/inference_512_v1.0.yaml): export that model")
    ap.add_argument("--ckpt", help="its checkpoint (model.ckpt), with --config")
    ap.add_argument("--tokenizer", help="the text encoder's Hugging Face tokenizer.json, with --config (typed prompts)")
    ap.add_argument("--lora", help="trained LoRA weights for the lora variant (peft-style state dict or .safetensors)")
    ap.add_argument("--id", help="the pack's id, with --config (default: tooncrafter)")
    ap.add_argument("--name", help="the pack's name, with --config")
    ap.add_argument(
        "--parity", action=argparse.BooleanOptionalAction, default=None, help="write parity/ (default: tiny only)"
    )
    ap.add_argument(
        "--external-data",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"write weights as ONNX external data (default: graphs over {EXTERNAL_DATA_BYTES / 1e9:.1f} GB)",
    )
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
            "(Apache-2.0) and pass --checkout DIR. The ToonCrafter pack is not built"
            + (", so its tests skip." if args.skip_without_checkout else "."),
            file=sys.stderr,
        )
        return 0 if args.skip_without_checkout else 2
    variants = tuple(v for v in args.variants.split(",") if v)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants {sorted(unknown)}")
    if bool(args.config) != bool(args.ckpt):
        ap.error("--config and --ckpt go together")
    if not args.config and (args.tokenizer or args.id or args.name):
        ap.error("--tokenizer, --id and --name go with --config/--ckpt (the tiny pack has its own)")
    if args.lora and "lora" not in variants:
        ap.error("--lora needs the lora variant (--variants base,lora,…)")
    for flag, path in (
        ("--config", args.config),
        ("--ckpt", args.ckpt),
        ("--tokenizer", args.tokenizer),
        ("--lora", args.lora),
    ):
        if path and not Path(path).is_file():
            ap.error(f"{flag}: {path} is not a file")
    if args.config and not args.out:
        ap.error("--out is required with --config")
    out = Path(args.out or DEFAULT_OUT)
    if (
        not args.config
        and not args.lora
        and not args.force
        and pack_is_fresh(out, Path(args.checkout).resolve(), variants)
    ):
        print(f"{out} is up to date (build.json); --force rebuilds")
        return 0
    print(f"building {out} from {args.config or 'the tiny config'} with {args.checkout}")
    if args.config and not args.tokenizer:
        print("no --tokenizer: the pack gets precomputed prompts only (no typed prompts)")
    info = build(
        out,
        args.checkout,
        variants,
        check=not args.no_check,
        config=args.config,
        ckpt=args.ckpt,
        tokenizer=args.tokenizer,
        parity=args.parity,
        external=args.external_data,
        pack_id=args.id,
        name=args.name,
        lora=args.lora,
    )
    total = sum(info["sizesBytes"].values())
    print(f"wrote {out}: {len(info['files'])} files, {total / 1e6:.1f} MB in {info['timingsSeconds']['total']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
