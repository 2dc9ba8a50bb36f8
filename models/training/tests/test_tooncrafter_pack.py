"""The tiny ToonCrafter-architecture format-2 pack (models/training/tooncrafter/build_pack.py, issue 18):
every graph against its PyTorch module in onnxruntime-node, the manifest against its files, the
constants, and the end-to-end check — the pack's ONNX graphs driven by a plain numpy DDIM loop written
from the format-2 spec (clip_sampler.py) reproduce the frames of ToonCrafter's own DDIMSampler
(parity/*.npz, written by the same build).

The pack is built once per session into a temporary folder (about 6 minutes on 2 cores), unless
models/tooncrafter-tiny is up to date (build.json's fingerprint and hashes match), then that is used.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from models.training.tooncrafter.tiny import DEFAULT_CHECKOUT

pytestmark = pytest.mark.skipif(
    not (DEFAULT_CHECKOUT / "lvdm").is_dir(), reason=f"ToonCrafter's code is not at {DEFAULT_CHECKOUT} (../shared)"
)

# max |ORT − PyTorch| allowed, per graph (values measured are in docs/exporting.md)
TOLERANCE = {
    "vae_encoder": 1e-4,
    "image_tokens": 1e-4,
    "text_encoder": 1e-4,
    "unet": 1e-4,
    "unet_lora(1)": 1e-4,
    "decoder": 1e-4,
    "unet_lora(0) vs unet": 1e-5,
}


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Path:
    from models.training.tooncrafter.build_pack import DEFAULT_OUT, build, pack_is_fresh

    if pack_is_fresh(DEFAULT_OUT):
        return DEFAULT_OUT
    out = tmp_path_factory.mktemp("tooncrafter-tiny")
    build(out, check=False, log=lambda *a: None)
    return out


@pytest.fixture(scope="module")
def manifest(pack) -> dict:
    return json.loads((pack / "manifest.json").read_text())


@pytest.fixture(scope="module")
def checks(pack) -> dict:
    from models.training.tooncrafter.build_pack import add_lora, build_model, graph_checks

    model = build_model()
    lora = build_model()
    add_lora(lora.model.diffusion_model)
    return graph_checks(pack, model, lora)


@pytest.mark.parametrize("graph", sorted(TOLERANCE))
def test_graph_matches_pytorch(checks, graph):
    assert checks[graph] < TOLERANCE[graph], (graph, checks[graph])


def test_lora_changes_and_fp16_follows(checks):
    assert checks["unet_lora(1) vs unet"] > 1e-2, "the LoRA scale should change the prediction"
    # fp16 weights and arithmetic through a 14 M-parameter random UNet: a few per cent of max |v|.
    assert checks["unet_fp16 vs unet (relative to max |v|)"] < 5e-2, checks


def test_unet_batch_axis_is_dynamic(pack):
    from models.training.ort_node import run_onnx
    from models.training.tooncrafter.build_pack import unet_feeds

    feeds = {k: v.numpy() for k, v in unet_feeds(2).items()}
    both = run_onnx(pack / "unet.onnx", feeds)["v"]
    one = run_onnx(pack / "unet.onnx", {k: v[1:] for k, v in feeds.items()})["v"]
    assert one.shape == (1, 4, 16, 8, 16)
    assert np.abs(one - both[1:]).max() < 1e-4


def _entries(manifest: dict) -> list[dict]:
    g = manifest["graphs"]
    return [
        *manifest["stages"].values(),
        *manifest["constants"].values(),
        *g["denoisers"].values(),
        g["decoder"],
    ]


def test_manifest_sizes_and_hashes_match_the_files(pack, manifest):
    assert manifest["format"] == "inbetween-pack" and manifest["formatVersion"] == 2
    assert manifest["id"] == "tooncrafter-tiny" and manifest["trained"] is False
    for entry in _entries(manifest):
        data = (pack / entry["file"]).read_bytes()
        assert entry["sizeBytes"] == len(data), entry["file"]
        assert entry["sha256"] == hashlib.sha256(data).hexdigest(), entry["file"]
    assert {v["id"] for v in manifest["variants"]} == {"base", "lora", "fp16"}


def test_manifest_names_the_graphs_tensors(pack, manifest):
    import onnx

    def io(file):
        g = onnx.load(str(pack / file), load_external_data=False).graph
        return [i.name for i in g.input], [o.name for o in g.output]

    vae = manifest["stages"]["vae"]
    assert io(vae["file"]) == (["images"], vae["outputs"])
    assert vae["outputs"] == ["latents", "ref0", "ref1", "ref2", "ref3", "ref4"]
    assert io(manifest["stages"]["imageTokens"]["file"]) == (["image"], ["tokens"])
    for name, d in manifest["graphs"]["denoisers"].items():
        inputs, outputs = io(d["file"])
        named = list(d["inputs"].values()) + list(d["feeds"])
        assert sorted(inputs) == sorted(named), name
        assert outputs == ["v"] and set(d["unconditional"]) <= set(d["feeds"])
    dec = manifest["graphs"]["decoder"]
    inputs, outputs = io(dec["file"])
    assert inputs == ["latent", *dec["feeds"]] and outputs == ["frames"]
    assert all(src == f"stage:vae/{name}" for name, src in dec["feeds"].items())


def test_constants_parse_with_numpy(pack, manifest):
    for name, c in manifest["constants"].items():
        path = pack / c["file"]
        with path.open("rb") as f:
            assert np.lib.format.read_magic(f) == (1, 0)
        arr = np.load(path, allow_pickle=False)
        assert arr.dtype == np.dtype("<f4") and arr.flags.c_contiguous, name
        assert list(arr.shape) == c["shape"] == [1, 77, 64], name
        assert np.isfinite(arr).all()
    prompts = {p["id"]: p["constant"] for p in manifest["prompts"]}
    assert prompts["none"] == "emptyPrompt"
    empty, walk = (np.load(pack / manifest["constants"][k]["file"]) for k in ("emptyPrompt", "promptWalk"))
    assert np.abs(empty - walk).max() > 1e-2


def test_numpy_ddim_over_the_graphs_reproduces_tooncrafters_sampler(pack, manifest):
    """The spec's loop (clip_sampler.run_pack) over the ONNX graphs, against ToonCrafter's DDIMSampler on
    the PyTorch modules, for eta 0 and 1: latents and decoded frames."""
    from models.training.tooncrafter.clip_sampler import run_pack

    settings = json.loads((pack / "parity" / "settings.json").read_text())
    assert settings["timesteps"] == [999, 749, 499, 249]
    for eta in settings["etas"]:
        ref = np.load(pack / "parity" / f"eta{eta:g}.npz", allow_pickle=False)
        got = run_pack(
            pack,
            pack / "parity" / "start.png",
            pack / "parity" / "end.png",
            seed=settings["seed"],
            steps=settings["steps"],
            eta=eta,
            guidance=settings["guidance"],
            fs=settings["fs"],
            prompt=settings["prompt"],
        )
        assert np.array_equal(got["x_T"], ref["x_T"])
        assert np.abs(got["samples"] - ref["samples"]).max() < 2e-3, eta
        assert np.abs(got["frames"] - ref["frames"]).max() < 2e-3, eta
        assert np.abs(ref["frames"]).max() > 0.1  # not a degenerate clip
