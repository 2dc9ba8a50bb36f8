"""The ToonCrafter exporter on a checkpoint (build_pack.py --config --ckpt, docs/exporting.md "Exporting
ToonCrafter"), the path a researcher takes with configs/inference_512_v1.0.yaml and model.ckpt. Here the
config is the tiny one (a smaller UNet, so the test stays short) written as a YAML file, and the
checkpoint holds weights of another seed than the tiny pack's, so a graph that matches it proves the
checkpoint was loaded. Every graph is written with ONNX external data (what a full-size export needs
past protobuf's 2 GiB), and the studio's own CLI runs the pack, typed prompt included.
"""
from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from models.training.export import max_diff
from models.training.ort_node import run_onnx
from models.training.tooncrafter.tiny import DEFAULT_CHECKOUT, TinyUNetConfig

pytestmark = pytest.mark.skipif(
    not (DEFAULT_CHECKOUT / "lvdm").is_dir(), reason=f"ToonCrafter's code is not at {DEFAULT_CHECKOUT} (../shared)"
)
REPO = Path(__file__).resolve().parents[3]
# One level instead of four: the exporter's time is mostly the UNet's.
SMALL_UNET = TinyUNetConfig(num_res_blocks=1, channel_mult=(1,), attention_resolutions=(1,))
CKPT_SEED = 3


def plain(x):
    return json.loads(json.dumps(x))


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """The safetensors layout: header length (u64 LE), JSON header, raw little-endian data."""
    header, blobs, at = {}, [], 0
    for name, a in tensors.items():
        dtype = {np.dtype("<f4"): "F32", np.dtype("<f2"): "F16", np.dtype("<u2"): "BF16"}[a.dtype]
        blob = np.ascontiguousarray(a).tobytes()
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [at, at + len(blob)]}
        blobs.append(blob)
        at += len(blob)
    head = json.dumps({"__metadata__": {"format": "pt"}, **header}).encode()
    path.write_bytes(len(head).to_bytes(8, "little") + head + b"".join(blobs))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from models.training.tooncrafter import build_pack as bp
    from models.training.tooncrafter.clip_standins import tokenizer_json

    tmp = tmp_path_factory.mktemp("tc-ckpt")
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({"model": plain(bp.tiny_config(SMALL_UNET))}))
    model = bp.build_model(seed=CKPT_SEED, unet=SMALL_UNET)
    torch.save({"state_dict": model.state_dict()}, tmp / "model.ckpt")
    (tmp / "tokenizer.json").write_text(json.dumps(tokenizer_json()))
    # A trained LoRA as peft saves it: adapter_model.safetensors (keys base_model.model.<path>.lora_A.default
    # .weight) and adapter_config.json; here rank 8, α 4, seeded — not the pack's random rank-16 one.
    lora_model = copy.deepcopy(model)
    bp.add_lora(lora_model.model.diffusion_model, rank=8, alpha=4.0, seed=8)
    peft = {
        "base_model.model." + k.replace(".lora_A.", ".lora_A.default.").replace(".lora_B.", ".lora_B.default."): v
        for k, v in lora_model.model.diffusion_model.state_dict().items()
        if ".lora_" in k
    }
    write_safetensors(tmp / "adapter_model.safetensors", {k: v.numpy() for k, v in peft.items()})
    (tmp / "adapter_config.json").write_text(json.dumps({"r": 8, "lora_alpha": 4, "peft_type": "LORA"}))
    out = tmp / "pack"
    args = ["--config", str(config), "--ckpt", str(tmp / "model.ckpt"), "--tokenizer", str(tmp / "tokenizer.json")]
    args += ["--lora", str(tmp / "adapter_model.safetensors"), "--variants", "base,lora,fp16"]
    args += ["--out", str(out), "--external-data", "--no-check", "--id", "tc-ckpt"]
    assert bp.main(args) == 0
    return {"tmp": tmp, "out": out, "config": config, "model": model, "lora_model": lora_model}


def test_every_graph_has_its_weights_in_external_data(exported):
    out = exported["out"]
    m = json.loads((out / "manifest.json").read_text())
    assert m["id"] == "tc-ckpt" and m["trained"] is True
    graphs = [*m["stages"].values(), m["graphs"]["decoder"], *m["graphs"]["denoisers"].values()]
    assert {g["file"] for g in graphs} >= {"unet.onnx", "unet_fp16.onnx", "decoder.onnx", "text_encoder.onnx"}
    for g in graphs:
        (ext,) = g["externalData"]
        assert ext["file"] == g["file"] + ".data"
        assert (out / ext["file"]).stat().st_size == ext["sizeBytes"] > (out / g["file"]).stat().st_size
    assert m["text"]["contextLength"] == 77 and m["stages"]["text"]["inputs"] == {"tokens": "text"}
    assert not (out / "parity" / "settings.json").exists(), "parity is written for the tiny pack only by default"


def test_graphs_carry_the_checkpoints_weights(exported):
    from models.training.tooncrafter import build_pack as bp

    out, model = exported["out"], exported["model"]
    other = bp.build_model(unet=SMALL_UNET)  # the default seed: what the graphs would hold had the load failed
    feeds = bp.unet_feeds(2)
    got = run_onnx(out / "unet.onnx", {k: v.numpy() for k, v in feeds.items()})["v"]
    with torch.no_grad():
        want = bp.DenoiserGraph(model.model)(*feeds.values()).numpy()
        unloaded = bp.DenoiserGraph(other.model)(*feeds.values()).numpy()
    assert max_diff(got, want) < 1e-4
    assert max_diff(got, unloaded) > 1e-2
    half = run_onnx(out / "unet_fp16.onnx", {k: v.numpy() for k, v in feeds.items()})["v"]
    assert max_diff(half, got) / float(np.abs(got).max()) < 5e-2
    tokens = torch.randint(1, 256, (1, 77))
    with torch.no_grad():
        want = bp.TextEncoderGraph(model)(tokens).numpy()
    assert max_diff(run_onnx(out / "text_encoder.onnx", {"tokens": tokens.numpy()})["embedding"], want) < 1e-4


def test_the_lora_variant_carries_the_trained_lora(exported):
    from models.training.export import LiveLoraScale
    from models.training.tooncrafter import build_pack as bp

    out, lora_model = exported["out"], exported["lora_model"]
    feeds = bp.unet_feeds(2)
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    one = run_onnx(out / "unet_lora.onnx", {**np_feeds, "lora_scale": np.ones(1, np.float32)})["v"]
    zero = run_onnx(out / "unet_lora.onnx", {**np_feeds, "lora_scale": np.zeros(1, np.float32)})["v"]
    with torch.no_grad():
        want = LiveLoraScale(bp.DenoiserGraph(lora_model.model))(*feeds.values(), torch.tensor([1.0])).numpy()
    assert max_diff(one, want) < 1e-4
    assert max_diff(zero, run_onnx(out / "unet.onnx", np_feeds)["v"]) < 1e-5
    assert max_diff(one, zero) > 1e-3
    m = json.loads((out / "manifest.json").read_text())
    assert "adapter_model.safetensors" in next(v for v in m["variants"] if v["id"] == "lora")["description"]


def test_a_lora_file_missing_layers_or_of_another_shape_is_refused(exported, tmp_path):
    from models.training.tooncrafter import build_pack as bp

    target = copy.deepcopy(exported["model"])
    bp.add_lora(target.model.diffusion_model, rank=8, alpha=4.0)
    sd = {k: v for k, v in exported["lora_model"].model.diffusion_model.state_dict().items() if ".lora_" in k}
    first = sorted(sd)[0]
    torch.save({k: v for k, v in sd.items() if k != first}, tmp_path / "partial.pt")
    with pytest.raises(ValueError, match="partial.pt has no LoRA weights for 1 layers"):
        bp.load_lora(target.model.diffusion_model, tmp_path / "partial.pt")
    torch.save({k: v[:, :4] if k == first else v for k, v in sd.items()}, tmp_path / "narrow.pt")
    with pytest.raises(ValueError, match="narrow.pt: .* the layer takes"):
        bp.load_lora(target.model.diffusion_model, tmp_path / "narrow.pt")


def test_safetensors_are_read_in_f32_f16_and_bf16(tmp_path):
    from models.training.tooncrafter.build_pack import read_safetensors

    values = np.array([[1.5, -2.25], [0.0, 3.0]], np.float32)
    bf16 = (values.view(np.uint32) >> 16).astype("<u2")
    write_safetensors(tmp_path / "t.safetensors", {"a": values, "b": values.astype("<f2"), "c": bf16})
    got = read_safetensors(tmp_path / "t.safetensors")
    for k in "abc":
        assert got[k].dtype == torch.float32 and np.array_equal(got[k].numpy(), values), k


def test_the_studio_cli_runs_the_exported_pack_with_a_typed_prompt(exported):
    out, tmp = exported["out"], exported["tmp"]
    run_dir = tmp / "run"
    cmd = ["node", "bin/inbetween.mjs", "interpolate", "--pack", str(out)]
    cmd += ["--start", str(out / "parity" / "start.png"), "--end", str(out / "parity" / "end.png")]
    cmd += ["--out", str(run_dir), "--frames", "3", "--steps", "2", "--text", "a bouncing ball", "--variant", "lora"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert sorted(p.name for p in run_dir.glob("frame_*.png")) == ["frame_01.png", "frame_02.png", "frame_03.png"]
    run = json.loads((run_dir / "run.json").read_text())
    assert run["clip"]["controls"]["promptText"] == "a bouncing ball" and run["variant"] == "lora"


def test_a_checkpoint_of_another_configuration_is_refused(exported, tmp_path):
    from models.training.tooncrafter import build_pack as bp

    torch.save({"state_dict": bp.build_model().state_dict()}, tmp_path / "other.ckpt")  # four levels, not two
    with pytest.raises(RuntimeError, match="Error\\(s\\) in loading state_dict"):
        bp.build_model_from(bp.load_config(exported["config"]), tmp_path / "other.ckpt")


def test_the_inference_config_gives_toon_crafters_sizes():
    from models.training.tooncrafter.build_pack import dims_of, load_config

    cfg = load_config(DEFAULT_CHECKOUT / "configs" / "inference_512_v1.0.yaml")
    d = dims_of(cfg)
    assert (d.width, d.height, d.frames, d.downsample, d.latent_channels) == (512, 320, 16, 8, 4)
    assert (d.context_dim, d.text_tokens, d.image_tokens, d.fs_default) == (1024, 77, 256, 24)
    assert d.prediction == "v_prediction" and d.rescale_zero_snr and d.dynamic_rescale == 0.7
    assert cfg.params.unet_config.params.use_checkpoint is False


def test_the_command_line_refuses_half_a_source(tmp_path):
    from models.training.tooncrafter.build_pack import main

    with pytest.raises(SystemExit):
        main(["--config", str(DEFAULT_CHECKOUT / "configs" / "inference_512_v1.0.yaml"), "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        main(["--tokenizer", str(tmp_path / "t.json")])
