"""Tiny stand-ins for ToonCrafter's OpenCLIP encoders (lvdm/modules/encoders/condition.py), with the real
classes' constructor and call signatures, seeded random weights and our own code (issue 18).

ToonCrafter's FrozenOpenCLIPEmbedder and FrozenOpenCLIPImageEmbedderV2 download ViT-H-14 weights through
open_clip (and resize with kornia) when they are built, which cannot happen here; the tiny pack needs
encoders of the same shape of call, not those weights. A config's `cond_stage_config` /
`img_cond_stage_config` target names these classes instead (build_pack.tiny_config):

    TinyOpenCLIPEmbedder           texts (list of str) -> [b, 77, width]          like FrozenOpenCLIPEmbedder
    TinyOpenCLIPImageEmbedderV2    image [b, 3, H, W] in [-1, 1] -> [b, 1 + g², width]   like ...ImageEmbedderV2

What they keep from the real ones: the 77-token context, CLIP's start/end tokens and zero padding,
learned positional embeddings, pre-LayerNorm residual attention blocks (causal for text), the text
encoder's `layer` ("last" / "penultimate": skip the last block), the final LayerNorm of the text
encoder; for images, the [-1, 1] -> [0, 1] -> CLIP mean/std normalisation, a bias-free patchify
convolution, the class token first, ln_pre, and tokens returned before ln_post (V2 returns the whole
sequence, which ToonCrafter's Resampler consumes).
What differs: the tokeniser is UTF-8 bytes (byte b -> token b + 1; start 257, end 258, pad 0), not
CLIP's BPE, though like CLIP's it reads its special tokens' names in the text as those tokens
(`tokenizer_json` writes the same tokeniser as a Hugging Face tokenizer.json, which the studio
reads); the image is resized with bilinear interpolation (align_corners=True, no antialiasing; the
real one uses kornia's antialiased bicubic) to a small square, not 224×224; and every size is
tiny. Weights come from `seed` alone (torch.random.fork_rng), whatever was built before.
"""
from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F

CONTEXT_LENGTH = 77  # CLIP's context; ToonCrafter's UNet hard-codes 77 text tokens
PAD, SOT, EOT = 0, 257, 258  # byte b is token b + 1
SPECIAL = {"<start_of_text>": SOT, "<end_of_text>": EOT}  # CLIP's names; matched in the text as CLIP does
VOCAB = 259
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def text_ids(text: str) -> list[int]:
    """The ids of one text without start, end or padding: each special token's name is its id, every
    other UTF-8 byte b is b + 1."""
    ids: list[int] = []
    pattern = "(" + "|".join(re.escape(k) for k in SPECIAL) + ")"
    for part in re.split(pattern, text):
        if part in SPECIAL:
            ids.append(SPECIAL[part])
        else:
            ids.extend(b + 1 for b in part.encode("utf-8"))
    return ids


def tokenize(texts: str | list[str], context_length: int = CONTEXT_LENGTH) -> torch.Tensor:
    """[b, 77] int64: start token, the text's ids, end token, zeros; a text too long is cut and ends
    with the end token (as open_clip.tokenize does)."""
    if isinstance(texts, str):
        texts = [texts]
    out = torch.zeros(len(texts), context_length, dtype=torch.long)
    for i, text in enumerate(texts):
        ids = [SOT] + text_ids(text) + [EOT]
        if len(ids) > context_length:
            ids = ids[:context_length]
            ids[-1] = EOT
        out[i, : len(ids)] = torch.tensor(ids)
    return out


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> printable character map, which a ByteLevel pre-tokeniser applies."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def tokenizer_json() -> dict:
    """`tokenize` without its padding as a Hugging Face tokenizer.json: a byte-level BPE with no
    merges (byte b's character is token b + 1), the special tokens as added tokens, and a template
    that puts start and end around the text. The studio pads and truncates (manifest `text`)."""
    b2u = _bytes_to_unicode()
    vocab = {b2u[b]: b + 1 for b in range(256)} | SPECIAL

    def added(content: str) -> dict:
        flags = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
        return {"id": SPECIAL[content], "content": content, **flags}

    def special(name: str) -> dict:
        return {"SpecialToken": {"id": name, "type_id": 0}}

    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    seq = [{"Sequence": {"id": "A", "type_id": 0}}]
    seq_b = {"Sequence": {"id": "B", "type_id": 0}}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(k) for k in SPECIAL],
        "normalizer": None,
        "pre_tokenizer": byte_level,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [special("<start_of_text>"), *seq, special("<end_of_text>")],
            "pair": [special("<start_of_text>"), *seq, seq_b, special("<end_of_text>")],
            "special_tokens": {k: {"id": k, "ids": [v], "tokens": [k]} for k, v in SPECIAL.items()},
        },
        "decoder": byte_level,
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": None,
            "continuing_subword_prefix": None,
            "end_of_word_suffix": None,
            "fuse_unk": False,
            "byte_fallback": False,
            "ignore_merges": False,
            "vocab": vocab,
            "merges": [],
        },
    }


class Attention(nn.Module):
    """Multi-head self-attention: MatMul / Softmax / MatMul (exports to any opset)."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        sim = torch.matmul(q, k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        if mask is not None:
            sim = sim + mask
        out = torch.matmul(torch.softmax(sim, dim=-1), v)
        return self.out(out.transpose(1, 2).reshape(b, n, c))


class ResidualBlock(nn.Module):
    """CLIP's ResidualAttentionBlock: x + attn(ln_1 x), then x + mlp(ln_2 x) with a 4× GELU MLP."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.ln_1, self.ln_2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.attn = Attention(width, heads)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))


class TinyOpenCLIPEmbedder(nn.Module):
    """FrozenOpenCLIPEmbedder's interface: forward(texts) / encode(texts) -> [b, 77, width], the
    output of the transformer up to `layer` ("last", or "penultimate" as ToonCrafter's config asks)
    then ln_final, with CLIP's causal mask."""

    LAYERS = ["last", "penultimate"]

    def __init__(
        self,
        arch: str = "tiny",
        version: str | None = None,
        device: str = "cpu",
        max_length: int = CONTEXT_LENGTH,
        freeze: bool = True,
        layer: str = "last",
        width: int = 64,
        heads: int = 4,
        layers: int = 2,
        seed: int = 11,
    ):
        super().__init__()
        assert layer in self.LAYERS
        self.device, self.max_length, self.layer = device, max_length, layer
        self.layer_idx = 0 if layer == "last" else 1
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.token_embedding = nn.Embedding(VOCAB, width)
            self.positional_embedding = nn.Parameter(torch.randn(max_length, width) * 0.01)
            self.resblocks = nn.ModuleList(ResidualBlock(width, heads) for _ in range(layers))
            self.ln_final = nn.LayerNorm(width)
        self.register_buffer("attn_mask", torch.full((max_length, max_length), float("-inf")).triu(1), persistent=False)
        if freeze:
            self.eval()
            for p in self.parameters():
                p.requires_grad = False

    def forward(self, text: str | list[str]) -> torch.Tensor:
        return self.encode_with_transformer(tokenize(text, self.max_length).to(self.attn_mask.device))

    def encode_with_transformer(self, tokens: torch.Tensor) -> torch.Tensor:
        """[b, 77] token ids -> [b, 77, width]: what the real class runs after open_clip.tokenize."""
        x = self.token_embedding(tokens) + self.positional_embedding
        for block in self.resblocks[: len(self.resblocks) - self.layer_idx]:
            x = block(x, self.attn_mask)
        return self.ln_final(x)

    def encode(self, text: str | list[str]) -> torch.Tensor:
        return self(text)


class TinyOpenCLIPImageEmbedderV2(nn.Module):
    """FrozenOpenCLIPImageEmbedderV2's interface: forward(image [b, 3, H, W] in [-1, 1]) ->
    [b, 1 + (image_size/patch)², width], the vision transformer's tokens (class token first) before
    ln_post. Preprocessing: bilinear resize to image_size² (align_corners=True), (x + 1)/2, CLIP's
    mean/std."""

    def __init__(
        self,
        arch: str = "tiny",
        version: str | None = None,
        device: str = "cpu",
        freeze: bool = True,
        layer: str = "pooled",
        antialias: bool = True,
        image_size: int = 32,
        patch: int = 8,
        width: int = 48,
        heads: int = 4,
        layers: int = 2,
        seed: int = 12,
    ):
        super().__init__()
        if layer == "penultimate":
            raise NotImplementedError()  # as the real class
        self.device, self.layer, self.antialias = device, layer, antialias
        self.image_size, self.patch = image_size, patch
        grid = image_size // patch
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.conv1 = nn.Conv2d(3, width, patch, stride=patch, bias=False)
            self.class_embedding = nn.Parameter(torch.randn(width) * width**-0.5)
            self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, width) * width**-0.5)
            self.ln_pre = nn.LayerNorm(width)
            self.resblocks = nn.ModuleList(ResidualBlock(width, heads) for _ in range(layers))
        self.register_buffer("mean", torch.tensor(CLIP_MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(CLIP_STD), persistent=False)
        if freeze:
            self.eval()
            for p in self.parameters():
                p.requires_grad = False

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, (self.image_size, self.image_size), mode="bilinear", align_corners=True)
        x = (x + 1.0) / 2.0
        return (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]

    def forward(self, image: torch.Tensor, no_dropout: bool = False) -> torch.Tensor:
        x = self.conv1(self.preprocess(image))  # [b, width, grid, grid]
        x = x.flatten(2).transpose(1, 2)  # [b, grid², width]
        cls = self.class_embedding.to(x.dtype) + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        x = self.ln_pre(x)
        for block in self.resblocks:
            x = block(x)
        return x

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        return self(image)
