"""The sampler references of issue 23: the independent numpy samplers' fixture is current, and the committed
reference packs' parity/expected.json is what those samplers make around the committed graphs."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from models.training import reference_packs as rp

REPO = rp.REPO


def test_sampler_fixture_is_current():
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "reference" / "samplers_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("kind", ["svd", "flow", "lcm", "wan", "ltx"])
def test_expected_runs_come_from_the_reference_samplers(kind):
    out = rp.DEFAULT_OUT / rp.m_id(kind)
    manifest = json.loads((out / "manifest.json").read_text())
    runs = json.loads((out / "parity" / "expected.json").read_text())["runs"]
    sampler, steps, controls = rp.PARITY_RUNS[kind][0]
    run = runs[0]
    assert (run["sampler"], run["steps"], run["controls"]) == (sampler, steps, controls)
    lat = rp.reference_run(kind, out, manifest, sampler, steps, controls, run["seed"])
    np.testing.assert_allclose(lat.reshape(-1), np.array(run["latent"], np.float32), rtol=0, atol=1e-5)


def test_the_svd_pack_has_the_svd_shape():
    m = json.loads((rp.DEFAULT_OUT / "svd-tiny" / "manifest.json").read_text())
    den = m["graphs"]["denoisers"]["base"]
    assert den["concat"] == ["condition", "mask"]
    assert set(den["feeds"].values()) == {
        "stage:clip/embeddings",
        "scalar:fps",
        "scalar:motionBucket",
        "scalar:augLevel",
    }
    assert m["scheduler"]["type"] == "edm" and m["scheduler"]["prediction"] == "v_prediction"
    assert m["augmentation"]["scalar"] == "augLevel"
    assert den["unconditionalCondition"] == "zeros" and m["guidance"]["frameRamp"] == {"from": 1.0}
    # Framer's condition: unscaled posterior modes, the UNet's mask_token between, 1 at the frames to make.
    assert den["conditionLatent"] == {"latents": "unscaled", "between": "constant:mask_token", "mask": "inbetweens"}
    assert m["constants"]["mask_token"]["shape"] == [m["latent"]["channels"]]
    # SVD's CLIP image embedding: of the clean keyframes (the noise goes to the VAE's), zeros when unconditional.
    assert den["feeds"]["image_embeddings"] == "stage:clip/embeddings"
    assert den["unconditional"] == {"image_embeddings": "constant:negativeImageEmbeddings"}
    assert m["augmentation"]["stages"] == ["vae"] and m["stages"]["clip"]["inputs"] == {"images": "keyframes:pair"}


def test_the_wan_mask_folds_nine_frames_into_three_latent_frames():
    # 9 frames → the first repeated 4 times → 12 → 3 latent frames × 4 channels. Latent frame 0 holds
    # the first frame (all ones), latent frame 1 frames 1–4 (zeros), latent frame 2 frames 5–8, of which
    # only the last (channel 3) is given.
    msk = rp.wan_frame_mask(9, 2, 3)
    assert tuple(msk.shape) == (4, 3, 2, 3)
    want = np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 1]], np.float32)
    np.testing.assert_array_equal(msk[:, :, 0, 0].numpy(), want)
    m = json.loads((rp.DEFAULT_OUT / "wan-tiny" / "manifest.json").read_text())
    assert m["latent"]["temporalDownsample"] == 4 and m["frames"]["clipLength"] == 9
    assert m["graphs"]["denoisers"]["student"]["conditionLatent"]["source"] == "stage:vae/clip"


def test_the_ltx_pack_conditions_by_replacing_latent_frames():
    # The start keyframe's latent frame and the appended end one are LTX's hard conditioning (mask 1):
    # the wrapper gives them timestep 0 (min(t, (1 − mask)·1000)) and the others the step's.
    den = rp.LtxDenoiser().eval()
    np.testing.assert_array_equal(den.mask.numpy(), np.array([1, 0, 1], np.float32))
    got = den.frame_timesteps(torch.tensor([900.0, 37.5]))
    np.testing.assert_array_equal(got.numpy(), np.array([[0, 900, 0], [0, 37.5, 0]], np.float32))
    m = json.loads((rp.DEFAULT_OUT / "ltx-tiny" / "manifest.json").read_text())
    spec = m["graphs"]["denoisers"]["base"]
    assert spec["replace"] == {"end": "appended", "noiseScale": 0.15}
    assert "condition" not in spec["inputs"] and "concat" not in spec
    assert m["scheduler"]["schedule"] == "linear_quadratic" and m["latent"]["temporalDownsample"] == 8
