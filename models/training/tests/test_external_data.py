"""Graphs saved with external data (models/training/tooncrafter/build_pack.py `save_onnx`): weights past
one file's limit are spread over `<name>.data`, `<name>.data.1`, … that the studio takes (files of up to
4 GiB − 64 KiB; ToonCrafter's fp32 UNet is 5.8 GB), listed in order in the manifest's file entry."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from models.training.tooncrafter import build_pack


def small_graph(sizes: list[int]) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(n).astype(np.float32) for n in sizes]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [sizes[0]])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [sizes[0]])
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w0"], ["y"])],
        "g",
        [x],
        [y],
        [numpy_helper.from_array(w, f"w{i}") for i, w in enumerate(weights)],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), weights


def test_weights_past_a_file_go_to_the_next_files_in_order(tmp_path):
    # 2400, 2800, 1200, 8000 and 1200 bytes in files of at most 4096: the second does not fit beside
    # the first, the third joins it, the fourth is alone (bigger than a file), the fifth starts another.
    proto, weights = small_graph([600, 700, 300, 2000, 300])
    path = tmp_path / "unet.onnx"
    (tmp_path / "unet.onnx.data.7").write_bytes(b"left by an earlier export")
    build_pack.save_onnx(proto, path, external=True, chunk_bytes=4096)

    names = ["unet.onnx.data", "unet.onnx.data.1", "unet.onnx.data.2", "unet.onnx.data.3"]
    assert [p.name for p in build_pack.external_data_files(path)] == names
    assert not (tmp_path / "unet.onnx.data.7").exists()
    headers = onnx.load(str(path), load_external_data=False).graph.initializer
    located = {t.name: {e.key: e.value for e in t.external_data}["location"] for t in headers}
    assert located == {"w0": names[0], "w1": names[1], "w2": names[1], "w3": names[2], "w4": names[3]}
    for t, w in zip(onnx.load(str(path)).graph.initializer, weights):
        np.testing.assert_array_equal(numpy_helper.to_array(t), w)

    ref = build_pack.file_ref(path, tmp_path)
    assert [e["file"] for e in ref["externalData"]] == names
    assert [e["sizeBytes"] for e in ref["externalData"]] == [(tmp_path / n).stat().st_size for n in names]


def test_weights_within_one_file_keep_the_single_data_file(tmp_path):
    proto, _ = small_graph([600, 700, 100])  # the last under 1 KiB stays in the graph
    path = tmp_path / "decoder.onnx"
    build_pack.save_onnx(proto, path, external=True)
    assert [p.name for p in build_pack.external_data_files(path)] == ["decoder.onnx.data"]
    assert [e["file"] for e in build_pack.file_ref(path, tmp_path)["externalData"]] == ["decoder.onnx.data"]
