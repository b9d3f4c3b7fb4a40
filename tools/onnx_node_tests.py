"""Writes testdata/onnx_node/: ONNX 1.12's backend node tests of the ops frontend/onnx imports, those
whose shapes ptqc's graph can hold (one float runtime input with a batch axis: [N, F], [N, A, B] for
elementwise ops, [N, C, H, W]), each as <test>/model.onnx + input_0.pb + output_0.pb, and
SKIPPED.txt listing the others with the reason. A test's inputs after the first become
initializers (they are constants in its data set): ptqc graphs have one runtime input, the image.

    /usr/bin/python3 tools/onnx_node_tests.py

frontend/onnx's TestNodeTests runs every written test through the import and the float path.
"""
import os
import shutil
import warnings

import numpy as np

warnings.filterwarnings("ignore")
# onnx 1.12's test cases use aliases numpy 1.24 removed.
for _a, _b in (("float", float), ("int", int), ("bool", bool), ("object", object)):
    if _a not in np.__dict__:
        setattr(np, _a, _b)

import onnx  # noqa: E402
from onnx import numpy_helper  # noqa: E402
import onnx.backend.test.case.node as node_cases  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "onnx_node")

# The ops of issue 24's list that have node tests.
OPS = {"Conv", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Mul",
       "Add", "Sub", "Div", "Concat", "Split", "Slice", "Reshape", "Transpose", "Flatten", "MaxPool",
       "AveragePool", "GlobalAveragePool", "ReduceMean", "Gemm", "MatMul", "Identity", "Dropout", "Pad"}

# Tests of those ops whose form ptqc's graph cannot hold, by name, with the reason. Everything
# else the rules in skip_reason do not catch is written and must pass.
SKIP = {
    "test_add": "Add of a full constant tensor (ptqc adds runtime tensors or per-channel constants)",
    "test_sub": "Sub of a full constant tensor (ptqc subtracts scalars or per-channel constants)",
    "test_mul": "Mul of a full constant tensor (ptqc multiplies by scalars or per-channel constants)",
    "test_div": "Div by a full constant tensor (ptqc divides by scalars or per-channel constants)",
    "test_add_bcast": "Add of a constant broadcast along the last axis (ptqc: scalars or per-channel)",
    "test_sub_bcast": "Sub of a constant broadcast along the last axis (ptqc: scalars or per-channel)",
    "test_mul_bcast": "Mul by a constant broadcast along the last axis (ptqc: scalars or per-channel)",
    "test_div_bcast": "Div by a constant broadcast along the last axis (ptqc: scalars or per-channel)",
    "test_sub_example": "Sub of a full constant tensor of a 1-D input",
    "test_clip": "Clip bounds other than [0, 6] and [0, inf)",
    "test_clip_example": "Clip bounds other than [0, 6] and [0, inf)",
    "test_clip_inbounds": "Clip bounds other than [0, 6] and [0, inf)",
    "test_clip_outbounds": "Clip bounds other than [0, 6] and [0, inf)",
    "test_clip_splitbounds": "Clip bounds other than [0, 6] and [0, inf)",
    "test_clip_default_min": "Clip bounds other than [0, 6] and [0, inf)",
    "test_clip_default_max": "Clip bounds other than [0, 6] and [0, inf)",
    "test_clip_default_inbounds": "Clip bounds other than [0, 6] and [0, inf)",
    "test_gemm_transposeA": "Gemm transA 1 (the runtime operand transposed)",
    "test_gemm_all_attributes": "Gemm transA 1 (the runtime operand transposed)",
    "test_gemm_default_matrix_bias": "Gemm bias [M, N] per sample",
    "test_edge_pad": "Pad mode edge (ptqc folds zero padding only)",
    "test_reflect_pad": "Pad mode reflect (ptqc folds zero padding only)",
    "test_constant_pad": "Pad with a non-zero value and on its own (ptqc folds zero padding into a Conv or AveragePool)",
    "test_matmul_3d": "MatMul of two runtime tensors (transformer-like)",
    "test_matmul_4d": "MatMul of two runtime tensors (transformer-like)",
}


def skip_reason(case):
    """Why the graph of case cannot be held by ptqc's, or None."""
    m = case.model
    g = m.graph
    opset = max((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), default=0)
    if opset < 7 and not same_at_7(m, opset):
        return f"opset {opset} (ptqc reads 7 to 22) and the op changed since"
    if case.name in SKIP:
        return SKIP[case.name]
    for vi in list(g.input) + list(g.output):
        if not vi.type.HasField("tensor_type"):
            return "sequence or optional values"
    inputs, outputs = case.data_sets[0]
    x = inputs[0]
    if not isinstance(x, np.ndarray):
        return "sequence or optional values"
    if x.dtype != np.float32:
        return f"{x.dtype} input (ptqc's graph is float32)"
    op = g.node[0].op_type
    if len(outputs) > 1:
        return "several graph outputs (indices, mask, statistics or split parts; ptqc's graph has one)"
    if op == "Dropout" and len(inputs) == 3 and bool(inputs[2]):
        return "training mode"
    if op == "Concat" and len(inputs) > 1:
        return "a constant operand (the test's second input; ptqc concatenates values computed at run time)"
    if x.ndim == 1:
        return "a 1-D input: no batch axis"
    if x.ndim > 4:
        return f"a {x.ndim}-D input (3-D convs and pools)"
    if op in ("Conv", "MaxPool", "AveragePool", "GlobalAveragePool", "BatchNormalization") and x.ndim != 4:
        return f"a {x.ndim}-D input (1-D convs and pools; ptqc's are 2-D over NCHW)"
    if op == "Flatten" and any(a.name == "axis" and a.i not in (1, 1 - x.ndim) for a in g.node[0].attribute):
        return "Flatten at an axis other than 1 (ptqc keeps the batch axis)"
    if op == "Concat" or op == "Split":
        axis = next((a.i for a in g.node[0].attribute if a.name == "axis"), 0)
        if axis % x.ndim != 1:
            return f"{op} along axis {axis} (ptqc's run along channels, axis 1)"
    if op in ("Transpose",):
        return "a general transpose (ptqc's only one is in ShuffleNet's channel shuffle)"
    if op == "Reshape":
        return "a reshape to other than [N, features] (or ShuffleNet's channel shuffle)"
    if op == "ReduceMean":
        axes = next((list(a.ints) for a in g.node[0].attribute if a.name == "axes"), None)
        if x.ndim != 4 or axes is None or sorted(v % 4 for v in axes) != [2, 3]:
            return "ReduceMean over axes other than H and W of NCHW"
    if op == "Slice":
        return "slicing axes other than channels, or with steps"
    return None


def same_at_7(m, opset):
    """Whether every op of m means at opset 7 what it meant at opset (no new version since)."""
    return all(onnx.defs.get_schema(n.op_type, 7).since_version <= opset for n in m.graph.node)


def write(case, path):
    m = onnx.ModelProto()
    m.CopyFrom(case.model)
    g = m.graph
    inputs, outputs = case.data_sets[0]
    names = [vi.name for vi in g.input]
    # Inputs after the first are constants of the test: initializers.
    for name, v in zip(names[1:], inputs[1:]):
        g.initializer.append(numpy_helper.from_array(np.asarray(v), name))
    keep = [vi for vi in g.input if vi.name == names[0]]
    del g.input[:]
    g.input.extend(keep)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx") and o.version < 7:
            o.version = 7  # same_at_7: the op is unchanged
    os.makedirs(path)
    onnx.save(m, os.path.join(path, "model.onnx"))
    with open(os.path.join(path, "input_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(inputs[0], names[0]).SerializeToString())
    with open(os.path.join(path, "output_0.pb"), "wb") as f:
        f.write(numpy_helper.from_array(outputs[0], g.output[0].name).SerializeToString())


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    skipped = []
    for case in sorted(node_cases.collect_testcases(""), key=lambda c: c.name):
        ops = {n.op_type for n in case.model.graph.node}
        if not ops <= OPS or not ops & OPS:
            if case.model.graph.node[0].op_type in OPS:
                skipped.append((case.name, case.model.graph.node[0].op_type, "uses ops outside the list: " + ", ".join(sorted(ops - OPS))))
            continue
        op = case.model.graph.node[0].op_type
        why = skip_reason(case)
        if why:
            skipped.append((case.name, op, why))
            continue
        write(case, os.path.join(OUT, case.name))
    with open(os.path.join(OUT, "SKIPPED.txt"), "w") as f:
        f.write("# ONNX 1.12 node tests of the imported ops that tools/onnx_node_tests.py does not write: test, op, why\n")
        for name, op, why in skipped:
            f.write(f"{name}\t{op}\t{why}\n")


if __name__ == "__main__":
    main()
