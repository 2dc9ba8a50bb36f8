"""The TV-like triplet builder (issue 20's validation stand-in for real drawn animation): ATD-12K
layout at 512×320, exact and deterministic middle frames, motions of TV size, split by seed."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from models.training.cel_model import backward_warp
from models.training.data import tvlike


def test_layout_split_and_extra_positions(tmp_path):
    for i in range(2):
        tvlike.write_clip(tmp_path, "train", i, extra_taus=2)
    tvlike.write_clip(tmp_path, "val", tvlike.VAL_SEED_OFFSET)
    tvlike.write_clip(tmp_path, "flows", 5, with_flows=True)
    saved = np.load(tmp_path / "flows" / "tv_00000005" / "flows_0.500.npz")
    assert saved["to_start"].shape == saved["to_end"].shape == (2, tvlike.HEIGHT, tvlike.WIDTH)
    train = sorted((tmp_path / "train").iterdir())
    val = sorted((tmp_path / "val").iterdir())
    assert len(train) == 2 and len(val) == 1
    assert not {p.name for p in train} & {p.name for p in val}
    for clip in train + val:
        for i in (1, 2, 3):
            assert Image.open(clip / f"frame{i}.png").size == (tvlike.WIDTH, tvlike.HEIGHT)
    assert len(list(train[0].glob("tau_*.png"))) == 2
    assert not list(val[0].glob("tau_*.png"))
    # Written whole (clipdir.py): a rerun keeps a whole clip and completes one that lacks the flows asked for.
    stamp = (train[0] / "frame2.png").stat().st_mtime_ns
    assert tvlike.write_clip(tmp_path, "train", 0, extra_taus=2) == train[0]
    assert (train[0] / "frame2.png").stat().st_mtime_ns == stamp
    tvlike.write_clip(tmp_path, "train", 0, extra_taus=2, with_flows=True)
    assert (train[0] / "flows_0.500.npz").exists() and len(list(train[0].glob("tau_*.png"))) == 2
    assert not any((tmp_path / ".partial" / "train").iterdir())


def test_middle_frame_is_exact_and_motion_is_tv_sized():
    seed = 20_000_003
    f1, f2, f3 = (np.asarray(tvlike.render(tvlike.make_scene(seed), t), dtype=np.int16) for t in (0.0, 0.5, 1.0))
    again = np.asarray(tvlike.render(tvlike.make_scene(seed), 0.5), dtype=np.int16)
    assert np.array_equal(f2, again), "rendering is deterministic"
    assert np.abs(f2 - (f1 + f3) / 2).mean() > 1.0, "the middle frame is not the blend"
    for s in range(20):
        for c in tvlike.make_scene(tvlike.VAL_SEED_OFFSET + s).characters:
            travel = float(np.linalg.norm(c.end - c.start))
            assert 12 <= travel <= 100, travel  # 20–100 px, vertical part damped by 0.6


def test_cel_look_has_shading_and_ink():
    img = np.asarray(tvlike.render(tvlike.make_scene(tvlike.VAL_SEED_OFFSET + 1), 0.0))
    assert (img.max(axis=2) < 60).sum() > 200, "ink outlines"
    # Painted backgrounds and gradients: many distinct colours, unlike flat procedural fills.
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 5000


def _tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img, np.float32)).permute(2, 0, 1)[None]


def test_true_flows_carry_each_keyframe_onto_the_middle_frame():
    """Frame 0 (and frame 1) warped along the true backward flows rebuilds the middle frame wherever
    the same thing is visible in both, far better than the keyframe left where it is."""
    for seed in (tvlike.VAL_SEED_OFFSET + 1, tvlike.VAL_SEED_OFFSET + 4):
        scene = tvlike.make_scene(seed)
        flows, here = tvlike.flows(scene, 0.5)
        middle = _tensor(tvlike.render(scene, 0.5))
        assert np.abs(flows).max() > 20, "the clip moves by tens of pixels"
        for i, u in enumerate((0.0, 1.0)):
            ids = np.zeros((tvlike.HEIGHT * tvlike.SS, tvlike.WIDTH * tvlike.SS), np.int32)
            key = _tensor(tvlike.render(scene, u, ids))
            flow = torch.from_numpy(flows[i])[None]
            there = backward_warp(torch.from_numpy(tvlike.output_ids(ids).astype(np.float32))[None, None], flow)
            visible = there[0, 0].round().numpy() == here
            assert visible.mean() > 0.8
            warped = (backward_warp(key, flow) - middle).abs().mean(1)[0].numpy()[visible].mean()
            still = (key - middle).abs().mean(1)[0].numpy()[visible].mean()
            assert warped < 2.5 and warped < 0.5 * still, (seed, u, warped, still)


def test_backfill_adds_the_flows_a_clip_was_written_without(tmp_path):
    with_flows = tvlike.write_clip(tmp_path / "a", "train", 5, with_flows=True)
    bare = tvlike.write_clip(tmp_path / "b", "train", 5)
    assert not (bare / "flows_0.500.npz").exists()
    assert tvlike.backfill_flows(tmp_path / "b" / "train") == 1
    assert tvlike.backfill_flows(tmp_path / "b" / "train") == 0  # nothing left to add
    want, got = np.load(with_flows / "flows_0.500.npz"), np.load(bare / "flows_0.500.npz")
    for k in ("to_start", "to_end"):
        assert np.array_equal(want[k], got[k])


def test_visibility_marks_what_a_keyframe_hides_and_a_warp_rebuilds_the_rest():
    """`visibility`: the keyframe warped along the true flow matches the middle frame where the pixel is
    marked visible in it, and not where it is marked hidden (something else covers that place)."""
    scene = tvlike.make_scene(tvlike.VAL_SEED_OFFSET + 1)
    seen, flows = tvlike.visibility(scene)
    assert seen.shape == (2, tvlike.HEIGHT, tvlike.WIDTH) and seen.dtype == bool
    assert np.array_equal(flows, tvlike.flows(scene, 0.5)[0])
    middle = _tensor(tvlike.render(scene, 0.5))
    for i, u in enumerate((0.0, 1.0)):
        assert 0.6 < seen[i].mean() < 0.995, "most of the frame is visible, some of it hidden"
        key = _tensor(tvlike.render(scene, u))
        diff = (backward_warp(key, torch.from_numpy(flows[i])[None]) - middle).abs().mean(1)[0].numpy()
        assert diff[seen[i]].mean() < 2.5 and diff[~seen[i]].mean() > 10 * diff[seen[i]].mean(), (u, diff)
    # A thing hidden in both keyframes is rarer than one hidden in either.
    assert (seen.sum(0) == 0).mean() < min((~seen[0]).mean(), (~seen[1]).mean())
