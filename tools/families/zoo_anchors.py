#!/usr/bin/python3
"""PyTorch's int8 accuracy anchors for the trained models of testdata/fmnist_zoo (issue 25's
acceptance): torchvision 0.14's quantizable MobileNetV3, ShuffleNetV2, GoogLeNet and ResNet with
bottleneck blocks (the ResNeXt), imported from torchvision and narrowed as tools/families/zoo_models.py
says (QuantStub/DeQuantStub, FloatFunctional for the SE mul, the skip add and the concat,
fuse_model, ReLUs not in place), and
the eager post-training recipe for each qconfig (default, fbgemm, qnnpack, onednn): eval,
fuse_model, qconfig, prepare, 300 calibration images (testdata/mobilenetv2_fmnist/calib_images.npy)
in batches of 30, convert, all 10,000 Fashion-MNIST test images (tools/fmnist.py's preprocessing).

Command (from the repository root; deterministic; 2-4 minutes per model on two shared cores):

    nice /usr/bin/python3 tools/families/zoo_anchors.py [name ...]
    nice /usr/bin/python3 tools/families/zoo_anchors.py --check [name ...]   # float check only, writes nothing

The float weights are model.onnx's initializers: torch.onnx.export (EVAL) folded each BatchNorm
into its conv, so they are loaded into the model after fuse_model (the fused convs have a bias),
which is numerically the recipe's fusion. Before quantizing, the float logits of the first 1000
test images must equal logits1k.npy within 1e-4 (float rounding of the ONNX folding and of
HardSwish = x * HardSigmoid(x)).

Engines: this torch has no fbgemm engine; as tools/fmnist.py does, fbgemm, onednn and default run
on the onednn engine (fbgemm's qparams and layout), qnnpack on qnnpack. Where the onednn engine
fails (torch 1.13 on ShuffleNetV2: "required rank 4 tensor to use channels_last format", small
grouped convs: "negative dimension") that qconfig runs on the qnnpack engine, and the json says so.
Every qconfig is also evaluated on the qnnpack engine ("qnnpack_engine"), whose int32 accumulation
is exact: oneDNN's AVX2 u8*s8 kernels (the only ones on this CPU) saturate pair sums at int16 when
activations use all 8 bits (the onednn qconfig).

writes testdata/fmnist_zoo/<name>/:
    pytorch_int8.json             per qconfig: top-1 percent, correct count, engine (and the
                                  qnnpack engine's numbers), float top-1, calibration
    pytorch_<qconfig>_preds.npy   uint8 10000: predicted class of each test image, on "engine"
"""
import copy
import os
import sys
import time

import numpy as np
import onnx
import torch
from onnx import numpy_helper
from torch import nn
from torch.ao import quantization as tq

import zoo_models  # noqa: E402  tools/families/zoo_models.py: torchvision builds, paths
from zoo_models import CALIB, OUT, fmnist  # noqa: E402

QCONFIGS = ["default", "fbgemm", "qnnpack", "onednn"]
CALIB_BATCH, THREADS, TOL = 30, 2, 1e-4
# torchvision has quantizable versions of these (not of EfficientNet)
MODELS = ["mobilenet_v3_small", "shufflenet_v2", "googlenet", "resnext"]


def load_onnx_weights(model, path):
    """Copies model.onnx's Conv and Gemm initializers, in graph order, into the fused model's
    Conv2d and Linear modules, in registration order (which is their execution order here)."""
    g = onnx.load(path).graph
    init = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    nodes = [n for n in g.node if n.op_type in ("Conv", "Gemm")]
    mods = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if len(nodes) != len(mods):
        raise ValueError(f"{path}: {len(nodes)} Conv/Gemm nodes, model has {len(mods)} conv/linear")
    for n, m in zip(nodes, mods):
        if n.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
            if not isinstance(m, nn.Linear) or attrs.get("transB") != 1 or attrs.get("transA", 0) != 0:
                raise ValueError(f"{n.name}: Gemm does not match {m}")
        w, b = init[n.input[1]], init[n.input[2]]
        if tuple(w.shape) != tuple(m.weight.shape) or m.bias is None or tuple(b.shape) != tuple(m.bias.shape):
            raise ValueError(f"{n.name}: weight {w.shape} bias {b.shape} for {m}")
        with torch.no_grad():
            m.weight.copy_(torch.from_numpy(w))
            m.bias.copy_(torch.from_numpy(b))


def float_model(name):
    m = zoo_models.BUILD[name](quantizable=True)  # ReLUs already not in place (_replace_relu)
    m.eval()
    m.fuse_model()
    load_onnx_weights(m, os.path.join(OUT, name, "model.onnx"))
    return m


def evaluate(prepared, engine, te_x, te_lab):
    """Converts a calibrated copy of prepared on engine; its predictions and top-1, or the error."""
    torch.backends.quantized.engine = engine
    try:
        q = tq.convert(copy.deepcopy(prepared), inplace=False)
        pred = fmnist.logits_of(q, te_x).argmax(1).numpy()
    except RuntimeError as e:
        return None, str(e).splitlines()[0]
    correct = int((pred == te_lab).sum())
    return pred, {"top1": round(100 * correct / len(te_lab), 2), "correct": correct}


def main():
    torch.set_num_threads(THREADS)
    args = sys.argv[1:]
    check_only = "--check" in args
    names = [a for a in args if a != "--check"] or MODELS
    te_img, te_lab = fmnist.load_split("t10k")
    te_x = fmnist.preprocess(te_img)
    calib_x = fmnist.preprocess(np.load(CALIB))
    assert calib_x.shape[0] == 300
    for name in names:
        t0 = time.time()
        d = os.path.join(OUT, name)
        fm = float_model(name)
        ref = np.load(os.path.join(d, "logits1k.npy"))
        lg = fmnist.logits_of(fm, te_x[:1000]).numpy()
        diff = float(np.abs(lg - ref).max())
        if diff > TOL:
            sys.exit(f"{name}: float logits differ from logits1k.npy by {diff:g} > {TOL}")
        if check_only:
            print(f"{name}: torchvision's quantizable model with model.onnx's weights: logits1k max diff {diff:.2g}")
            continue
        fcorrect = int((fmnist.logits_of(fm, te_x).argmax(1).numpy() == te_lab).sum())
        res = {"model": "model.onnx", "float_top1": round(fcorrect / 100, 2), "float_correct": fcorrect,
               "float_logits1k_maxdiff": float(f"{diff:.3g}"), "n": len(te_lab),
               "calib": {"images": "testdata/mobilenetv2_fmnist/calib_images.npy", "n": 300,
                         "batch": CALIB_BATCH},
               "recipe": "torchvision 0.14 quantizable model; eval, fuse_model, qconfig "
                         "(default: torch.ao.quantization.default_qconfig, else get_default_qconfig(q)), "
                         "prepare, calibrate, convert; float weights from model.onnx's folded initializers",
               "torch": torch.__version__, "threads": THREADS, "qconfigs": {}}
        for qname in QCONFIGS:
            want = "qnnpack" if qname == "qnnpack" else "onednn"
            torch.backends.quantized.engine = want
            p = copy.deepcopy(fm)
            p.qconfig = tq.default_qconfig if qname == "default" else tq.get_default_qconfig(qname)
            tq.prepare(p, inplace=True)
            with torch.no_grad():
                for i in range(0, len(calib_x), CALIB_BATCH):
                    p(calib_x[i:i + CALIB_BATCH])
            qpred, qres = evaluate(p, "qnnpack", te_x, te_lab)
            if qpred is None:
                sys.exit(f"{name} {qname}: qnnpack engine: {qres}")
            e = {"engine": "qnnpack"}
            pred = qpred
            if want == "onednn":
                opred, ores = evaluate(p, "onednn", te_x, te_lab)
                if opred is None:
                    e["onednn_engine_error"] = ores
                else:
                    e["engine"], pred = "onednn", opred
                    e.update(ores)
            if e["engine"] == "qnnpack":
                e.update(qres)
            e["qnnpack_engine"] = qres
            e["qnnpack_engine_agreement"] = round(100 * float((pred == qpred).mean()), 2)
            res["qconfigs"][qname] = e
            np.save(os.path.join(d, f"pytorch_{qname}_preds.npy"), pred.astype(np.uint8))
            print(f"{name} {qname}: {e}", flush=True)
        zoo_models.write_json(os.path.join(d, "pytorch_int8.json"), res)
        print(f"{name}: float {res['float_top1']} (logits1k max diff {diff:.2g}), {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
