"""activation_memory.py (issue 23's memory estimate): the peak of live tensors of one call, on
graphs small enough to count by hand."""
import json
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.training.activation_memory import peak_activation_bytes, probe_graph

REPO = __import__("pathlib").Path(__file__).resolve().parents[3]
F = TensorProto.FLOAT


def _save(tmp_path, nodes, inputs, outputs, inits=(), name="g.onnx"):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(m)
    p = tmp_path / name
    onnx.save(m, str(p))
    return p


def test_counts_what_is_alive_at_once(tmp_path):
    # x [1,4,8,8] float32 = 1024 B. a = Relu(x); b = x·w (w a weight, not counted);
    # c = Concat(a, b) (2048 B) — the peak: x + a + b + c = 5120 B; then y = ReduceMean(c) (4 B).
    w = numpy_helper.from_array(np.array([2.0], np.float32), "w")
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Mul", ["x", "w"], ["b"]),
        helper.make_node("Concat", ["a", "b"], ["c"], axis=1),
        helper.make_node("ReduceMean", ["c"], ["y"], keepdims=1),
    ]
    p = _save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", F, ["n", 4, "h", "w"])],
        [helper.make_tensor_value_info("y", F, [1, 1, 1, 1])],
        [w],
    )
    r = peak_activation_bytes(p, {"x": [1, 4, 8, 8]})
    assert r == {"peakBytes": 5120, "unknown": []}
    # Shapes are the ones given: twice the height, twice the bytes.
    assert peak_activation_bytes(p, {"x": [1, 4, 16, 8]})["peakBytes"] == 10240


def test_frees_a_tensor_after_its_last_reader(tmp_path):
    # A chain: x → a → b → y, each 1024 B; at most two are alive at once beside the input x.
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("Neg", ["a"], ["b"]),
        helper.make_node("Abs", ["b"], ["y"]),
    ]
    p = _save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", F, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("y", F, [1, 4, 8, 8])],
    )
    assert peak_activation_bytes(p, {"x": [1, 4, 8, 8]})["peakBytes"] == 3 * 1024


def test_lists_what_shape_inference_cannot_size_and_takes_it_from_a_probe(tmp_path):
    # A Reshape to a shape that arrives as an input: its output has no static shape.
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Relu", ["r"], ["y"]),
    ]
    p = _save(
        tmp_path,
        nodes,
        [
            helper.make_tensor_value_info("x", F, [1, 4, 8, 8]),
            helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
        ],
        [helper.make_tensor_value_info("y", F, ["p", "q"])],
    )
    dims = {"x": [1, 4, 8, 8], "shape": [2]}
    first = peak_activation_bytes(p, dims)
    assert "r" in first["unknown"]
    # The probe copy outputs r too, with its element type; y, an output already, is fetched as it is.
    probe = tmp_path / "probe.onnx"
    assert "y" in first["unknown"]
    assert probe_graph(p, probe, first["unknown"]) == [n for n in first["unknown"] if n in ("r", "y")]
    assert sorted(o.name for o in onnx.load(str(probe)).graph.output) == ["r", "y"]
    # Sized (as a run would): x 1024 + shape 16 + r 1024 + y 1024.
    r = peak_activation_bytes(p, dims, {"r": 1024, "y": 1024})
    assert r == {"peakBytes": 1024 + 16 + 1024 + 1024, "unknown": []}


def test_command_line(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"])]
    p = _save(
        tmp_path,
        nodes,
        [helper.make_tensor_value_info("x", F, [1, 2])],
        [helper.make_tensor_value_info("y", F, [1, 2])],
    )
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({str(p): {"inputs": {"x": [3, 5]}}}))
    out = subprocess.run(
        [sys.executable, "-m", "models.training.activation_memory", "peaks", str(spec)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout) == {str(p): {"peakBytes": 2 * 60, "unknown": []}}


def test_contrib_elementwise_ops_keep_their_shape(tmp_path):
    # quantize_int8.py fuses x·σ(x) into com.microsoft QuickGelu; onnx knows no schema for it (and
    # 1.12's data propagation segfaults on it). Same chain as above with QuickGelu in the middle.
    nodes = [
        helper.make_node("Relu", ["x"], ["a"]),
        helper.make_node("QuickGelu", ["a"], ["b"], domain="com.microsoft", alpha=1.0),
        helper.make_node("Abs", ["b"], ["y"]),
    ]
    g = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", F, ["n", 4, "h", "w"])],
        [helper.make_tensor_value_info("y", F, None)],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    p = tmp_path / "quickgelu.onnx"
    onnx.save(m, str(p))
    assert peak_activation_bytes(p, {"x": [1, 4, 8, 8]}) == {"peakBytes": 3072, "unknown": []}
    # The probe keeps the contrib op (onnxruntime runs it) and still knows b's type.
    assert probe_graph(p, tmp_path / "probe.onnx", ["b"]) == ["b"]
    probed = onnx.load(str(tmp_path / "probe.onnx"))
    assert [n.op_type for n in probed.graph.node] == ["Relu", "QuickGelu", "Abs"]
