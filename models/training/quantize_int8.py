"""Post-training static int8 quantisation of a pack graph in the QDQ format (issue 23), for CPUs: the
research stopped at fp16, which helps GPUs but not WebAssembly.

Every Conv, MatMul and Gemm gets its float input activation quantised to uint8 (asymmetric, range from
calibration), its weight to int8 per output channel (symmetric, from the weight itself), its bias to
int32 at scale s_x·s_w (Conv and Gemm) and its output re-quantised to uint8 (range from calibration):
QuantizeLinear → DequantizeLinear pairs around the float op, which ONNX Runtime's QDQ transformer fuses
into QLinearConv / QLinearMatMul / QGemm kernels. Everything else (normalisation, activations, the
timestep embedding) stays float32; the graph's inputs and outputs stay float32. Each x·σ(x) becomes
ORT's contrib op QuickGelu (`fuse_silu`), which ORT would otherwise fuse itself but cannot in a QDQ
graph; the int8 graphs run on ONNX Runtime's CPU and WASM backends only.

Calibration records the range of every quantised tensor over the pack's own data (`calibrate`: the
denoiser's real inputs at every denoising step of the pack's validation pairs, collected by
scripts/calibrate-int8.ts through the studio's own pipeline), then keeps the 99.99th percentile of
|x| per side so one outlier does not waste the 256 levels.

    /usr/bin/python3 -m models.training.quantize_int8 IN.onnx OUT.onnx --ranges ranges.json
    /usr/bin/python3 -m models.training.quantize_int8 calib-graph IN.onnx OUT.onnx   # every range as an output
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QUANTISED_OPS = ("Conv", "MatMul", "Gemm")


def quantised_tensors(model: onnx.ModelProto) -> list[str]:
    """The float activations to calibrate: the first input and the output of every quantised op."""
    inits = {i.name for i in model.graph.initializer}
    names: list[str] = []
    for n in model.graph.node:
        if n.op_type not in QUANTISED_OPS:
            continue
        for t in (n.input[0], n.output[0]):
            if t not in inits and t not in names:
                names.append(t)
        # MatMul of two activations (attention): the second input too.
        if n.op_type == "MatMul" and n.input[1] not in inits and n.input[1] not in names:
            names.append(n.input[1])
    return names


def calibration_graph(src: Path, dst: Path) -> list[str]:
    """`src` with every tensor `quantised_tensors` names added as a graph output."""
    model = onnx.load(str(src))
    names = quantised_tensors(model)
    have = {o.name for o in model.graph.output}
    for t in names:
        if t not in have:
            model.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    onnx.save(model, str(dst))
    return names


def uint8_params(lo: float, hi: float) -> tuple[np.float32, np.uint8]:
    """Scale and zero point of an asymmetric uint8 range that holds [lo, hi] and 0 exactly."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 255.0 if hi > lo else 1.0
    zp = int(np.clip(np.round(-lo / scale), 0, 255))
    return np.float32(scale), np.uint8(zp)


def fuse_silu(model: onnx.ModelProto) -> int:
    """Replaces each x·σ(x) (a Sigmoid whose only reader is a Mul of x and it) by ONNX Runtime's
    contrib op com.microsoft QuickGelu with alpha 1, which computes the same. ORT fuses that pattern
    itself in a float graph, but in a QDQ graph its EnsureUniqueDQForNodeUnit pass first gives each
    reader of a DequantizeLinear its own copy, so Sigmoid and Mul no longer read the same tensor and
    stay two kernels. Measured on the cel int8 decoder in onnxruntime-web, 2 threads: 110 against
    125 ms a decode, identical output.
    Returns how many it fused."""
    g = model.graph
    readers: dict[str, list] = {}
    for n in g.node:
        for t in n.input:
            readers.setdefault(t, []).append(n)
    graph_outputs = {o.name for o in g.output}
    replace: dict[int, onnx.NodeProto] = {}
    drop: set[int] = set()
    for n in g.node:
        if n.op_type != "Sigmoid" or n.output[0] in graph_outputs:
            continue
        x = n.input[0]
        after = readers.get(n.output[0], [])
        if len(after) != 1 or after[0].op_type != "Mul" or sorted(after[0].input) != sorted([x, n.output[0]]):
            continue
        mul = after[0]
        drop.add(id(n))
        replace[id(mul)] = helper.make_node(
            "QuickGelu", [x], [mul.output[0]], name=f"{n.name}_silu", domain="com.microsoft", alpha=1.0
        )
    if not replace:
        return 0
    nodes = [replace.get(id(n), n) for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(nodes)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return len(replace)


def quantise(src: Path, dst: Path, ranges: dict[str, list[float]], silu: bool = True) -> dict:
    model = onnx.load(str(src))
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    new_inits: list[TensorProto] = []
    qdq: dict[str, str] = {}  # float activation -> its dequantised twin
    pre_nodes: dict[int, list] = {}
    post_nodes: dict[int, list] = {}
    counts = {op: 0 for op in QUANTISED_OPS}

    def act_qdq(name: str, at: int, after: bool) -> str:
        """Q→DQ of activation `name`; returns the DQ output's name. Inserted before node `at` (inputs)
        or after it (outputs)."""
        if name in qdq:
            return qdq[name]
        lo, hi = ranges[name]
        scale, zp = uint8_params(lo, hi)
        s, z = f"{name}_qscale", f"{name}_qzp"
        new_inits.extend([numpy_helper.from_array(scale, s), numpy_helper.from_array(zp, z)])
        q, dq = f"{name}_q", f"{name}_dq"
        nodes = [
            helper.make_node("QuantizeLinear", [name, s, z], [q], name=f"{name}_Q"),
            helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"{name}_DQ"),
        ]
        (post_nodes if after else pre_nodes).setdefault(at, []).extend(nodes)
        qdq[name] = dq
        return dq

    done: dict[str, tuple] = {}  # a weight or bias shared by several ops is quantised once

    def weight_qdq(name: str, axis: int) -> tuple[str, np.ndarray]:
        if name in done:
            return done[name]
        w = numpy_helper.to_array(inits[name]).astype(np.float32)
        if axis is None:
            amax = np.maximum(np.abs(w).max(), 1e-12)
            scale = np.float32(amax / 127.0)
            wq = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
            scales = np.array(scale, np.float32)
            zps = np.array(0, np.int8)
        else:
            red = tuple(i for i in range(w.ndim) if i != axis)
            amax = np.maximum(np.abs(w).max(axis=red), 1e-12)
            scales = (amax / 127.0).astype(np.float32)
            shape = [1] * w.ndim
            shape[axis] = -1
            wq = np.clip(np.round(w / scales.reshape(shape)), -127, 127).astype(np.int8)
            zps = np.zeros_like(scales, dtype=np.int8)
        q, s, z, dq = f"{name}_i8", f"{name}_wscale", f"{name}_wzp", f"{name}_wdq"
        new_inits.extend(
            [numpy_helper.from_array(wq, q), numpy_helper.from_array(scales, s), numpy_helper.from_array(zps, z)]
        )
        attrs = {} if axis is None else {"axis": axis}
        weight_nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"{name}_WDQ", **attrs))
        done[name] = (dq, scales)
        return dq, scales

    def bias_qdq(name: str, x_scale: np.float32, w_scales: np.ndarray) -> str:
        # The bias's scale follows the op's input scale, so a shared bias gets one copy per scale.
        key = f"{name}@{float(x_scale)!r}"
        if key in done:
            return done[key]
        copies = len([k for k in done if k.startswith(name + "@")])
        tag = f"{name}_{copies}" if copies else name
        b = numpy_helper.to_array(inits[name]).astype(np.float64)
        scales = (np.float64(x_scale) * w_scales.astype(np.float64)).astype(np.float32)
        bq = np.round(b / scales).astype(np.int32)
        q, s, z, dq = f"{tag}_i32", f"{tag}_bscale", f"{tag}_bzp", f"{tag}_bdq"
        new_inits.extend(
            [
                numpy_helper.from_array(bq, q),
                numpy_helper.from_array(scales, s),
                numpy_helper.from_array(np.zeros_like(bq), z),
            ]
        )
        weight_nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"{tag}_BDQ", axis=0))
        done[key] = dq
        return dq

    weight_nodes: list = []
    for i, n in enumerate(g.node):
        if n.op_type not in QUANTISED_OPS:
            continue
        x = n.input[0]
        if x in inits or x not in ranges or n.output[0] not in ranges:
            continue
        if n.op_type == "Gemm":
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            if attrs.get("transA", 0):
                continue
        x_scale, _ = uint8_params(*ranges[x])
        n.input[0] = act_qdq(x, i, after=False)
        w = n.input[1]
        if w in inits:
            axis = 0 if n.op_type == "Conv" else (0 if n.op_type == "Gemm" and attrs.get("transB", 0) else 1)
            if n.op_type == "MatMul" and len(inits[w].dims) != 2:
                axis = None
            dq, w_scales = weight_qdq(w, axis)
            n.input[1] = dq
            if len(n.input) > 2 and n.input[2] in inits and axis is not None:
                per = w_scales if w_scales.ndim else np.full(inits[n.input[2]].dims[0], w_scales, np.float32)
                n.input[2] = bias_qdq(n.input[2], x_scale, per)
        elif w in ranges:
            n.input[1] = act_qdq(w, i, after=False)
        else:
            continue
        # The output: quantised right after the op, its consumers read the dequantised twin.
        y = n.output[0]
        lo, hi = ranges[y]
        scale, zp = uint8_params(lo, hi)
        s, z = f"{y}_qscale", f"{y}_qzp"
        new_inits.extend([numpy_helper.from_array(scale, s), numpy_helper.from_array(zp, z)])
        raw = f"{y}_float"
        n.output[0] = raw
        post_nodes.setdefault(i, []).extend(
            [
                helper.make_node("QuantizeLinear", [raw, s, z], [f"{y}_q"], name=f"{y}_Q"),
                helper.make_node("DequantizeLinear", [f"{y}_q", s, z], [y], name=f"{y}_DQ"),
            ]
        )
        qdq[y] = y
        counts[n.op_type] += 1
    nodes = list(weight_nodes)
    for i, n in enumerate(g.node):
        nodes.extend(pre_nodes.get(i, []))
        nodes.append(n)
        nodes.extend(post_nodes.get(i, []))
    del g.node[:]
    g.node.extend(nodes)
    # Drop the float weights now replaced by int8 ones.
    used = {t for n in g.node for t in n.input}
    kept = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(kept + [i for i in new_inits if i.name in used])
    if not any(o.domain in ("", "ai.onnx") and o.version >= 13 for o in model.opset_import):
        raise ValueError("per-channel QDQ needs opset 13 or newer")
    onnx.checker.check_model(model)
    if silu:
        counts["SiLU→QuickGelu"] = fuse_silu(model)
    onnx.save(model, str(dst))
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd")
    c = sub.add_parser("calib-graph")
    c.add_argument("src")
    c.add_argument("dst")
    q = sub.add_parser("quantise")
    q.add_argument("src")
    q.add_argument("dst")
    q.add_argument("--ranges", required=True)
    args = ap.parse_args(argv)
    if args.cmd == "calib-graph":
        names = calibration_graph(Path(args.src), Path(args.dst))
        print(json.dumps(names))
    elif args.cmd == "quantise":
        ranges = json.loads(Path(args.ranges).read_text())
        counts = quantise(Path(args.src), Path(args.dst), ranges)
        print(f"{args.dst}: quantised {counts}")
    else:
        ap.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
