"""The working memory of one call of an ONNX graph (issue 23's memory estimate): the most bytes of
intermediate tensors alive at once when its nodes run in the file's order, at concrete input shapes.

ONNX shape inference (with data propagation, so Reshape targets computed from Shape ops resolve)
gives every tensor's shape at the given input shapes. A tensor is alive from the node that makes it
until its last consumer has run; the graph's inputs are alive throughout and its outputs to the
end; weights (initializers, Constant nodes) are not counted — the memory estimate counts them
from the pack's file sizes. ONNX Runtime plans its arena from the same lifetimes, so this is what
its plan needs at the least; its arena rounds blocks up and fuses nodes, which the estimate does
not model (`npm run pack:memory` checks it against onnxruntime-web's WASM heap on one graph).

Where shape inference cannot settle a tensor (data-dependent Slice or Reshape targets, GridSample),
the caller runs the graph once with those tensors as extra outputs (`probe-graph`) and passes their
sizes back as `known` (src/node/packMemory.ts does both with onnxruntime-node).

    /usr/bin/python3 -m models.training.activation_memory peaks spec.json
      spec.json: {"path/to/graph.onnx": {"inputs": {"name": [dims...]}, "known": {"tensor": bytes}}}
      prints {"path/to/graph.onnx": {"peakBytes": N, "unknown": [tensor names still without a size]}}
    /usr/bin/python3 -m models.training.activation_memory probe-graph IN.onnx OUT.onnx names.json
      writes IN with the named tensors also as outputs (those whose element type is known); prints
      the names a run of it should fetch: those it added and those that were outputs already
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, shape_inference


def _elem_bytes(elem_type: int) -> int:
    if elem_type == TensorProto.BOOL:
        return 1
    if elem_type == TensorProto.STRING:
        return 8
    to_np = getattr(helper, "tensor_dtype_to_np_dtype", None)  # onnx ≥ 1.13; Debian's 1.12 has mapping
    if to_np is None:
        from onnx import mapping

        return np.dtype(mapping.TENSOR_TYPE_TO_NP_TYPE[elem_type]).itemsize
    return np.dtype(to_np(elem_type)).itemsize


_ELEMENTWISE_CONTRIB = {"QuickGelu", "Gelu"}  # one input, one output of its shape and type


def _standard_ops(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shape inference knows no contrib op (and its data propagation crashes on them: onnx 1.12
    segfaults); the elementwise ones `quantize_int8.py` writes keep their input's shape and type,
    as Sigmoid does, so for inference they become Sigmoid (in place)."""
    for n in model.graph.node:
        if n.domain == "com.microsoft" and n.op_type in _ELEMENTWISE_CONTRIB:
            n.op_type, n.domain = "Sigmoid", ""
            del n.attribute[:]
    return model


def _with_inputs(path: str | Path, input_dims: dict[str, list[int]]) -> onnx.ModelProto:
    model = onnx.load(str(path), load_external_data=False)
    g = model.graph
    weights = {i.name for i in g.initializer}
    for inp in g.input:
        if inp.name in weights:
            continue
        if inp.name not in input_dims:
            raise ValueError(f"{path}: no shape given for input {inp.name}")
        dims = inp.type.tensor_type.shape.dim
        want = input_dims[inp.name]
        del dims[:]
        for d in want:
            dims.add().dim_value = int(d)
    _standard_ops(model)
    # Shapes recorded at export time (another size) would contradict the ones inferred now.
    for out in g.output:
        out.type.tensor_type.ClearField("shape")
    del g.value_info[:]
    return model


def peak_activation_bytes(
    path: str | Path, input_dims: dict[str, list[int]], known: dict[str, int] | None = None
) -> dict:
    """Peak bytes of live intermediate tensors (and the graph's inputs) for one call of the graph
    at `input_dims`; `known` gives the size of tensors shape inference cannot settle; `unknown`
    lists those still without a size (not counted)."""
    model = _with_inputs(path, input_dims)
    g = model.graph
    weights = {i.name for i in g.initializer}
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    sizes: dict[str, int | None] = dict(known or {})
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        t = vi.type.tensor_type
        if vi.name in (known or {}):
            continue
        if not t.HasField("shape") or any(not d.HasField("dim_value") for d in t.shape.dim):
            sizes[vi.name] = None
            continue
        sizes[vi.name] = int(np.prod([d.dim_value for d in t.shape.dim], dtype=np.int64)) * _elem_bytes(t.elem_type)
    constants = {o for n in g.node if n.op_type == "Constant" for o in n.output} | weights
    outputs = {o.name for o in g.output}
    last_use: dict[str, int] = {}
    for i, n in enumerate(g.node):
        for t in n.input:
            if t:
                last_use[t] = i
    unknown: list[str] = []

    def size(name: str) -> int:
        s = sizes.get(name)
        if s is None:
            if name not in unknown:
                unknown.append(name)
            return 0
        return s

    live = sum(size(i.name) for i in g.input if i.name not in weights)
    peak = live
    for i, n in enumerate(g.node):
        if n.op_type == "Constant":
            continue
        for o in n.output:
            if o and o not in constants:
                live += size(o)
        peak = max(peak, live)
        # Free what this node was the last to read (never the graph's inputs or outputs), and
        # outputs nobody reads.
        done = {t for t in n.input if t and last_use.get(t) == i}
        done |= {o for o in n.output if o and o not in last_use}
        for t in done:
            if t in constants or t in outputs or t in {x.name for x in g.input}:
                continue
            live -= size(t)
    return {"peakBytes": int(peak), "unknown": unknown}


def probe_graph(src: str | Path, dst: str | Path, names: list[str]) -> list[str]:
    """`src` with each of `names` whose element type shape inference knows also a graph output. Returns the
    names to fetch from a run of it: those added, and those among `names` that were outputs already."""
    model = onnx.load(str(src), load_external_data=False)  # external data stays where it is
    standard = onnx.ModelProto()
    standard.CopyFrom(model)
    inferred = shape_inference.infer_shapes(_standard_ops(standard))
    types = {vi.name: vi.type.tensor_type.elem_type for vi in inferred.graph.value_info}
    have = {o.name for o in model.graph.output}
    added = []
    for t in names:
        if t in have:  # already an output (one shape inference cannot size): a run returns it anyway
            added.append(t)
            continue
        if not types.get(t):
            continue
        model.graph.output.append(helper.make_tensor_value_info(t, types[t], None))
        added.append(t)
    onnx.save(model, str(dst))
    return added


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "peaks":
        spec = json.loads(Path(args[1]).read_text())
        print(json.dumps({f: peak_activation_bytes(f, s["inputs"], s.get("known")) for f, s in spec.items()}))
        return 0
    if len(args) == 4 and args[0] == "probe-graph":
        print(json.dumps(probe_graph(args[1], args[2], json.loads(Path(args[3]).read_text()))))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
