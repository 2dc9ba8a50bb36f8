"""Convert an fp32 ONNX graph to fp16 weights and arithmetic, keeping float32 graph inputs and
outputs and running numerically sensitive operations (normalisation statistics, softmax, the
timestep embedding's exp/sin/cos, pow/sqrt/log) in float32.

Usage: python3 onnx_fp16.py in.onnx out.onnx

How: infer every tensor's type; give each node a precision (fp32 for the block list and for the
cheap ops that feed Sin/Cos/Exp from the graph inputs, else fp16);
store float initializers / Constant values / Cast(to=FLOAT) outputs in fp16 when every consumer
wants fp16; insert a Cast wherever a tensor's precision differs from what its consumer wants; cast
float outputs back to fp32 under their original names.
"""
from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Ops kept in float32 (their float inputs are cast up, outputs cast down as needed).
KEEP_FP32_OPS = {
    "Softmax",
    "LogSoftmax",
    "InstanceNormalization",
    "LayerNormalization",
    "GroupNormalization",
    "BatchNormalization",
    "ReduceMean",
    "ReduceSum",
    "ReduceSumSquare",
    "ReduceL2",
    "Pow",
    "Sqrt",
    "Exp",
    "Log",
    "Sin",
    "Cos",
    "Erf",
    "Range",
    "CumSum",
    "Reciprocal",
}
# Ops whose float inputs are computed in float32 all the way back from the graph inputs and
# constants, as long as the path runs through the cheap element-wise / shape ops below: the
# timestep embedding's `t * freqs` (and `tau * 1000`) must not be rounded to fp16 before Sin/Cos
# (fp16 spacing at t~999 is 0.5, i.e. up to 0.25 rad of phase error).
FP32_UPSTREAM_FROM = {"Sin", "Cos", "Exp"}
FP32_UPSTREAM_THROUGH = {
    "Mul",
    "Div",
    "Add",
    "Sub",
    "Neg",
    "Cast",
    "Unsqueeze",
    "Squeeze",
    "Reshape",
    "Flatten",
    "Expand",
    "Concat",
    "Slice",
    "Gather",
    "Identity",
    "Transpose",
    "Tile",
}
# (op, input index) slots that must stay float32 whatever the node's precision.
FP32_SLOTS = {("Resize", 1), ("Resize", 2), ("Upsample", 1)}

FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16


def _tensor_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    types: dict[str, int] = {}
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        types[vi.name] = vi.type.tensor_type.elem_type
    for init in g.initializer:
        types[init.name] = init.data_type
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    types[node.output[0]] = a.t.data_type
    return types


def _fp32_upstream(g: onnx.GraphProto) -> set[str]:
    """Keys (first output names) of the nodes that feed FP32_UPSTREAM_FROM ops through cheap ops."""
    producer = {out: node for node in g.node for out in node.output}
    marked: set[str] = set()
    stack = [name for node in g.node if node.op_type in FP32_UPSTREAM_FROM for name in node.input]
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.op_type not in FP32_UPSTREAM_THROUGH or node.output[0] in marked:
            continue
        marked.add(node.output[0])
        stack.extend(i for i in node.input if i)
    return marked


def convert_to_fp16(model: onnx.ModelProto, keep_fp32_ops: set[str] | None = None) -> onnx.ModelProto:
    """fp32 graph -> fp16 graph with float32 graph inputs/outputs (see the module docstring)."""
    keep = KEEP_FP32_OPS if keep_fp32_ops is None else keep_fp32_ops
    model = onnx.ModelProto.FromString(model.SerializeToString())
    g = model.graph
    types = _tensor_types(model)
    fp32_nodes = _fp32_upstream(g)

    def runs_fp32(node: onnx.NodeProto) -> bool:
        return node.op_type in keep or node.output[0] in fp32_nodes

    def want(node: onnx.NodeProto, slot: int) -> int:
        if (node.op_type, slot) in FP32_SLOTS or runs_fp32(node):
            return FLOAT
        return HALF

    consumers: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in g.node:
        for i, name in enumerate(node.input):
            if name:
                consumers.setdefault(name, []).append((node, i))
    output_names = {o.name for o in g.output}

    def storage_precision(name: str) -> int:
        """For tensors whose precision we choose (constants, casts): fp16 if every consumer wants fp16."""
        slots = [want(n, i) for n, i in consumers.get(name, []) if n.op_type != "Cast"]
        if name in output_names:
            return FLOAT
        return HALF if slots and all(s == HALF for s in slots) else FLOAT

    precision: dict[str, int] = {}
    for inp in g.input:
        if types.get(inp.name) == FLOAT:
            precision[inp.name] = FLOAT
    for init in g.initializer:
        if init.data_type == FLOAT:
            p = storage_precision(init.name)
            precision[init.name] = p
            if p == HALF:
                init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init).astype(np.float16), init.name))
    for node in g.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == FLOAT:
                    p = storage_precision(node.output[0])
                    precision[node.output[0]] = p
                    if p == HALF:
                        a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16), a.t.name))
        elif node.op_type == "Cast":
            for a in node.attribute:
                if a.name == "to" and a.i == FLOAT:
                    p = storage_precision(node.output[0])
                    precision[node.output[0]] = p
                    a.i = p
        elif node.op_type == "ConstantOfShape":
            for a in node.attribute:
                if a.name == "value" and a.t.data_type == FLOAT:
                    if storage_precision(node.output[0]) == HALF:
                        a.t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(a.t).astype(np.float16), a.t.name))
                        precision[node.output[0]] = HALF
                    else:
                        precision[node.output[0]] = FLOAT
        else:
            p = FLOAT if runs_fp32(node) else HALF
            for out in node.output:
                if types.get(out) == FLOAT:
                    precision[out] = p

    new_nodes: list[onnx.NodeProto] = []
    cast_cache: dict[tuple[str, int], str] = {}

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in cast_cache:
            out = f"{name}__to_{'fp16' if to == HALF else 'fp32'}"
            new_nodes.append(helper.make_node("Cast", [name], [out], to=to, name=f"{out}__cast"))
            cast_cache[key] = out
        return cast_cache[key]

    # Graph outputs: rename the producer's float16 output and cast back to float32 under the old name.
    renamed: dict[str, str] = {}
    for out in g.output:
        if precision.get(out.name) == HALF:
            renamed[out.name] = f"{out.name}__fp16"

    for node in g.node:
        for i, name in enumerate(node.input):
            if not name or node.op_type == "Cast":
                if node.op_type == "Cast" and name in renamed:
                    node.input[i] = renamed[name]
                continue
            src = renamed.get(name, name)
            have = precision.get(name)
            if have is None:
                continue  # not a float tensor
            w = want(node, i)
            if have != w:
                node.input[i] = cast(src, w)
            else:
                node.input[i] = src
        for j, out in enumerate(node.output):
            if out in renamed:
                node.output[j] = renamed[out]
        new_nodes.append(node)
    for out_name, half_name in renamed.items():
        new_nodes.append(helper.make_node("Cast", [half_name], [out_name], to=FLOAT, name=f"{out_name}__out_cast"))

    del g.node[:]
    g.node.extend(new_nodes)
    del g.value_info[:]
    # Casts are appended after their producers but before consumers only by luck: sort topologically.
    _topological_sort(g)
    onnx.checker.check_model(model)
    return model


def _topological_sort(g: onnx.GraphProto) -> None:
    available = {i.name for i in g.input} | {i.name for i in g.initializer} | {""}
    pending = list(g.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        progressed = False
        rest = []
        for node in pending:
            if all(i in available for i in node.input):
                ordered.append(node)
                available.update(node.output)
                progressed = True
            else:
                rest.append(node)
        if not progressed:
            raise ValueError(
                "graph has a cycle or a missing input: " + ", ".join(n.name or n.op_type for n in rest[:5])
            )
        pending = rest
    del g.node[:]
    g.node.extend(ordered)


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: onnx_fp16.py in.onnx out.onnx", file=sys.stderr)
        return 2
    onnx.save(convert_to_fp16(onnx.load(argv[1])), argv[2])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
