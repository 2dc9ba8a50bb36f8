"""Builds the LPIPS v0.1 perceptual-distance graphs the studio runs with ONNX Runtime (Web or Node).

    /usr/bin/python3 models/training/export_lpips.py --out models/lpips
    /usr/bin/python3 models/training/export_lpips.py --out models/lpips \\
        --alex-weights alex.pth alexnet-owt-7be5be79.pth \\
        --squeeze-weights squeeze.pth squeezenet1_1-b8a52dc0.pth

writes `lpips_alex_v0.1.onnx` (the default metric), `lpips_squeeze_v0.1.onnx` (the light one) and
`manifest.json` into --out (`python3 -m models.training.export_lpips` from the repository root does the
same: this module needs nothing else from models/training, so the studio runs it by path). Weights come from either
- one safetensors file per backbone holding the backbone (`features.N.*`, torchvision's names) and
  the linear layers (`lin0.weight`, ...): ../shared/data/lpips/lpips_{alex,squeeze}_v0.1.safetensors
  (the default when no flag is given); or
- the official files: the lpips package's linear layers (`lpips/weights/v0.1/alex.pth`,
  `squeeze.pth`: keys `linK.model.1.weight`) plus torchvision's ImageNet backbone
  (`alexnet-owt-7be5be79.pth`, `squeezenet1_1-b8a52dc0.pth`: keys `features.N.*`, `classifier.*`),
  given together to the flag, in any order. A full `lpips.LPIPS` state dict (`net.sliceK.N.*`) works
  too. safetensors files are parsed by hand (8-byte little-endian header length, JSON header, raw
  little-endian tensors): Debian has no `safetensors` package.

The network is the official `lpips.LPIPS(net=..., version='0.1')` in eval mode (dropout off):
ScalingLayer ((x - shift) / scale, shift = [-.030, -.088, -.188], scale = [.458, .448, .450]), the
torchvision backbone cut into the official slices (AlexNet: relu1..relu5; SqueezeNet 1.1: seven
taps), each tap normalised over channels (x / (sqrt(sum x²) + 1e-10)), squared difference, the
1×1 bias-free linear layer (the two images go through the backbone as one batch of two: the same
result as the official two separate passes, up to float rounding), and:
- `distance` [1]: the sum over layers of each layer's spatial mean (what `LPIPS()(in0, in1)` returns,
  flattened);
- `distance_map` [1, 1, H, W]: the sum over layers of each layer's map resized bilinearly
  (align_corners=False, half-pixel centres) to the input size — what `LPIPS(spatial=True)` returns.
  The official code resizes with `scale_factor=H/h`; the graph resizes to exactly H×W (ONNX Resize
  with `sizes`), the same sampling up to float rounding. Its mean is close to, not equal to,
  `distance` (bilinear resizing clamps at the borders).
Inputs `in0`, `in1`: [1, 3, H, W] RGB in [-1, 1], H and W dynamic, no resizing; the studio maps an
8-bit value x to x / 127.5 − 1, as `lpips.im2tensor` (image / (255 / 2) − 1) does.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import re
import struct
import sys
from pathlib import Path

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[2]
SHARED_LPIPS = REPO.parent / "shared" / "data" / "lpips"
OPSET = 17
VERSION = "0.1"
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10
CHANNELS = {
    "alex": [64, 192, 384, 256, 256],
    "squeeze": [64, 128, 256, 384, 384, 512, 512],
    "vgg": [64, 128, 256, 512, 512],
}
# Index of the last module of each official slice in torchvision's `features`.
TAPS = {"alex": [1, 4, 7, 9, 11], "squeeze": [1, 4, 7, 9, 10, 11, 12], "vgg": [3, 8, 15, 22, 29]}
# Smallest input side each backbone accepts (every pooling stage needs an output pixel).
MIN_SIDE = {"alex": 31, "squeeze": 17, "vgg": 16}
BACKBONE_NAMES = {
    "alex": "AlexNet (torchvision alexnet features)",
    "squeeze": "SqueezeNet 1.1 (torchvision squeezenet1_1 features)",
    "vgg": "VGG-16 (torchvision vgg16 features)",
}
DEFAULT_WEIGHTS = {b: SHARED_LPIPS / f"lpips_{b}_v0.1.safetensors" for b in ("alex", "squeeze")}
OFFICIAL_FILES = {
    "alex": ("alex.pth", "alexnet-owt-7be5be79.pth"),
    "squeeze": ("squeeze.pth", "squeezenet1_1-b8a52dc0.pth"),
    "vgg": ("vgg.pth", "vgg16-397923af.pth"),
}
# LPIPS-VGG (the metric ToonCrafter's research reported) needs torchvision's ImageNet VGG-16, which these
# machines do not have: found in the user's torch hub cache (where torchvision.models.vgg16(weights=...)
# puts it) or given with --vgg-weights; its linear layers are the lpips package's vgg.pth.
VGG_BACKBONE = OFFICIAL_FILES["vgg"][1]


def torch_hub_checkpoints() -> Path:
    """torchvision's download folder: $TORCH_HOME/hub/checkpoints (default ~/.cache/torch)."""
    import os

    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def default_vgg_weights() -> list[Path] | str:
    """The official files where they usually are, or a sentence saying what is missing and how to get it."""
    linear = SHARED_LPIPS / "vgg_v0.1.pth"  # the lpips package's vgg.pth, as ../shared names it
    backbone = torch_hub_checkpoints() / VGG_BACKBONE
    missing = [str(p) for p in (linear, backbone) if not p.is_file()]
    if missing:
        return (
            f"LPIPS-VGG not built: {' and '.join(missing)} not found. It needs torchvision's ImageNet VGG-16 "
            f"({VGG_BACKBONE}, downloaded by torchvision.models.vgg16(weights='IMAGENET1K_V1') into "
            f"{torch_hub_checkpoints()}, or from https://download.pytorch.org/models/{VGG_BACKBONE}) and the lpips "
            "package's lpips/weights/v0.1/vgg.pth; pass both with --vgg-weights."
        )
    return [linear, backbone]


INPUTS = {"imageA": "in0", "imageB": "in1"}
OUTPUTS = {"distance": "distance", "distanceMap": "distance_map"}
LICENSE_FILE = "../shared/data/lpips/LICENSE.PerceptualSimilarity"


# ----------------------------------------------------------------------------------------------
# Weights
# ----------------------------------------------------------------------------------------------

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": None}


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """Parses a .safetensors file without the safetensors package."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: too short to be a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > len(data) - 8:
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    body = memoryview(data)[8 + header_len :]
    out: dict[str, torch.Tensor] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype, shape, (start, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        if not 0 <= start <= end <= len(body):
            raise ValueError(f"{path}: tensor {name} lies outside the file")
        raw = bytes(body[start:end])
        if dtype == "BF16":  # bfloat16 = the high half of a float32
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dtype]).newbyteorder("<"))
        count = int(np.prod(shape)) if shape else 1
        if arr.size != count:
            raise ValueError(f"{path}: tensor {name} has {arr.size} values, shape {shape} needs {count}")
        out[name] = torch.from_numpy(arr.astype(np.float32).reshape(shape))
    return out


def read_pth(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except TypeError:  # torch older than 1.13
        obj = torch.load(str(path), map_location="cpu")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(obj).__name__}")
    return {k: v.float() for k, v in obj.items() if isinstance(v, torch.Tensor)}


def _looks_like_safetensors(path: Path) -> bool:
    with path.open("rb") as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 0 < n <= path.stat().st_size - 8 and head[8:9] == b"{"


def read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    """A .safetensors file (by name or content) or a PyTorch checkpoint (.pth: zip or pickle)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weight file {path} does not exist")
    if path.suffix == ".safetensors" or _looks_like_safetensors(path):
        return read_safetensors(path)
    return read_pth(path)


def canonical_key(key: str) -> str | None:
    """Maps the names the official files use onto `features.N.*` / `linK.weight`; None = unused."""
    key = key.removeprefix("module.")
    m = re.fullmatch(r"lin(\d+)\.model\.\d+\.weight", key)
    if m:
        return f"lin{m.group(1)}.weight"
    m = re.fullmatch(r"net\.slice\d+\.(\d+\..+)", key)
    if m:
        return f"features.{m.group(1)}"
    if re.fullmatch(r"lin\d+\.weight", key) or key.startswith("features."):
        return key
    return None  # torchvision's classifier.*, lpips' scaling_layer buffers, ...


def load_weights(paths: list[Path], backbone: str) -> dict[str, torch.Tensor]:
    """Merges the given files into one state dict for `LpipsNet(backbone)` and checks it is whole."""
    merged: dict[str, torch.Tensor] = {}
    for p in paths:
        for k, v in read_weight_file(p).items():
            if k.startswith("scaling_layer."):
                want = torch.tensor(SHIFT if k.endswith("shift") else SCALE)
                if not torch.allclose(v.flatten(), want):
                    raise ValueError(f"{p}: {k} = {v.flatten().tolist()}, not the v0.1 constants {list(want)}")
            ck = canonical_key(k)
            if ck is not None:
                merged[ck] = v
    expected = LpipsNet(backbone).state_dict()
    missing = sorted(set(expected) - set(merged))
    if missing:
        names = " + ".join(OFFICIAL_FILES[backbone])
        raise ValueError(
            f"LPIPS {backbone} weights incomplete: missing {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''} (from {', '.join(str(p) for p in paths)}). Give the "
            f"safetensors file, or both official files ({names})."
        )
    out = {}
    for k, ref in expected.items():
        if tuple(merged[k].shape) != tuple(ref.shape):
            raise ValueError(
                f"LPIPS {backbone} weight {k} has shape {tuple(merged[k].shape)}, " f"expected {tuple(ref.shape)}"
            )
        out[k] = merged[k].contiguous()
    return out


# ----------------------------------------------------------------------------------------------
# Network (the official lpips.LPIPS, v0.1, eval mode)
# ----------------------------------------------------------------------------------------------


class Fire(nn.Module):
    """torchvision's SqueezeNet Fire module."""

    def __init__(self, inplanes: int, squeeze: int, e1: int, e3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], 1)


def backbone_features(backbone: str) -> nn.Sequential:
    """torchvision's `features` (same module indices, so its state-dict names load directly)."""
    if backbone == "alex":
        return nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(3, 2),
        )  # index 12: not used by LPIPS
    if backbone == "squeeze":
        return nn.Sequential(
            nn.Conv2d(3, 64, 3, stride=2),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
    if backbone == "vgg":
        layers: list[nn.Module] = []
        c = 3
        for v in (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512):
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
                c = v
        return nn.Sequential(*layers)  # index 29 is relu5_3, LPIPS's last tap
    raise ValueError(f"unknown LPIPS backbone {backbone!r} (alex, squeeze or vgg)")


def normalize_tensor(x: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    return x / (torch.sqrt(torch.sum(x**2, dim=1, keepdim=True)) + eps)


class LpipsNet(nn.Module):
    def __init__(self, backbone: str):
        super().__init__()
        self.backbone = backbone
        self.features = backbone_features(backbone)
        self.taps = TAPS[backbone]
        for k, c in enumerate(CHANNELS[backbone]):
            self.add_module(f"lin{k}", nn.Conv2d(c, 1, 1, bias=False))
        self.register_buffer("shift", torch.tensor(SHIFT)[None, :, None, None], persistent=False)
        self.register_buffer("scale", torch.tensor(SCALE)[None, :, None, None], persistent=False)
        self.eval()

    def layer_outputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, m in enumerate(self.features[: self.taps[-1] + 1]):
            x = m(x)
            if i in self.taps:
                outs.append(x)
        return outs

    def layer_maps(self, in0: torch.Tensor, in1: torch.Tensor) -> list[torch.Tensor]:
        """Per layer: lin_k((normalize(f0) − normalize(f1))²), [N, 1, h_k, w_k]."""
        x = (torch.cat([in0, in1], 0) - self.shift) / self.scale
        n = in0.shape[0]
        maps = []
        for k, f in enumerate(self.layer_outputs(x)):
            d = (normalize_tensor(f[:n]) - normalize_tensor(f[n:])) ** 2
            maps.append(getattr(self, f"lin{k}")(d))
        return maps

    def forward(self, in0: torch.Tensor, in1: torch.Tensor):
        height, width = in0.shape[2], in0.shape[3]
        distance = None
        dmap = None
        for m in self.layer_maps(in0, in1):
            mean = m.mean([2, 3], keepdim=True)
            up = F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
            distance = mean if distance is None else distance + mean
            dmap = up if dmap is None else dmap + up
        return distance.reshape(1), dmap


def build_model(backbone: str, weights: list[Path]) -> LpipsNet:
    model = LpipsNet(backbone)
    model.load_state_dict(load_weights(weights, backbone), strict=True)
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


# ----------------------------------------------------------------------------------------------
# Export
# ----------------------------------------------------------------------------------------------


def export_graph(model: LpipsNet, path: Path) -> None:
    h, w = 64, 96
    ex = (torch.zeros(1, 3, h, w), torch.zeros(1, 3, h, w))
    axes = {
        "in0": {2: "height", 3: "width"},
        "in1": {2: "height", 3: "width"},
        "distance_map": {2: "height", 3: "width"},
    }
    with torch.no_grad():
        torch.onnx.export(
            model,
            ex,
            str(path),
            input_names=list(INPUTS.values()),
            output_names=list(OUTPUTS.values()),
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
        )
    # The tracer names the outputs' fixed dimensions symbolically: state the real shapes.
    proto = onnx.load(str(path))
    shapes = {"distance": [1], "distance_map": [1, 1, "height", "width"]}
    for out in proto.graph.output:
        dims = out.type.tensor_type.shape.dim
        for d, v in zip(dims, shapes[out.name]):
            if isinstance(v, int):
                d.ClearField("dim_param")
                d.dim_value = v
            else:
                d.dim_param = v
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _source_entry(p: Path) -> dict:
    """A weight file as the manifest records it: repository-relative if beside it, else its name."""
    p = Path(p).resolve()
    try:
        shown = "../" + p.relative_to(REPO.parent).as_posix()
        if p.is_relative_to(REPO):
            shown = p.relative_to(REPO).as_posix()
    except ValueError:
        shown = p.name
    return {"file": shown, "sha256": _sha256(p)}


def export_all(out: Path, weights: dict[str, list[Path]]) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    graphs = {}
    for backbone, paths in weights.items():
        model = build_model(backbone, paths)
        name = f"lpips_{backbone}_v{VERSION}.onnx"
        tmp = out / (name + ".tmp")
        export_graph(model, tmp)
        tmp.replace(out / name)
        data = (out / name).read_bytes()
        graphs[backbone] = {
            "file": name,
            "sizeBytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "backbone": backbone,
            "backboneName": BACKBONE_NAMES[backbone],
            "version": VERSION,
            "default": backbone == "alex",
            "inputs": dict(INPUTS),
            "outputs": dict(OUTPUTS),
            "inputShape": [1, 3, "height", "width"],
            "outputShapes": {"distance": [1], "distance_map": [1, 1, "height", "width"]},
            "minSide": MIN_SIDE[backbone],
            "layers": len(CHANNELS[backbone]),
            "weights": [_source_entry(p) for p in paths],
        }
    manifest = {
        "format": "lpips-onnx",
        "formatVersion": 1,
        "version": VERSION,
        "opset": OPSET,
        "default": "alex" if "alex" in graphs else next(iter(graphs)),
        "valueRange": [-1, 1],
        "inputMapping": "x / 127.5 - 1 for an 8-bit value x (lpips.im2tensor: image / (255/2) - 1); "
        "RGB only, alpha ignored; no resizing",
        "distanceMap": "sum over layers of each layer's linear-layer map resized bilinearly "
        "(align_corners=False) to height x width, as lpips.LPIPS(spatial=True)",
        "license": {
            "name": "BSD-2-Clause (LPIPS linear weights and code: richzhang/PerceptualSimilarity); "
            "backbones: torchvision ImageNet weights (BSD-3-Clause)",
            "file": LICENSE_FILE,
        },
        "exporter": {
            "script": "models/training/export_lpips.py",
            "sha256": _sha256(Path(__file__)),
            "torch": torch.__version__,
        },
        "graphs": graphs,
    }
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out / "manifest.json")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--out",
        type=Path,
        default=REPO / "models" / "lpips",
        help="output folder (default models/lpips, not committed)",
    )
    ap.add_argument(
        "--alex-weights",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="lpips_alex_v0.1.safetensors, or alex.pth + alexnet-owt-7be5be79.pth "
        f"(default {DEFAULT_WEIGHTS['alex']})",
    )
    ap.add_argument(
        "--squeeze-weights",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="lpips_squeeze_v0.1.safetensors, or squeeze.pth + squeezenet1_1-b8a52dc0.pth "
        f"(default {DEFAULT_WEIGHTS['squeeze']})",
    )
    ap.add_argument(
        "--vgg-weights",
        type=Path,
        nargs="+",
        metavar="FILE",
        help=f"vgg.pth + {VGG_BACKBONE} (default: ../shared/data/lpips/vgg_v0.1.pth and torchvision's cache, "
        "when both are there; otherwise LPIPS-VGG is skipped with a message)",
    )
    ap.add_argument("--only", choices=sorted(CHANNELS), help="build one backbone only")
    args = ap.parse_args(argv)
    weights = {}
    if args.only in (None, "vgg"):
        found = args.vgg_weights or default_vgg_weights()
        if isinstance(found, str):
            print(found, file=sys.stderr)
            if args.only == "vgg":
                return 2
        else:
            weights["vgg"] = found
    for backbone in ("alex", "squeeze"):
        if args.only and args.only != backbone:
            continue
        given = getattr(args, f"{backbone}_weights")
        paths = given or [DEFAULT_WEIGHTS[backbone]]
        for p in paths:
            if not Path(p).is_file():
                hint = (
                    ""
                    if given
                    else " (the default, from ../shared/data/lpips beside the repository; "
                    "see docs/metrics.md for the official weights)"
                )
                print(f"error: LPIPS {backbone} weight file {p} not found{hint}", file=sys.stderr)
                return 2
        weights[backbone] = paths
    manifest = export_all(args.out, weights)
    for g in manifest["graphs"].values():
        print(f"{args.out / g['file']}: {g['sizeBytes']} bytes, sha256 {g['sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
