"""The learned motion graph's matching branch (flow_net.py, `--corr-radius`): it finds a known
displacement, starts inactive on a net trained without it, exports to ONNX and reads back from a pack's
graph."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.training.export import SPATIAL, export_module
from models.training.flow_net import FlowNet, MotionGraph, load_motion_net
from models.training.from_pack import read_motion_net
from models.training.ort_node import run_onnx


def _noise(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    grid = torch.rand(1, 3, h // 4 + 3, w // 4 + 3, generator=g) * 2 - 1
    return F.interpolate(grid, scale_factor=4, mode="bilinear", align_corners=False)[..., :h, :w]


def test_matching_cost_peaks_at_the_displacement_through_the_middle_frame():
    torch.manual_seed(0)
    net = FlowNet(corr_radius=2).eval()
    canvas = _noise(192, 320)
    # The canvas moves by (32, 16) px from the start keyframe to the end one: what the middle frame
    # shows at x was at x − (16, 8) and will be at x + (16, 8): m = 16·d with d = (2, 1) cells at 1/8.
    start = canvas[..., 32:160, 64:256]
    end = canvas[..., 16:144, 32:224]
    with torch.no_grad():
        out = net.match8(start, end)
    n = (2 * 2 + 1) ** 2
    cost, disp = out[:, :n], out[:, n:]
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))  # cells whose ±2 neighbours are inside
    best = cost[inner].argmax(1)
    offsets = [(dx, dy) for dy in range(-2, 3) for dx in range(-2, 3)]
    assert (best == offsets.index((2, 1))).float().mean() > 0.95
    assert cost[inner][:, offsets.index((2, 1))].median() > 0.999  # cosine 1 (but near the crops' borders)
    # Its soft-argmax leans the same way (untrained features match neighbours too, so it is blurred).
    assert disp[inner][:, 0].median() > 0.3 and disp[inner][:, 1].median() > 0.2
    # The other order sees the opposite displacement.
    with torch.no_grad():
        back = net.match8(end, start)[:, :n][inner].argmax(1)
    assert (back == offsets.index((-2, -1))).float().mean() > 0.95


def test_the_branch_starts_inactive_on_a_net_trained_without_it():
    torch.manual_seed(1)
    old = FlowNet().eval()
    new = FlowNet(corr_radius=3).eval()
    missing = new.warm_start(old.state_dict())
    assert missing and all(k.startswith(FlowNet.CORR_MODULES) for k in missing)
    a, b = torch.rand(1, 3, 128, 192) * 2 - 1, torch.rand(1, 3, 128, 192) * 2 - 1
    with torch.no_grad():
        assert torch.equal(new(a, b), old(a, b))
        new.corr_in.weight.normal_()
        assert not torch.allclose(new(a, b), old(a, b))
    # A checkpoint of either shape loads as what it is.
    assert load_motion_net({"ema": new.state_dict()}).corr_radius == 3
    assert load_motion_net({"motion_net": old.state_dict()}).corr_radius == 0


def test_a_matching_net_exports_and_reads_back_from_its_graph(tmp_path):
    torch.manual_seed(2)
    net = FlowNet(corr_radius=2, corr_width=16).eval()
    with torch.no_grad():
        for p in net.parameters():  # every weight non-trivial, so the read-back is checked for all
            p.add_(torch.randn_like(p) * 0.05)
    graph = MotionGraph(net).eval()
    image = torch.rand(1, 3, 64, 128) * 2 - 1
    path = tmp_path / "motion.onnx"
    path.write_bytes(
        export_module(
            graph,
            (image, image),
            ["start_image", "end_image"],
            ["motion"],
            {"start_image": SPATIAL, "end_image": SPATIAL, "motion": SPATIAL},
        )
    )
    for h, w in [(128, 192), (192, 320)]:
        a, b = torch.rand(1, 3, h, w) * 2 - 1, torch.rand(1, 3, h, w) * 2 - 1
        with torch.no_grad():
            want = graph(a, b)
        got = run_onnx(path, {"start_image": a.numpy(), "end_image": b.numpy()})["motion"]
        assert torch.allclose(torch.from_numpy(got), want, atol=1e-3), (h, w)
    back = read_motion_net(path)
    assert back is not None and back.corr_radius == 2
    state = net.state_dict()
    assert all(torch.equal(back.state_dict()[k], state[k]) for k in state)
