"""trainlib's run controls: the wall-clock step budget (--minutes), the device choice (--device) and
checkpoints that hold CPU tensors whatever device trained them."""
from __future__ import annotations

import random

import pytest
import torch

from models.training import trainlib
from models.training.trainlib import Checkpoint, StepBudget, pick_device


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_without_a_budget_the_requested_steps_stand():
    budget = StepBudget(None)
    assert [budget.total(s, 500) for s in (0, 200, 499)] == [500, 500, 500]


def test_budget_fits_the_step_count_to_the_measured_rate(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(trainlib.time, "time", clock)
    budget = StepBudget(minutes=2, every=10)  # deadline 120 s from now
    assert budget.total(0, 10_000) == 10_000  # nothing measured yet: the request stands
    for step in range(1, 11):
        clock.now += 0.5  # 0.5 s a step
        total = budget.total(step, 10_000)
    # after 10 timed steps (5 s): 115 s left at 0.5 s a step -> 230 more
    assert total == 10 + 230
    for step in range(11, 21):
        clock.now += 1.0  # the GPU got shared: 1 s a step from here
        total = budget.total(step, 10_000)
    assert total == 20 + 105  # 105 s left at the recent rate
    assert StepBudget(minutes=60, every=1).total(0, 40) == 40  # never more than requested
    clock.now += 10_000  # past the deadline: finish the step in hand
    assert budget.total(21, 10_000) == 22


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="no CUDA device"):
            pick_device("cuda")


def test_checkpoints_hold_cpu_tensors_and_resume(tmp_path):
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    ckpt = Checkpoint(tmp_path, "m")
    ckpt.save(7, random.Random(1), {"note": "x"}, model=model, opt=opt)
    state = torch.load(tmp_path / "m_last.pt")
    tensors = [v for v in state["model"].values()] + [
        v for s in state["opt"]["state"].values() for v in s.values() if isinstance(v, torch.Tensor)
    ]
    assert tensors and all(t.device.type == "cpu" for t in tensors)
    again = torch.nn.Linear(3, 2)
    assert Checkpoint(tmp_path, "m").resume(random.Random(2), model=again) == 7
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), model.state_dict().values()))
