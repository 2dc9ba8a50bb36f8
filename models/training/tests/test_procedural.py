"""The procedural triplet builder: ATD-12K layout, exact middle frames, deterministic, split by clip."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from models.training.data import procedural


def _px(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_layout_and_sizes(tmp_path):
    procedural.build(tmp_path, n_train=3, n_val=2)
    train = sorted((tmp_path / "train").iterdir())
    val = sorted((tmp_path / "val").iterdir())
    assert len(train) == 3 and len(val) == 2
    assert not {p.name for p in train} & {p.name for p in val}, "a clip is in both splits"
    for clip in train + val:
        frames = [clip / f"frame{i}.png" for i in (1, 2, 3)]
        sizes = {Image.open(f).size for f in frames}
        assert len(sizes) == 1 and sizes.pop() in procedural.SIZES


def test_middle_frame_is_exactly_t_half_and_motion_is_real():
    scene = procedural.make_scene(1234, (256, 160))
    f1, f2, f3 = (np.asarray(procedural.render(scene, t), dtype=np.int16) for t in (0.0, 0.5, 1.0))
    again = np.asarray(procedural.render(procedural.make_scene(1234, (256, 160)), 0.5), dtype=np.int16)
    assert np.array_equal(f2, again), "rendering is deterministic"
    # Something moves, and the middle frame is not simply the blend of its neighbours.
    assert np.abs(f1 - f3).mean() > 0.5
    blend = (f1 + f3) / 2
    assert np.abs(f2 - blend).mean() > 0.1


def test_cel_look_has_flat_fills_and_dark_outlines():
    seed = next(s for s in range(100) if procedural.make_scene(s, (320, 192)).background == "flat")
    img = np.asarray(procedural.render(procedural.make_scene(seed, (320, 192)), 0.0))
    # Flat fills: few distinct colours dominate.
    colours, counts = np.unique(img.reshape(-1, 3), axis=0, return_counts=True)
    assert counts.max() > 0.05 * img.shape[0] * img.shape[1]
    # Outlines: some pixels are much darker than the fills.
    assert (img.max(axis=2) < 80).sum() > 50


def test_graded_twins_keep_seeds_positions_and_grade_every_frame(tmp_path):
    """data/grade.py: a graded twin of each clip (same seed, same in-between positions) whose every
    frame is the original through the grade's per-channel affine map; the twins pair up as style pairs."""
    from models.training.data import grade
    from models.training.latents import seed_of

    procedural.build(tmp_path / "src", n_train=2, n_val=1)
    assert grade.grade_set(tmp_path / "src", tmp_path / "sepia", "sepia") == 3
    gain, offset = (np.asarray(v) for v in grade.GRADES["sepia"])
    for split in ("train", "val"):
        src = sorted((tmp_path / "src" / split).iterdir())
        out = sorted((tmp_path / "sepia" / split).iterdir())
        assert [seed_of(p.name) for p in out] == [seed_of(p.name) for p in src]
        assert all(p.name.startswith("sepia_") for p in out)
        for a, b in zip(src, out):
            assert sorted(f.name for f in a.iterdir()) == sorted(f.name for f in b.iterdir())
            for f in a.glob("*.png"):
                want = np.clip(np.rint(_px(f) * gain + offset), 0, 255)
                assert np.abs(_px(b / f.name) - want).max() <= 1
    # Half the contrast and brown: the graded frames' spread is about half the original's.
    f = sorted((tmp_path / "src" / "val").iterdir())[0] / "frame2.png"
    g = sorted((tmp_path / "sepia" / "val").iterdir())[0] / "frame2.png"
    assert _px(g).std() < 0.6 * _px(f).std()
    r, gr, b = (_px(g)[..., c].mean() for c in range(3))
    assert r > gr > b
    with pytest.raises(SystemExit, match="unknown grade"):
        grade.grade_set(tmp_path / "src", tmp_path / "x", "teal")
    with pytest.raises(SystemExit, match="no clip folders"):
        grade.grade_set(tmp_path / "sepia" / "train", tmp_path / "y", "sepia")


def test_a_killed_build_leaves_no_half_clip_and_a_rerun_finishes_it(tmp_path):
    # A run killed while writing a clip left its files in .partial/, outside the split the loaders read.
    stale = tmp_path / ".partial" / "train" / "proc_0000001"
    stale.mkdir(parents=True)
    (stale / "frame1.png").write_bytes(b"half a png")
    # …and an earlier, non-atomic build left a clip without its middle frame.
    broken = tmp_path / "train" / "proc_0000000"
    broken.mkdir(parents=True)
    (broken / "frame1.png").write_bytes(b"old")
    procedural.build(tmp_path, n_train=2, n_val=0, extra_taus=1)
    clips = sorted(p.name for p in (tmp_path / "train").iterdir())
    assert clips == ["proc_0000000", "proc_0000001"]
    for clip in clips:
        files = sorted(p.name for p in (tmp_path / "train" / clip).iterdir())
        assert files[:3] == ["frame1.png", "frame2.png", "frame3.png"] and len(files) == 4
        Image.open(tmp_path / "train" / clip / "frame1.png").verify()
    assert not any((tmp_path / ".partial" / "train").iterdir())
    # A clip written whole is kept as it is by a rerun (the seed decides its content).
    done = tmp_path / "train" / "proc_0000000" / "frame2.png"
    stamp = done.stat().st_mtime_ns
    procedural.build(tmp_path, n_train=2, n_val=0, extra_taus=1)
    assert done.stat().st_mtime_ns == stamp
