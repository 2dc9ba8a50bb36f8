"""The motion fusion (motion_fusion.py): it starts as the hand-made pick between the learned motion and
OpenCV's, a clip played backwards gets exactly the opposite motion, it takes OpenCV's motion where only
that one's warps agree, and it exports to ONNX with a `classical_motion` input and reads back from a
pack's graph."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from models.training.cel_model import reversed_motion
from models.training.classical_flow import opencv_motion
from models.training.export import SPATIAL, export_module
from models.training.flow_net import FlowNet
from models.training.from_pack import read_fusion
from models.training.motion_fusion import START_GAIN, MotionFusion, OpenCVFusion, disagreement
from models.training.ort_node import run_onnx


def _perturbed(module: torch.nn.Module, seed: int, scale: float = 0.05) -> torch.nn.Module:
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():  # every weight non-trivial, so the read-back is checked for all
            p.add_(torch.randn_like(p) * scale)
    return module.eval()


def _texture(h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    grid = torch.rand(1, 3, h // 8 + 3, w // 8 + 3, generator=g) * 2 - 1
    return F.interpolate(grid, scale_factor=8, mode="bicubic", align_corners=False)[..., :h, :w].clamp(-1, 1)


def test_it_starts_as_the_soft_pick_and_a_reversed_clip_gets_the_opposite_motion():
    fusion = MotionFusion(_perturbed(FlowNet(), 0)).eval()
    s, e = _texture(128, 192, 1), _texture(128, 192, 2)
    classical = torch.randn(1, 4, 128, 192) * 3
    with torch.no_grad():
        got = fusion(s, e, classical)
        learned = fusion.net(s, e)[:, :2]
        mc = 0.5 * (classical[:, :2] - classical[:, 2:])
        w = torch.sigmoid(START_GAIN * (disagreement(s, e, learned) - disagreement(s, e, mc)))
        want = learned + w * (mc - learned)
        assert torch.allclose(got, torch.cat([want, -want], 1), atol=1e-5)
        assert 0.0 < float(w.mean()) < 1.0
        # Played backwards: the keyframes swap, OpenCV's two flows swap, and m changes sign exactly.
        fusion.head[-1].weight.normal_(0, 0.1)  # also with a trained head
        forwards = fusion(s, e, classical)
        backwards = fusion(e, s, reversed_motion(classical))
    assert torch.allclose(backwards, -forwards, atol=1e-4)


def test_it_takes_opencvs_motion_where_only_that_ones_warps_agree():
    """A texture moved 6 px right: OpenCV's flows find it; a learned net that sees no motion does not.
    The fused motion follows OpenCV's inside the picture."""
    big = _texture(128 + 16, 192 + 16, 3)
    s, e = big[..., 8:-8, 5:-11], big[..., 8:-8, 11:-5]  # e shows the texture moved 6 px left: m = −6 px
    net = FlowNet().eval()
    with torch.no_grad():
        net.out.weight.zero_()  # the learned net says: nothing moves
        fused = OpenCVFusion(MotionFusion(net).eval())(s, e)
        cv = opencv_motion(s, e)
    inner = (..., slice(24, -24), slice(24, -24))
    mc = 0.5 * (cv[:, 0] - cv[:, 2])
    assert abs(float(mc[inner].median()) + 6.0) < 0.5  # OpenCV finds the motion
    assert abs(float(fused[:, 0][inner].median()) + 6.0) < 0.5
    assert float((fused[:, 0] - mc)[inner].abs().mean()) < 0.5


def test_it_exports_with_a_classical_input_and_reads_back_from_its_graph(tmp_path):
    net = _perturbed(FlowNet(corr_radius=1, corr_width=8), 4)
    fusion = _perturbed(MotionFusion(net), 5)
    names = ["start_image", "end_image", "classical_motion"]
    example = (torch.rand(1, 3, 64, 128) * 2 - 1, torch.rand(1, 3, 64, 128) * 2 - 1, torch.randn(1, 4, 64, 128))
    path = tmp_path / "motion.onnx"
    path.write_bytes(export_module(fusion, example, names, ["motion"], {k: SPATIAL for k in names + ["motion"]}))
    for h, w in [(128, 192), (192, 320)]:
        feeds = {"start_image": _texture(h, w, 6), "end_image": _texture(h, w, 7)}
        feeds["classical_motion"] = opencv_motion(feeds["start_image"], feeds["end_image"])
        with torch.no_grad():
            want = fusion(*feeds.values())
        got = run_onnx(path, {k: v.numpy() for k, v in feeds.items()})["motion"]
        assert torch.allclose(torch.from_numpy(got), want, atol=2e-3), (h, w)
    back = read_fusion(path, net)
    state = fusion.state_dict()
    assert back.state_dict().keys() == state.keys()
    assert all(torch.equal(back.state_dict()[k], state[k]) for k in state)
