"""The training recipe as data (recipe.py) and its runner (train_pack.py)."""

from __future__ import annotations

import sys

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
        "decoder7",
    )


def test_the_last_decoder_checkpoint_is_the_packs(tmp_path):
    for run in ("decoder", "decoder3", "decoder7"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "decoder_last.pt").write_bytes(b"")
    assert [p.parent.name for p in decoder_checkpoints(tmp_path)] == ["decoder", "decoder3", "decoder7"]


def test_the_tuned_student_is_the_packs_when_it_ran(tmp_path):
    for run in ("student", "student2"):
        (tmp_path / run).mkdir()
    (tmp_path / "student" / "student_last.pt").write_bytes(b"")
    assert student_checkpoint(tmp_path) == tmp_path / "student" / "student_last.pt"
    (tmp_path / "student2" / "student_last.pt").write_bytes(b"")
    assert student_checkpoint(tmp_path) == tmp_path / "student2" / "student_last.pt"
    stage = next(s for s in STAGES if s.name == "student-decoder")
    assert stage.run == "runs/student2" and stage.trainer == "tune_student"


def test_the_tuned_baseline_is_the_packs_when_it_ran(tmp_path):
    for run in ("denoiser", "denoiser2"):
        (tmp_path / run).mkdir()
    (tmp_path / "denoiser" / "denoiser_last.pt").write_bytes(b"")
    assert baseline_checkpoint(tmp_path) == tmp_path / "denoiser" / "denoiser_last.pt"
    (tmp_path / "denoiser2" / "denoiser_last.pt").write_bytes(b"")
    assert baseline_checkpoint(tmp_path) == tmp_path / "denoiser2" / "denoiser_last.pt"
    stage = next(s for s in STAGES if s.name == "baseline-decoder")
    assert stage.run == "runs/denoiser2" and stage.trainer == "tune_student"
    args = list(stage.args)
    assert args[args.index("--role") + 1] == "baseline" and args[args.index("--sample-steps") + 1] == "25"
    assert [s.name for s in STAGES].index("baseline-decoder") > [s.name for s in STAGES].index("lora")


def test_the_lora_trained_on_the_tuned_baseline_is_the_packs_when_it_ran(tmp_path):
    for run in ("lora", "lora2"):
        (tmp_path / run).mkdir()
    (tmp_path / "lora" / "lora_last.pt").write_bytes(b"")
    assert lora_checkpoint(tmp_path) == tmp_path / "lora" / "lora_last.pt"
    (tmp_path / "lora2" / "lora_last.pt").write_bytes(b"")
    assert lora_checkpoint(tmp_path) == tmp_path / "lora2" / "lora_last.pt"
    names = [s.name for s in STAGES]
    stage = STAGES[names.index("lora-tuned-base")]
    assert names.index("lora-tuned-base") > names.index("baseline-decoder")
    args = list(stage.args)
    assert args[args.index("--base") + 1] == "runs/denoiser2/denoiser_last.pt" and stage.run == "runs/lora2"
    first = list(STAGES[names.index("lora")].args)
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
