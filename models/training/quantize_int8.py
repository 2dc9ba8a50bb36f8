"""Post-training static int8 quantisation of a pack graph in the QDQ format (issue 23), for CPUs: the
research stopped at fp16, which helps GPUs but not WebAssembly.

Every Conv, MatMul and Gemm gets its float input activation quantised to uint8 (asymmetric, range from
calibration), its weight to int8 per output channel (symmetric, from the weight itself), its bias to
int32 at scale s_x·s_w (Conv and Gemm) and its output re-quantised to uint8 (range from calibration):
QuantizeLinear → DequantizeLinear pairs around the float op, which ONNX Runtime's QDQ transformer fuses
into QLinearConv / QLinearMatMul / QGemm kernels. Everything else (normalisation, activations, the
timestep embedding) stays float32; the graph's inputs and outputs stay float32. With `--silu-int8`
each x·σ(x) whose result is quantised anyway is written in QDQ form, which ORT runs as a uint8 lookup
table and product (`quantise_silu`); every other x·σ(x) becomes ORT's contrib op QuickGelu
(`fuse_silu`), which ORT would otherwise fuse itself but cannot in a QDQ graph. The int8 graphs run
on ONNX Runtime's CPU and WASM backends only.

The ranges come from scripts/quantize-int8.ts (`npm run pack:int8`): it runs the studio's own
pipeline on the pack's calibration pairs (training clips and the project's sample drawings, never
the validation split) with the `calib-graph` copies, and keeps per tensor the 0.01th and 99.99th
percentiles of each call and their extremes over all calls, so one outlier does not waste the 256
levels.

`--channels-last` also rewrites GroupNorm and attention's reshapes so that ORT's channels-last int8
convolutions need few Transposes (`channels_last_norms`; npm run pack:int8 uses it for the denoiser).

    /usr/bin/python3 -m models.training.quantize_int8 quantise IN.onnx OUT.onnx --ranges ranges.json \
        [--channels-last] [--silu-int8]
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
    # Each x·σ(x)'s input, for `quantise_silu`.
    names.extend(x for x, _, _ in _silu_pairs(model) if x not in names)
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


class _Graph:
    """Producers, readers and constant values of a graph's tensors, for the rewrites below."""

    def __init__(self, model: onnx.ModelProto):
        g = model.graph
        self.producer = {o: n for n in g.node for o in n.output}
        self.readers: dict[str, list] = {}
        for n in g.node:
            for t in n.input:
                self.readers.setdefault(t, []).append(n)
        self.inits = {i.name: i for i in g.initializer}
        self.outputs = {o.name for o in g.output}

    def const(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        n = self.producer.get(name)
        if n is not None and n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
            return numpy_helper.to_array(n.attribute[0].t)
        if n is not None and n.op_type == "Identity":  # PyTorch's export of a shared weight
            return self.const(n.input[0])
        return None

    def only_reader(self, name: str, op: str):
        r = self.readers.get(name, [])
        return r[0] if len(r) == 1 and r[0].op_type == op and name not in self.outputs else None

    def last_dim(self, name: str, depth: int = 0) -> int | None:
        """The size of the last axis of `name` where the graph fixes it: a 1-D bias added to it, or the
        weight of the MatMul (quantised or not) that made it; None where it cannot tell."""
        n = self.producer.get(name)
        if n is None or depth > 4:
            return None
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            return self.last_dim(n.input[0], depth + 1)
        if n.op_type == "Add":
            consts = [self.const(i) for i in n.input]
            bias = [c for c in consts if c is not None and c.ndim == 1]
            if bias:
                return int(bias[0].shape[0])
            rest = [i for i, c in zip(n.input, consts) if c is None]
            return self.last_dim(rest[0], depth + 1) if len(rest) == 1 else None
        if n.op_type == "MatMul":
            w = self.const(n.input[1])
            dq = self.producer.get(n.input[1])
            if w is None and dq is not None and dq.op_type == "DequantizeLinear":
                w = self.const(dq.input[0])
            return int(w.shape[-1]) if w is not None and w.ndim == 2 else None
        return None

    def shape_of(self, name: str) -> str | None:
        """The tensor whose Shape `name` is, if it is one."""
        n = self.producer.get(name)
        return n.input[0] if n is not None and n.op_type == "Shape" and not n.attribute else None


def _replace_nodes(model: onnx.ModelProto, replace: dict[int, list], inits: list[TensorProto]) -> None:
    """Puts each node's replacement (an empty list drops it) in its place, adds `inits`, then drops
    nodes whose outputs nothing reads any more (the Constant and Shape nodes of the old patterns)."""
    g = model.graph
    nodes = [m for n in g.node for m in replace.get(id(n), [n])]
    have = {i.name for i in g.initializer}
    for i in inits:
        if i.name not in have:
            g.initializer.append(i)
            have.add(i.name)
    outputs = {o.name for o in g.output}
    while True:
        used = {t for n in nodes for t in n.input} | outputs
        kept = [n for n in nodes if any(o in used for o in n.output)]
        if len(kept) == len(nodes):
            break
        nodes = kept
    del g.node[:]
    g.node.extend(nodes)


def _silu_pairs(model: onnx.ModelProto, gr: _Graph | None = None) -> list[tuple[str, object, object]]:
    """(x, Sigmoid, Mul) of each x·σ(x): a Sigmoid whose only reader is a Mul of x and it. (Node
    identities, which `_replace_nodes` goes by, hold only while a `_Graph` of the model is alive: the
    callers pass theirs.)"""
    gr = gr or _Graph(model)
    pairs = []
    for n in model.graph.node:
        if n.op_type != "Sigmoid":
            continue
        mul = gr.only_reader(n.output[0], "Mul")
        if mul is not None and sorted(mul.input) == sorted([n.input[0], n.output[0]]):
            pairs.append((n.input[0], n, mul))
    return pairs


def quantise_silu(model: onnx.ModelProto, ranges: dict[str, list[float]]) -> int:
    """Writes each x·σ(x) whose result is quantised anyway (its only reader a QuantizeLinear: the input
    of an int8 convolution or matrix product) in QDQ form: x quantised with its calibrated range, σ(x)
    quantised on [0, 1] (scale 1/255), their product quantised as before. ONNX Runtime then runs
    QLinearSigmoid (a 256-entry lookup table) and QLinearMul on uint8 instead of a float x·σ(x), which
    WebAssembly computes slowly. Where x is already a DequantizeLinear's output it is used as it is.
    Returns how many it rewrote."""
    gr = _Graph(model)
    replace: dict[int, list] = {}
    inits = [
        numpy_helper.from_array(np.float32(1.0 / 255.0), "silu_sigmoid_qscale"),
        numpy_helper.from_array(np.uint8(0), "silu_sigmoid_qzp"),
    ]
    done = 0
    for x, sig, mul in _silu_pairs(model, gr):
        y = mul.output[0]
        if gr.only_reader(y, "QuantizeLinear") is None:
            continue
        nodes = []
        prod = gr.producer.get(x)
        twin = [
            d.output[0]
            for q in gr.readers.get(x, [])
            if q.op_type == "QuantizeLinear"
            for d in gr.readers.get(q.output[0], [])
            if d.op_type == "DequantizeLinear"
        ]
        if prod is not None and prod.op_type == "DequantizeLinear":
            xdq = x
        elif twin:  # quantised already for another reader
            xdq = twin[0]
        elif x in ranges:
            scale, zp = uint8_params(*ranges[x])
            s, z, xdq = f"{x}_qscale", f"{x}_qzp", f"{x}_dq"
            if s not in gr.inits:
                inits.extend([numpy_helper.from_array(scale, s), numpy_helper.from_array(zp, z)])
            nodes += [
                helper.make_node("QuantizeLinear", [x, s, z], [f"{x}_q"], name=f"{x}_Q"),
                helper.make_node("DequantizeLinear", [f"{x}_q", s, z], [xdq], name=f"{x}_DQ"),
            ]
        else:
            continue
        sg = sig.output[0]
        nodes += [
            helper.make_node("Sigmoid", [xdq], [sg], name=sig.name),
            helper.make_node(
                "QuantizeLinear", [sg, "silu_sigmoid_qscale", "silu_sigmoid_qzp"], [f"{sg}_q"], name=f"{sg}_Q"
            ),
            helper.make_node(
                "DequantizeLinear",
                [f"{sg}_q", "silu_sigmoid_qscale", "silu_sigmoid_qzp"],
                [f"{sg}_dq"],
                name=f"{sg}_DQ",
            ),
        ]
        replace[id(sig)] = nodes
        replace[id(mul)] = [helper.make_node("Mul", [xdq, f"{sg}_dq"], [y], name=mul.name)]
        done += 1
    if done:
        _replace_nodes(model, replace, inits)
    return done


def fuse_silu(model: onnx.ModelProto) -> int:
    """Replaces each x·σ(x) (a Sigmoid whose only reader is a Mul of x and it) by ONNX Runtime's
    contrib op com.microsoft QuickGelu with alpha 1, which computes the same. ORT fuses that pattern
    itself in a float graph, but in a QDQ graph its EnsureUniqueDQForNodeUnit pass first gives each
    reader of a DequantizeLinear its own copy, so Sigmoid and Mul no longer read the same tensor and
    stay two kernels. Measured on the cel int8 decoder in onnxruntime-web, 2 threads: 110 against
    125 ms a decode, identical output.
    Returns how many it fused."""
    gr = _Graph(model)
    replace: dict[int, list] = {}
    fused = 0
    for x, n, mul in _silu_pairs(model, gr):
        replace[id(n)] = []
        replace[id(mul)] = [
            helper.make_node(
                "QuickGelu", [x], [mul.output[0]], name=f"{n.name}_silu", domain="com.microsoft", alpha=1.0
            )
        ]
        fused += 1
    if not fused:
        return 0
    _replace_nodes(model, replace, [])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return fused


def channels_last_norms(model: onnx.ModelProto) -> dict[str, int]:
    """Rewrites GroupNorm as operators that do not care about layout, so that ONNX Runtime's transpose
    optimiser can carry its channels-last layout through the normalisation.

    For a QDQ graph ONNX Runtime's CPU and WebAssembly backends run each QLinearConv channels-last
    (NHWC) and put a Transpose on each side of it; PyTorch exports GroupNorm as Reshape(N, G, -1) →
    InstanceNormalization → Reshape(N, C, H, W) → Mul(γ) → Add(β), and those Reshapes stop the
    Transposes from meeting and cancelling (40 a step in the cel int8 denoiser). Here the statistics
    come from ReduceMean over H and W per channel, averaged over each group's channels by a 1×1 Conv
    on the (N, C, 1, 1) means (a fixed block-diagonal matrix), and the normalisation is element-wise:

        d = x − mean_g(x),  y = d · γ / √(mean_g(d²) + ε) + β

    which is GroupNorm's formula (two passes, as InstanceNormalization computes it). ReduceMean and the
    element-wise operators pass a Transpose through; the small tensors' Transposes are cheap.

    Also rewrites an attention block's flatten(2).transpose(1, 2) of a normalised tensor (Reshape to
    (N, C, HW) then Transpose(0, 2, 1)) as Transpose(0, 2, 3, 1) then Reshape to (N, HW, C), and its way
    back (Transpose(0, 2, 1) then Reshape to x's shape) as Reshape to (N, H, W, C) then
    Transpose(0, 3, 1, 2): the same values, with the Transposes where they cancel against the
    convolutions'. Returns how many of each it rewrote."""
    gr = _Graph(model)
    replace: dict[int, list] = {}
    inits: list[TensorProto] = []
    normalised: dict[str, int] = {}  # a GroupNorm's output -> its channel count
    groupnorm_inputs: dict[str, int] = {}  # a GroupNorm's input -> its channel count
    for n in model.graph.node:
        if n.op_type != "InstanceNormalization":
            continue
        r1 = gr.producer.get(n.input[0])
        if r1 is None or r1.op_type != "Reshape" or gr.only_reader(r1.output[0], "InstanceNormalization") is not n:
            continue
        target, scale, bias = gr.const(r1.input[1]), gr.const(n.input[1]), gr.const(n.input[2])
        if target is None or target.shape != (3,) or target[2] != -1 or scale is None or bias is None:
            continue
        if not (np.all(scale == 1) and np.all(bias == 0)):
            continue
        x, groups = r1.input[0], int(target[1])
        r2 = gr.only_reader(n.output[0], "Reshape")
        mul = gr.only_reader(r2.output[0], "Mul") if r2 is not None else None
        add = gr.only_reader(mul.output[0], "Add") if mul is not None else None
        if add is None or gr.shape_of(r2.input[1]) != x:
            continue
        gamma_name = next((t for t in mul.input if t != r2.output[0]), None)
        beta_name = next((t for t in add.input if t != mul.output[0]), None)
        gamma, beta = gr.const(gamma_name), gr.const(beta_name)
        if gamma is None or beta is None or gamma.ndim != 3 or gamma.shape[1:] != (1, 1) or beta.shape != gamma.shape:
            continue
        c = gamma.shape[0]
        if groups <= 0 or c % groups:
            continue
        eps = next((a.f for a in n.attribute if a.name == "epsilon"), 1e-5)
        avg, eps_name = f"groupnorm_mean_{c}_{groups}", f"groupnorm_eps_{float(np.float32(eps)):.3g}"
        per = c // groups
        block = np.kron(np.eye(groups, dtype=np.float32), np.full((per, per), 1.0 / per, np.float32))
        inits += [
            numpy_helper.from_array(block.reshape(c, c, 1, 1), avg),
            numpy_helper.from_array(np.float32(eps), eps_name),
        ]
        p = n.name or f"groupnorm{len(normalised)}"
        t = lambda s: f"{p}/{s}"  # noqa: E731
        replace[id(r1)] = replace[id(n)] = replace[id(r2)] = replace[id(mul)] = []
        replace[id(add)] = [
            helper.make_node("ReduceMean", [x], [t("mean_c")], name=t("MeanC"), axes=[2, 3], keepdims=1),
            helper.make_node("Conv", [t("mean_c"), avg], [t("mean")], name=t("MeanG")),
            helper.make_node("Sub", [x, t("mean")], [t("centred")], name=t("Centre")),
            helper.make_node("Mul", [t("centred"), t("centred")], [t("squared")], name=t("Square")),
            helper.make_node("ReduceMean", [t("squared")], [t("var_c")], name=t("VarC"), axes=[2, 3], keepdims=1),
            helper.make_node("Conv", [t("var_c"), avg], [t("var")], name=t("VarG")),
            helper.make_node("Add", [t("var"), eps_name], [t("var_eps")], name=t("AddEps")),
            helper.make_node("Sqrt", [t("var_eps")], [t("std")], name=t("Std")),
            helper.make_node("Div", [gamma_name, t("std")], [t("gain")], name=t("Gain")),
            helper.make_node("Mul", [t("centred"), t("gain")], [t("scaled")], name=t("Scale")),
            helper.make_node("Add", [t("scaled"), beta_name], [add.output[0]], name=t("Shift")),
        ]
        normalised[add.output[0]] = c
        groupnorm_inputs[x] = c
    attention = 0
    for n in model.graph.node:
        if n.op_type != "Transpose" or [list(a.ints) for a in n.attribute if a.name == "perm"] != [[0, 2, 1]]:
            continue
        src = gr.producer.get(n.input[0])
        if src is not None and src.op_type == "Reshape" and src.input[0] in normalised:
            # In: Reshape(x, Concat(Shape(x)[0:2], [-1])) → Transpose(0, 2, 1).
            cat = gr.producer.get(src.input[1])
            if gr.only_reader(src.output[0], "Transpose") is not n or cat is None or cat.op_type != "Concat":
                continue
            sl = gr.producer.get(cat.input[0]) if len(cat.input) == 2 else None
            if sl is None or sl.op_type != "Slice" or gr.shape_of(sl.input[0]) != src.input[0]:
                continue
            starts, ends, minus = gr.const(sl.input[1]), gr.const(sl.input[2]), gr.const(cat.input[1])
            if starts is None or ends is None or minus is None or list(starts) != [0] or list(ends) != [2]:
                continue
            if list(minus) != [-1]:
                continue
            c = normalised[src.input[0]]
            shape = f"attention_tokens_{c}"
            inits.append(numpy_helper.from_array(np.array([0, -1, c], np.int64), shape))
            p = n.name or f"attention{attention}"
            replace[id(src)] = []
            replace[id(n)] = [
                helper.make_node("Transpose", [src.input[0]], [f"{p}/nhwc"], name=f"{p}/NHWC", perm=[0, 2, 3, 1]),
                helper.make_node("Reshape", [f"{p}/nhwc", shape], [n.output[0]], name=f"{p}/Tokens"),
            ]
            attention += 1
            continue
        # Out: Transpose(0, 2, 1) → Reshape(·, Concat(Shape(x)[0], Shape(x)[1], Shape(x)[2], Shape(x)[3])).
        back = gr.only_reader(n.output[0], "Reshape")
        cat = gr.producer.get(back.input[1]) if back is not None else None
        if cat is None or cat.op_type != "Concat" or len(cat.input) != 4:
            continue
        dims = []
        for i in cat.input:
            u = gr.producer.get(i)
            ga = gr.producer.get(u.input[0]) if u is not None and u.op_type == "Unsqueeze" else None
            k = gr.const(ga.input[1]) if ga is not None and ga.op_type == "Gather" else None
            dims.append((gr.shape_of(ga.input[0]), int(k)) if k is not None and k.size == 1 else (None, -1))
        x = dims[0][0]
        # Only the way back of a rewritten attention block, whose tokens have x's channel count: the
        # same values only when the last axis of what is transposed is the channel axis.
        if x not in groupnorm_inputs or dims != [(x, 0), (x, 1), (x, 2), (x, 3)]:
            continue
        if gr.last_dim(n.input[0]) != groupnorm_inputs[x]:
            continue
        p = n.name or f"attention{attention}"
        perm = "attention_nhwc_dims"
        inits.append(numpy_helper.from_array(np.array([0, 2, 3, 1], np.int64), perm))
        replace[id(n)] = [
            helper.make_node("Shape", [x], [f"{p}/shape"], name=f"{p}/Shape"),
            helper.make_node("Gather", [f"{p}/shape", perm], [f"{p}/nhwc_shape"], name=f"{p}/NHWCShape", axis=0),
            helper.make_node("Reshape", [n.input[0], f"{p}/nhwc_shape"], [f"{p}/nhwc"], name=f"{p}/Grid"),
        ]
        replace[id(back)] = [
            helper.make_node("Transpose", [f"{p}/nhwc"], [back.output[0]], name=f"{p}/NCHW", perm=[0, 3, 1, 2])
        ]
        attention += 1
    _replace_nodes(model, replace, inits)
    return {"GroupNorm": len(normalised), "attention": attention}


def quantise(
    src: Path,
    dst: Path,
    ranges: dict[str, list[float]],
    silu: bool = True,
    channels_last: bool = False,
    silu_int8: bool = False,
) -> dict:
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
    if silu_int8:
        counts["SiLU→QDQ"] = quantise_silu(model, ranges)
    if silu:
        counts["SiLU→QuickGelu"] = fuse_silu(model)
    if channels_last:
        counts.update(channels_last_norms(model))
        onnx.checker.check_model(model)
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
    q.add_argument(
        "--channels-last",
        action="store_true",
        help="rewrite GroupNorm and attention's reshapes so ORT's NHWC int8 convolutions need fewer Transposes",
    )
    q.add_argument(
        "--silu-int8",
        action="store_true",
        help="quantise each x·sigmoid(x) that feeds an int8 op, so ORT runs it as QLinearSigmoid and QLinearMul",
    )
    args = ap.parse_args(argv)
    if args.cmd == "calib-graph":
        names = calibration_graph(Path(args.src), Path(args.dst))
        print(json.dumps(names))
    elif args.cmd == "quantise":
        ranges = json.loads(Path(args.ranges).read_text())
        counts = quantise(
            Path(args.src), Path(args.dst), ranges, channels_last=args.channels_last, silu_int8=args.silu_int8
        )
        print(f"{args.dst}: quantised {counts}")
    else:
        ap.print_help()
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
