"""The training recipe as data (recipe.py) and its runner (train_pack.py)."""

from __future__ import annotations

import sys

import pytest

from models.training.recipe import (
    DATA_SETS,
    DECODER_RUNS,
    STAGES,
    baseline_checkpoint,
    decoder_checkpoints,
    lora_checkpoint,
    student_checkpoint,
)
from models.training.train_pack import stage_command


def test_stages_are_named_once_and_their_data_sets_exist():
    names = [s.name for s in STAGES]
    assert len(set(names)) == len(names) and all(" " not in n and not n[-1].isdigit() for n in names)
    assert len({s.run for s in STAGES}) == len(STAGES)
    assert all(d in DATA_SETS for s in STAGES for d in s.data)


def test_decoder_stages_keep_their_run_folders_in_order():
    """build_pack.py exports the last of these that has a checkpoint: the folder names and order stay
    those existing runs and the experiment log use."""
    assert DECODER_RUNS == (
        "decoder",
        "decoder2",
        "decoder3",
        "decoder4",
        "decoder5",
        "decoder6",
        "decoder8",
        "decoder12",
        "decoder14",
        "decoder7",
    )


def test_the_last_decoder_checkpoint_is_the_packs(tmp_path):
    for run in ("decoder", "decoder3", "decoder7"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "decoder_last.pt").write_bytes(b"")
    assert [p.parent.name for p in decoder_checkpoints(tmp_path)] == ["decoder", "decoder3", "decoder7"]


@pytest.mark.parametrize(
    "pick, trained, tuned, name",
    [
        (student_checkpoint, "student", "student2", "student"),
        (baseline_checkpoint, "denoiser", "denoiser2", "denoiser"),
        (lora_checkpoint, "lora", "lora2", "lora"),
    ],
)
def test_a_tuned_stage_is_the_packs_when_it_ran(tmp_path, pick, trained, tuned, name):
    for run in (trained, tuned):
        (tmp_path / run).mkdir()
    (tmp_path / trained / f"{name}_last.pt").write_bytes(b"")
    assert pick(tmp_path) == tmp_path / trained / f"{name}_last.pt"
    (tmp_path / tuned / f"{name}_last.pt").write_bytes(b"")
    assert pick(tmp_path) == tmp_path / tuned / f"{name}_last.pt"


def test_the_tuning_stages_run_after_what_they_tune():
    names = [s.name for s in STAGES]
    stages = {s.name: s for s in STAGES}
    assert stages["student-decoder"].run == "runs/student2" and stages["student-decoder"].trainer == "tune_student"
    baseline = stages["baseline-decoder"]
    assert baseline.run == "runs/denoiser2" and baseline.trainer == "tune_student"
    args = list(baseline.args)
    assert args[args.index("--role") + 1] == "baseline" and args[args.index("--sample-steps") + 1] == "25"
    # the student is distilled from the untuned baseline; the LoRA trained again on the tuned one
    assert names.index("student") < names.index("baseline-decoder") < names.index("lora-tuned-base")
    lora = stages["lora-tuned-base"]
    args, first = list(lora.args), list(stages["lora"].args)
    assert args[args.index("--base") + 1] == "runs/denoiser2/denoiser_last.pt" and lora.run == "runs/lora2"
    assert [a for a in args if a != args[args.index("--base") + 1]] == [
        a for a in first if a != first[first.index("--base") + 1]
    ]  # otherwise as the lora stage


def test_a_stage_runs_its_trainer_as_a_module_with_steps_from_the_environment(monkeypatch):
    stage = next(s for s in STAGES if s.name == "decoder-fitted")
    monkeypatch.setenv(stage.steps_env, "7")
    cmd = stage_command(stage)
    assert cmd[:3] == [sys.executable, "-m", "models.training.train_decoder"]
    assert cmd[-4:] == ["--run", "runs/decoder6", "--steps", "7"]
    assert cmd[cmd.index("--init") + 1] == "runs/decoder5/decoder_last.pt"
