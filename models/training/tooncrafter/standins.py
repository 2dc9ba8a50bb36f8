"""Small stand-ins for the packages ToonCrafter's code imports and Debian does not ship, and a context
manager that imports ToonCrafter's `lvdm` from a checkout with them in place (issue 18).

ToonCrafter (Apache-2.0) is not vendored: its code stays in the researcher's checkout (here
`../shared/reference/tooncrafter`) and is imported from there, which is why `tooncrafter_imports`
puts that folder on `sys.path` — only inside the `with` block, never at module level — and why the
stand-ins go into `sys.modules` under the real packages' names: lvdm says `from einops import
rearrange`, and we cannot edit it.

    from models.training.tooncrafter.standins import tooncrafter_imports
    with tooncrafter_imports("../shared/reference/tooncrafter"):
        from lvdm.modules.networks.openaimodel3d import UNetModel

Stand-ins (installed only where the real package is missing, unless `force=True`):
    einops            rearrange / repeat for the patterns lvdm uses (named axes, groups, `()`/`1`,
                      `...`); anything else (reductions, numbered axes, a size that does not divide)
                      raises EinopsStandinError naming the pattern. Inside `static_sizes()` (ONNX
                      export) every size but the batch's is a Python int, so the tracer records
                      constants instead of Shape -> Gather arithmetic
    pytorch_lightning LightningModule (an nn.Module with `device`; training hooks raise),
                      utilities.rank_zero_only, seed_everything
    cv2               imported by ToonCrafter's utils/utils.py for image resizing only; any attribute
                      access raises
    xformers          ops.memory_efficient_attention as softmax(q kᵀ/√d) v (MatMul/Softmax/MatMul: torch
                      1.13 has no scaled_dot_product_attention), __version__ "0.0.22". The autoencoder's
                      decoder needs it (autoencoder_dualref asserts xformers on torch < 2); with it,
                      lvdm/modules/attention.py also switches the UNet's spatial attention to
                      CrossAttention.efficient_forward, as in ToonCrafter's own environment (its
                      requirements.txt installs xformers) — the same arithmetic as `forward`
    tqdm              tqdm(iterable) returns the iterable (the DDIM sampler's progress bar)
    torchvision       utils.make_grid, imported by lvdm/models/ddpm3d.py for logging; calling it raises
open_clip, kornia and transformers (the text/image encoders) are not stood in for: clip_standins.py
has small encoders of our own with the real classes' call signatures.
"""
from __future__ import annotations

import contextlib
import importlib.util
import random
import re
import sys
import types
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn


class EinopsStandinError(ValueError):
    """A pattern (or a use of one) that the einops stand-in does not implement."""


# ---- einops: rearrange / repeat ----------------------------------------------------------------

_TOKEN = re.compile(r"\(|\)|\.\.\.|[A-Za-z_][A-Za-z0-9_]*|\d+|\S")


def _parse_side(side: str, pattern: str, ellipsis_names: list[str]) -> list[list[str]]:
    """One side of a pattern as groups of elementary axis names: `b (h w) c` -> [[b], [h, w], [c]].
    `()` and a top-level `1` are groups of size one (empty); `...` expands to ellipsis_names."""
    groups: list[list[str]] = []
    current: list[str] | None = None
    for tok in _TOKEN.findall(side):
        if tok == "(":
            if current is not None:
                raise EinopsStandinError(f"nested parentheses in {pattern!r}")
            current = []
        elif tok == ")":
            if current is None:
                raise EinopsStandinError(f"unbalanced ')' in {pattern!r}")
            groups.append(current)
            current = None
        elif tok == "...":
            if current is None:
                groups.extend([n] for n in ellipsis_names)
            else:
                current.extend(ellipsis_names)
        elif tok == "1" and current is None:
            groups.append([])
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok) and current is None:
            groups.append([tok])
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", tok):
            current.append(tok)
        else:
            raise EinopsStandinError(f"einops stand-in: token {tok!r} in {pattern!r} is not implemented")
    if current is not None:
        raise EinopsStandinError(f"unbalanced '(' in {pattern!r}")
    return groups


def _parse(pattern: str, ndim: int) -> tuple[list[list[str]], list[list[str]]]:
    if pattern.count("->") != 1:
        raise EinopsStandinError(f"einops stand-in: {pattern!r} is not 'left -> right'")
    left, right = pattern.split("->")
    if "..." in left:
        named = len(_parse_side(left.replace("...", ""), pattern, []))
        ellipsis = [f"…{i}" for i in range(ndim - named)]
    else:
        ellipsis = []
    lg, rg = _parse_side(left, pattern, ellipsis), _parse_side(right, pattern, ellipsis)
    if len(lg) != ndim:
        raise EinopsStandinError(f"{pattern!r} names {len(lg)} axes, the tensor has {ndim}")
    for side in (lg, rg):
        names = [n for g in side for n in g]
        if len(names) != len(set(names)):
            raise EinopsStandinError(f"einops stand-in: an axis repeats in one side of {pattern!r}")
    return lg, rg


def _axis_sizes(x: torch.Tensor, groups: list[list[str]], sizes: dict, pattern: str) -> dict:
    """Size of every elementary axis on the left: a group's one unknown axis is the dimension divided
    by the product of its known axes. Sizes may be traced values (ONNX export) or ints."""
    out = dict(sizes)
    for dim, group in enumerate(groups):
        length = x.shape[dim]
        unknown = [n for n in group if n not in out]
        if len(unknown) > 1:
            raise EinopsStandinError(f"{pattern!r}: cannot infer {unknown} from one dimension; pass sizes")
        known = 1
        for n in group:
            if n in out:
                known = known * out[n]
        if unknown:
            if isinstance(length, int) and isinstance(known, int) and length % known:
                raise EinopsStandinError(f"{pattern!r}: dimension {dim} ({length}) is not divisible by {known}")
            out[unknown[0]] = length // known
        elif isinstance(length, int) and isinstance(known, int) and length != known:
            raise EinopsStandinError(f"{pattern!r}: dimension {dim} is {length}, the pattern says {known}")
    return out


def _group_shape(groups: list[list[str]], axis: dict) -> list:
    shape = []
    for g in groups:
        size = 1
        for n in g:
            size = size * axis[n]
        shape.append(size)
    return shape


def _split_left(x: torch.Tensor, lg: list[list[str]], axis: dict) -> tuple[torch.Tensor, list[str]]:
    """Reshapes x into its elementary axes (dropping size-one groups); skipped when nothing splits."""
    names = [n for g in lg for n in g]
    if all(len(g) == 1 for g in lg):
        return x, names
    return x.reshape([axis[n] for n in names]), names


# ---- static sizes (export) -----------------------------------------------------------------------

_STATIC_SIZES = [False]


@contextlib.contextmanager
def static_sizes(enabled: bool = True) -> Iterator[None]:
    """Inside the block, rearrange/repeat take every size except the batch's as a Python int (so the
    ONNX tracer records constants, not Shape -> Gather chains) and give the batch as -1 in Reshape.
    The batch is the first axis of the input's first dimension (`b` in `(b t) c h w`, `bhw`, `bt` in
    lvdm); a call whose output does not start with a group holding that axis falls back to traced
    sizes. A graph exported this way keeps a dynamic batch and nothing else."""
    previous = _STATIC_SIZES[0]
    _STATIC_SIZES[0] = enabled
    try:
        yield
    finally:
        _STATIC_SIZES[0] = previous


@contextlib.contextmanager
def plain_repeat_interleave() -> Iterator[None]:
    """Inside the block, Tensor.repeat_interleave(n, dim=0) — n an int or a 0-d tensor, as a traced
    size is — is unsqueeze -> expand -> reshape with every size but the batch's constant (the same
    values). lvdm's UNet repeats its context and embeddings per frame this way; torch 1.13 exports
    that call on a dynamic batch as an ONNX Loop over a tensor sequence, which onnx_fp16 cannot
    convert and ONNX Runtime runs slowly. Other uses (tensor repeats, other dims) run the real method."""
    original = torch.Tensor.repeat_interleave

    def repeat_interleave(self, repeats=None, dim=None, *, output_size=None):
        scalar = isinstance(repeats, int) or (isinstance(repeats, torch.Tensor) and repeats.dim() == 0)
        if scalar and dim == 0 and self.dim() >= 1:  # a traced size is a 0-d tensor: int() makes it constant
            rest = [int(d) for d in self.shape[1:]]
            expanded = self.unsqueeze(1).expand(-1, int(repeats), *rest)
            return expanded.reshape(-1, *rest)
        return original(self, repeats, dim, output_size=output_size)

    torch.Tensor.repeat_interleave = repeat_interleave
    try:
        yield
    finally:
        torch.Tensor.repeat_interleave = original


class _Shape:
    """Stands for a tensor in _axis_sizes: only .shape is read."""

    def __init__(self, dims: list[int]):
        self.shape = dims


def _static_plan(x: torch.Tensor, lg: list[list[str]], rg: list[list[str]], sizes: dict, pattern: str):
    """Integer size of every axis but the batch (None for it), or None where the pattern has no
    batch axis leading both sides (then the traced sizes are used)."""
    if not lg or not lg[0] or not rg or not rg[0] or lg[0][0] not in rg[0]:
        return None
    batch = lg[0][0]
    ints = {k: int(v) for k, v in sizes.items()}
    dims = [int(d) for d in x.shape]
    axis = _axis_sizes(_Shape(dims), lg, ints, pattern)
    axis[batch] = None
    return axis


def _static_rearrange(x, lg, rg, axis, new=()) -> torch.Tensor:
    """rearrange/repeat with int sizes, the batch as -1 (axis[batch] is None)."""
    batch = lg[0][0]
    names = [n for g in lg for n in g]
    if not all(len(g) == 1 for g in lg):
        x = x.reshape([-1 if n == batch else axis[n] for n in names])
    kept = [n for g in rg for n in g if n in names]
    order = [names.index(n) for n in kept]
    if order != list(range(len(order))):
        x = x.permute(order)
    rnames = [n for g in rg for n in g]
    if new:
        x = x.reshape([(-1 if n == batch else axis[n]) if n in names else 1 for n in rnames])
        x = x.expand([-1 if n == batch else axis[n] for n in rnames])
    elif all(len(g) == 1 for g in rg) and len(names) == len(lg):
        return x
    shape = []
    for g in rg:
        size = 1
        for n in g:
            size = size * (1 if n == batch else axis[n])
        shape.append(-1 if batch in g else size)
    return x.reshape(shape)


def rearrange(x: torch.Tensor, pattern: str, **sizes) -> torch.Tensor:
    """einops.rearrange for permutations, splits and merges of named axes (no reductions)."""
    lg, rg = _parse(pattern, x.dim())
    lnames, rnames = [n for g in lg for n in g], [n for g in rg for n in g]
    if set(lnames) != set(rnames):
        raise EinopsStandinError(f"rearrange {pattern!r}: axes differ between sides (use repeat)")
    plan = _static_plan(x, lg, rg, sizes, pattern) if _STATIC_SIZES[0] else None
    if plan is not None:
        return _static_rearrange(x, lg, rg, plan)
    axis = _axis_sizes(x, lg, sizes, pattern)
    x, names = _split_left(x, lg, axis)
    order = [names.index(n) for n in rnames]
    if order != list(range(len(order))):
        x = x.permute(order)
    if all(len(g) == 1 for g in rg) and len(names) == len(lg):
        return x
    return x.reshape(_group_shape(rg, axis))


def repeat(x: torch.Tensor, pattern: str, **sizes) -> torch.Tensor:
    """einops.repeat: rearrange plus new axes on the right whose sizes are given as keywords."""
    lg, rg = _parse(pattern, x.dim())
    lnames, rnames = [n for g in lg for n in g], [n for g in rg for n in g]
    if not set(lnames) <= set(rnames):
        raise EinopsStandinError(f"repeat {pattern!r}: an axis of the left side is missing on the right")
    new = [n for n in rnames if n not in lnames]
    missing = [n for n in new if n not in sizes]
    if missing:
        raise EinopsStandinError(f"repeat {pattern!r}: give the size of new axes {missing}")
    left_sizes = {k: v for k, v in sizes.items() if k in lnames}
    plan = _static_plan(x, lg, rg, left_sizes, pattern) if _STATIC_SIZES[0] else None
    if plan is not None:
        plan.update({n: int(sizes[n]) for n in new})
        return _static_rearrange(x, lg, rg, plan, new)
    axis = _axis_sizes(x, lg, left_sizes, pattern)
    axis.update({n: sizes[n] for n in new})
    x, names = _split_left(x, lg, axis)
    kept = [n for n in rnames if n in lnames]
    order = [names.index(n) for n in kept]
    if order != list(range(len(order))):
        x = x.permute(order)
    x = x.reshape([axis[n] if n in lnames else 1 for n in rnames])
    x = x.expand([axis[n] for n in rnames])
    return x.reshape(_group_shape(rg, axis))


# ---- pytorch_lightning ----------------------------------------------------------------------------


class LightningModule(nn.Module):
    """What ToonCrafter's inference uses of pytorch_lightning.LightningModule: an nn.Module with a
    `device`. Training-time hooks (log, trainer, global_step…) raise: the stand-in does not train."""

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def _training_only(self, *args, **kwargs):
        raise NotImplementedError("the pytorch_lightning stand-in supports inference only (no logging/trainer)")

    log = log_dict = _training_only

    @property
    def global_step(self) -> int:
        raise NotImplementedError("the pytorch_lightning stand-in has no trainer (global_step)")

    @property
    def current_epoch(self) -> int:
        raise NotImplementedError("the pytorch_lightning stand-in has no trainer (current_epoch)")


def rank_zero_only(fn):
    """One process here, so every rank is rank zero."""
    return fn


def seed_everything(seed: int) -> int:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed


# ---- xformers, tqdm, torchvision --------------------------------------------------------------------


def memory_efficient_attention(query, key, value, attn_bias=None, p: float = 0.0, scale=None, *, op=None):
    """xformers.ops.memory_efficient_attention as lvdm calls it: softmax(q kᵀ · scale) v with scale
    1/√d (xformers' default), on [B, M, K] tensors (lvdm folds the heads into B) or [B, M, H, K].
    Plain MatMul / Softmax / MatMul: torch 1.13 has no scaled_dot_product_attention, and these three
    export to any ONNX opset. `op` (the kernel choice) is ignored; a bias or dropout is refused."""
    if attn_bias is not None or p:
        raise NotImplementedError("the xformers stand-in has no attn_bias or dropout (lvdm passes neither)")
    if query.dim() == 4:  # [B, M, H, K] -> [B, H, M, K] and back
        out = memory_efficient_attention(*(t.transpose(1, 2) for t in (query, key, value)), scale=scale)
        return out.transpose(1, 2)
    if query.dim() not in (3, 4):
        raise ValueError(f"the xformers stand-in takes [B, M, K] or [B, M, H, K], not {tuple(query.shape)}")
    scale = query.shape[-1] ** -0.5 if scale is None else scale
    weights = torch.softmax(torch.matmul(query, key.transpose(-2, -1)) * scale, dim=-1)
    return torch.matmul(weights, value)


def tqdm(iterable=None, *args, **kwargs):
    """tqdm without the progress bar: the iterable itself (ToonCrafter's samplers wrap their loop)."""
    return iterable


def make_grid(*args, **kwargs):
    raise NotImplementedError("torchvision.utils.make_grid: torchvision is a stand-in (ToonCrafter's logging only)")


# ---- the modules put into sys.modules -------------------------------------------------------------


class _Unavailable(types.ModuleType):
    """A module whose every attribute raises: imported at module level by code we do not call."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise NotImplementedError(f"{self.__name__}.{name}: {self.__name__} is a stand-in (not installed here)")


def _standin_modules() -> dict[str, types.ModuleType]:
    einops = types.ModuleType("einops", "Inbetween Studio's einops stand-in (rearrange, repeat)")
    einops.rearrange, einops.repeat = rearrange, repeat
    pl = types.ModuleType("pytorch_lightning", "Inbetween Studio's pytorch_lightning stand-in")
    pl.LightningModule, pl.seed_everything = LightningModule, seed_everything
    pl_utilities = types.ModuleType("pytorch_lightning.utilities")
    pl_utilities.rank_zero_only = rank_zero_only
    pl.utilities = pl_utilities
    xformers = types.ModuleType("xformers", "Inbetween Studio's xformers stand-in (memory_efficient_attention)")
    xformers.__version__ = "0.0.22"  # >= 0.0.21: lvdm takes its chunked (32768-row) path, one chunk here
    xformers_ops = types.ModuleType("xformers.ops")
    xformers_ops.memory_efficient_attention = memory_efficient_attention
    xformers.ops = xformers_ops
    tqdm_module = types.ModuleType("tqdm", "Inbetween Studio's tqdm stand-in (no progress bar)")
    tqdm_module.tqdm = tqdm
    torchvision = types.ModuleType("torchvision", "Inbetween Studio's torchvision stand-in (imports only)")
    torchvision_utils = types.ModuleType("torchvision.utils")
    torchvision_utils.make_grid = make_grid
    torchvision.utils = torchvision_utils
    return {
        "einops": einops,
        "pytorch_lightning": pl,
        "pytorch_lightning.utilities": pl_utilities,
        "cv2": _Unavailable("cv2"),
        "xformers": xformers,
        "xformers.ops": xformers_ops,
        "tqdm": tqdm_module,
        "torchvision": torchvision,
        "torchvision.utils": torchvision_utils,
    }


def install_standins(force: bool = False) -> list[str]:
    """Puts the stand-ins into sys.modules for each package that is not importable (or for all, with
    force); returns the module names installed."""
    installed = []
    for name, module in _standin_modules().items():
        top = name.split(".")[0]
        ours = getattr(sys.modules.get(top), "__standin__", False)
        if force or ours or importlib.util.find_spec(top) is None:
            module.__standin__ = True
            sys.modules[name] = module
            installed.append(name)
    return installed


@contextlib.contextmanager
def tooncrafter_imports(checkout: str | Path, force_standins: bool = False) -> Iterator[Path]:
    """Makes `import lvdm…` (and ToonCrafter's `utils`) work from a ToonCrafter checkout inside the
    block: stand-ins go into sys.modules, the checkout goes first on sys.path and leaves it on exit.
    Modules imported inside stay imported; a second, different checkout in the same process is
    refused rather than silently mixed with the first."""
    root = Path(checkout).resolve()
    if not (root / "lvdm" / "modules" / "networks" / "openaimodel3d.py").is_file():
        raise FileNotFoundError(f"{root} is not a ToonCrafter checkout (no lvdm/modules/networks/openaimodel3d.py)")
    loaded = sys.modules.get("lvdm.modules.networks.openaimodel3d")
    if loaded is not None and Path(loaded.__file__).resolve().parents[3] != root:
        raise RuntimeError(f"lvdm is already imported from {Path(loaded.__file__).parents[3]}, not {root}")
    install_standins(force=force_standins)
    # lvdm/common.py reads torch.utils.checkpoint without importing it (newer torch imported it
    # as a side effect of `import torch`; Debian's 1.13 does not).
    importlib.import_module("torch.utils.checkpoint")
    sys.path.insert(0, str(root))
    try:
        yield root
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(root))
