"""The studio's side of a format-2 clip pack, in numpy: its seeded noise (a port of src/core/rng.ts) and
DDIM as /work/notes/format2-spec.md describes it (zero-terminal-SNR scaled_linear betas, trailing
timesteps, the "plan" previous timestep, ToonCrafter's dynamic rescale, classifier-free guidance with
rescale), written from the spec and ToonCrafter's formulas, not from its code. build_pack's parity
files come from ToonCrafter's own DDIMSampler; the tests run this loop over the pack's ONNX graphs and
compare (issue 18).

    from models.training.tooncrafter.clip_sampler import frame_noise, ddim_plan, ddim_step
    x = frame_noise(7, 0, 4 * 16 * 8 * 16).reshape(1, 4, 16, 8, 16)
    plan = ddim_plan(scheduler, steps=4)         # scheduler: the manifest's "scheduler" object
    for i, step in enumerate(plan):
        v = guided(...)                          # the denoiser's v, guidance applied
        x = ddim_step(x, v, step, eta, frame_noise(step_seed(7, i), 0, x.size).reshape(x.shape))
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

M32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B1  # the eta-noise seed step of the spec (imul(0x9e3779b1, s + 1))


# ---- src/core/rng.ts: xoshiro128** seeded by splitmix32, Box–Muller --------------------------------


def _mix32(h: int) -> int:
    h &= M32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    return h ^ (h >> 16)


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & M32


def derive_frame_seed(seed: int, frame: int) -> int:
    """rng.ts deriveFrameSeed: mix(mix(seed) + imul(frame, 0x9e3779b9) + 0x6a09e667)."""
    return _mix32((_mix32(seed) + ((frame * 0x9E3779B9) & M32) + 0x6A09E667) & M32)


def gaussians(seed: int, n: int) -> np.ndarray:
    """rng.ts GaussianRng(seed).fillGaussian: n standard normals (float32), both Box–Muller outputs used."""
    state = seed & M32
    s = []
    for _ in range(4):
        state = (state + 0x9E3779B9) & M32
        s.append(_mix32(state))
    s0, s1, s2, s3 = s
    out = np.empty(n, np.float64)
    i = 0
    while i < n:
        u = []
        for _ in range(4):  # two uniforms, two 32-bit draws each
            result = (_rotl((s1 * 5) & M32, 7) * 9) & M32
            t = (s1 << 9) & M32
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = _rotl(s3, 11)
            u.append(result >> 6)
        u1 = (u[0] * 67108864 + u[1] + 0.5) * 2.0**-52
        u2 = (u[2] * 67108864 + u[3] + 0.5) * 2.0**-52
        radius = math.sqrt(-2.0 * math.log(u1))
        angle = 2.0 * math.pi * u2
        out[i] = radius * math.cos(angle)
        if i + 1 < n:
            out[i + 1] = radius * math.sin(angle)
        i += 2
    return out.astype(np.float32)


def frame_noise(seed: int, frame: int, length: int) -> np.ndarray:
    """rng.ts frameNoise(seed, frameIndex, length): float32 [length]."""
    if not (0 <= seed <= M32 and 0 <= frame <= M32):
        raise ValueError("seed and frame must be integers 0..2^32-1")
    return gaussians(derive_frame_seed(seed, frame), length)


def step_seed(seed: int, step: int) -> int:
    """The eta noise of step `step` (0-based, visiting order): (seed + imul(0x9e3779b1, step + 1)) >>> 0."""
    return (seed + GOLDEN * (step + 1)) & M32


# ---- DDIM per the format-2 spec ------------------------------------------------------------------


def alphas_cumprod(scheduler: dict) -> np.ndarray:
    """ᾱ_t (float64) of the manifest's scheduler: scaled_linear (linear in √β) or linear betas, then
    Lin et al.'s zero-terminal-SNR rescale if asked."""
    n = scheduler["trainTimesteps"]
    b0, b1 = scheduler["betaStart"], scheduler["betaEnd"]
    if scheduler["betaSchedule"] == "scaled_linear":
        betas = np.linspace(b0**0.5, b1**0.5, n, dtype=np.float64) ** 2
    else:
        betas = np.linspace(b0, b1, n, dtype=np.float64)
    abar = np.cumprod(1.0 - betas)
    if scheduler.get("rescaleZeroTerminalSnr"):
        s = np.sqrt(abar)
        s0, sT = s[0], s[-1]
        s = (s - sT) * (s0 / (s0 - sT))
        abar = s**2
    return abar


@dataclass
class Step:
    t: int
    a_t: float
    a_prev: float
    rescale: float  # the factor on pred_x0 (dynamic rescale), 1 without


def ddim_plan(scheduler: dict, steps: int) -> list[Step]:
    """The visited timesteps (trailing: round(arange(T, 0, −T/steps)) − 1) with ᾱ_t, ᾱ_prev and the
    x₀ rescale of each step. previousTimestep "plan": ᾱ_prev is ᾱ of the next visited timestep, and
    after the last one ᾱ_0 (setAlphaToOne false) or 1. dynamicRescale: s(t) = linspace(1, base, turning)[t]
    below `turning`, else base; the factor is s(t_prev)/s(t), and 1 at the last step (ToonCrafter's
    DDIMSampler pairs the last step's scale with itself)."""
    n = scheduler["trainTimesteps"]
    if scheduler.get("timestepSpacing", "trailing") != "trailing":
        raise NotImplementedError("only trailing spacing (ToonCrafter's uniform_trailing)")
    ts = (np.round(np.arange(n, 0, -n / steps)).astype(np.int64) - 1)[:steps]
    abar = alphas_cumprod(scheduler)
    final = 1.0 if scheduler.get("setAlphaToOne", True) else abar[0]
    plan_prev = scheduler.get("previousTimestep", "stride") == "plan"
    dyn = scheduler.get("dynamicRescale")

    def scale(t: int) -> float:
        if not dyn:
            return 1.0
        ramp = np.linspace(1.0, dyn["baseScale"], dyn["turningStep"])
        return float(ramp[t]) if t < dyn["turningStep"] else float(dyn["baseScale"])

    plan = []
    for i, t in enumerate(ts):
        last = i == len(ts) - 1
        prev = (-1 if last else int(ts[i + 1])) if plan_prev else int(t) - n // steps
        a_prev = abar[prev] if prev >= 0 else final
        rescale = 1.0 if last else scale(prev) / scale(int(t))
        plan.append(Step(int(t), float(abar[t]), float(a_prev), rescale))
    return plan


def guide(cond: np.ndarray, uncond: np.ndarray, scale: float, rescale: float) -> np.ndarray:
    """out = u + s (c − u); with rescale r > 0: r · out · std(c)/std(out) + (1 − r) · out, std over every
    non-batch axis with Bessel's correction (torch.std)."""
    out = uncond + scale * (cond - uncond)
    if rescale > 0:
        axes = tuple(range(1, out.ndim))
        ratio = np.std(cond, axis=axes, ddof=1, keepdims=True) / np.std(out, axis=axes, ddof=1, keepdims=True)
        out = rescale * out * ratio + (1 - rescale) * out
    return out


def ddim_step(x: np.ndarray, v: np.ndarray, step: Step, eta: float, noise: np.ndarray) -> np.ndarray:
    """One DDIM step from a v prediction: x₀ = √ᾱ x − √(1−ᾱ) v (times the rescale factor),
    ε = √ᾱ v + √(1−ᾱ) x, σ = η √((1−ᾱ')/(1−ᾱ) · (1 − ᾱ/ᾱ')), x' = √ᾱ' x₀ + √(1−ᾱ'−σ²) ε + σ z."""
    a, ap = step.a_t, step.a_prev
    x, v = x.astype(np.float64), v.astype(np.float64)
    x0 = (math.sqrt(a) * x - math.sqrt(1 - a) * v) * step.rescale
    eps = math.sqrt(a) * v + math.sqrt(1 - a) * x
    sigma = eta * math.sqrt((1 - ap) / (1 - a) * (1 - a / ap))
    out = math.sqrt(ap) * x0 + math.sqrt(max(0.0, 1 - ap - sigma**2)) * eps + sigma * noise.astype(np.float64)
    return out.astype(np.float32)


# ---- a whole clip from a pack, as the studio runs one --------------------------------------------


def _load_keyframe(path: Path) -> np.ndarray:
    """An 8-bit RGB PNG as [1, 3, H, W] float32 in [-1, 1] (v/127.5 − 1)."""
    from PIL import Image

    rgb = np.asarray(Image.open(path).convert("RGB")).astype(np.float32)
    return np.ascontiguousarray((rgb / 127.5 - 1.0).transpose(2, 0, 1)[None])


def run_pack(
    pack: str | Path,
    start_png: str | Path,
    end_png: str | Path,
    *,
    seed: int,
    steps: int,
    eta: float,
    guidance: float | None = None,
    fs: float | None = None,
    prompt: str = "none",
    text: str | None = None,
    variant: str | None = None,
    lora_scale: float | None = None,
    run=None,
) -> dict[str, np.ndarray]:
    """Interpolates two keyframes with a format-2 clip pack, reading everything from its manifest:
    stages in dependency order, keyframeLatents × scaleFactor as the condition at frames 0 and T−1,
    the denoiser's feeds (leading batch 1, tiled) and unconditional overrides, cond + uncond in one
    call of batch 2, guidance and rescale, DDIM per the scheduler, the decoder on latent/scaleFactor.
    `text` runs the pack's text stages on the stand-in tokeniser's ids instead of the precomputed `prompt`.
    `run(path, feeds) -> outputs` defaults to onnxruntime-node. Returns x_T, samples (scaled) and frames."""
    if run is None:
        from models.training.ort_node import run_onnx as run
    pack = Path(pack)
    m = json.loads((pack / "manifest.json").read_text())
    start, end = _load_keyframe(Path(start_png)), _load_keyframe(Path(end_png))
    src: dict[str, np.ndarray] = {
        "keyframes:start": start,
        "keyframes:end": end,
        "keyframes:pair": np.concatenate([start, end]),
        "keyframes:blank": np.zeros_like(start),
    }
    for name, c in m.get("constants", {}).items():
        src[f"constant:{name}"] = np.load(pack / c["file"], allow_pickle=False)
    for name, s in m.get("scalars", {}).items():
        value = fs if (name == "fs" and fs is not None) else s["default"]
        src[f"scalar:{name}"] = np.array([value], np.float32)
    prompts = {p["id"]: p["constant"] for p in m.get("prompts", [])}
    pending = dict(m.get("stages", {}))
    if text is None:
        src["prompt"] = src[f"constant:{prompts[prompt]}"]
        # Stages that encode a typed prompt (directly or through other stages) run only with one, as in the studio.
        skipped = {"text"}
        while True:
            skip = [
                k
                for k, st in pending.items()
                if any(v in skipped or v.split("/")[0] in skipped for v in st["inputs"].values())
            ]
            if not skip:
                break
            for k in skip:
                pending.pop(k)
                skipped.add(f"stage:{k}")
    else:
        from models.training.tooncrafter.clip_standins import tokenize

        src["text"] = tokenize(text, m["text"]["contextLength"]).numpy()
    while pending:
        ready = [k for k, st in pending.items() if all(v in src for v in st["inputs"].values())]
        if not ready:
            raise ValueError(f"stages {sorted(pending)} wait on sources nothing provides")
        for name in ready:
            st = pending.pop(name)
            outs = run(pack / st["file"], {t: src[v] for t, v in st["inputs"].items()})
            for o in st["outputs"]:
                src[f"stage:{name}/{o}"] = outs[o]
    if text is not None:
        src["prompt"] = src[m["text"]["embedding"]]
    scale = m["latent"]["scaleFactor"]
    keys = src[m["keyframeLatents"]] * scale  # [2, C, h, w]
    c, h, w = keys.shape[1:]
    t_len = m["frames"]["clipLength"]
    condition = np.zeros((1, c, t_len, h, w), np.float32)
    condition[:, :, 0], condition[:, :, -1] = keys[0], keys[1]
    variant = variant or m["variants"][0]["id"]
    v_spec = next(v for v in m["variants"] if v["id"] == variant)
    den = m["graphs"]["denoisers"][v_spec["denoiser"]]
    g = m.get("guidance")
    s = guidance if guidance is not None else (g["scale"]["default"] if g else 1.0)
    r = g.get("rescale", 0.0) if g else 0.0
    cond_feeds = {t: src[v] for t, v in den.get("feeds", {}).items()}
    uncond_feeds = {**cond_feeds, **{t: src[v] for t, v in den.get("unconditional", {}).items()}}
    if "loraScale" in den["inputs"]:
        scale_value = lora_scale if lora_scale is not None else v_spec["loraScale"]["default"]
        extra = {den["inputs"]["loraScale"]: np.array([scale_value], np.float32)}
    else:
        extra = {}
    names = den["inputs"]
    shape = (1, c, t_len, h, w)
    n = int(np.prod(shape))
    x = frame_noise(seed, 0, n).reshape(shape)
    x_T = x.copy()
    guided = s != 1.0
    for i, step in enumerate(ddim_plan(m["scheduler"], steps)):
        base = {names["sample"]: x, names["timestep"]: np.array([step.t], np.float32), names["condition"]: condition}
        if guided and den.get("maxBatch", 1) >= 2:
            feeds = {k: np.concatenate([a, a]) for k, a in base.items()}
            feeds.update({k: np.concatenate([cond_feeds[k], uncond_feeds[k]]) for k in cond_feeds})
            out = run(pack / den["file"], {**feeds, **extra})[den["outputs"]["prediction"]]
            pc, pu = out[0:1], out[1:2]
        else:
            pc = run(pack / den["file"], {**base, **cond_feeds, **extra})[den["outputs"]["prediction"]]
            pu = (
                run(pack / den["file"], {**base, **uncond_feeds, **extra})[den["outputs"]["prediction"]]
                if guided
                else pc
            )
        v = guide(pc.astype(np.float64), pu.astype(np.float64), s, r) if guided else pc
        x = ddim_step(x, v, step, eta, frame_noise(step_seed(seed, i), 0, n).reshape(shape))
    dec = m["graphs"]["decoder"]
    feeds = {dec["inputs"]["latent"]: (x / scale).astype(np.float32)}
    feeds.update({t: src[v] for t, v in dec.get("feeds", {}).items()})
    frames = run(pack / dec["file"], feeds)[dec["outputs"]["image"]]
    return {"x_T": x_T, "samples": x, "frames": frames}
