#!/usr/bin/python3
"""ONNX exports of ptqc's bundled models, for frontend/onnx's tests.

Environment: Debian 12's PyTorch 1.13 and python3-onnx 1.12 (/usr/bin/python3), numpy.
Commands used to produce testdata/ (from the repository root):

    /usr/bin/python3 tools/onnx_export.py

writes
    testdata/mobilenetv2_fmnist/model.onnx   the bundled MobileNetV2 (model.json + model.safetensors),
                                             opset 13, dynamic batch axis
    testdata/resnet_fmnist/model.onnx        the bundled ResNet (model.json + model.pth), opset 13, batch 1
    testdata/onnx_small/small_opsetN.onnx    a tiny net of the other forms torch writes (a shape
                                             subgraph for x.reshape(x.size(0), -1), Clip for ReLU6,
                                             ReduceMean, MatMul + Add, Gemm, MaxPool, BatchNormalization
                                             kept by TrainingMode.PRESERVE), opsets 11, 13 and 17,
                                             dynamic batch axis
    testdata/onnx_small/input.npy, logits.npy  its input (float32 4x3x12x12) and PyTorch's logits

torch.onnx.export in eval mode folds each BatchNorm into the conv before it (its own float32
arithmetic, not fuse_conv_bn_weights'), so the bundled exports carry folded convs and the Go
test compares their logits with the description's to 1e-5, not bit for bit.
"""
import os
import sys

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fmnist  # noqa: E402
import resnet_fmnist  # noqa: E402


def export(model, path, opset, dynamic, training=torch.onnx.TrainingMode.EVAL, shape=(1, 3, 32, 32)):
    x = torch.zeros(shape)
    kw = {}
    if dynamic:
        kw["dynamic_axes"] = {"input": {0: "batch"}, "logits": {0: "batch"}}
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["input"], output_names=["logits"],
                      training=training, do_constant_folding=True, **kw)
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"{path}: {os.path.getsize(path)} bytes, opset {opset}, ops {ops}")


class Small(nn.Module):
    """A few of each form torch writes for the ops ptqc imports."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=1, padding=1, bias=True)
        self.bn = nn.BatchNorm2d(8)
        self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pw = nn.Conv2d(8, 16, 1, bias=False)
        self.pw2 = nn.Conv2d(8, 16, 1, bias=True)
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.w = nn.Parameter(torch.randn(16, 12) * 0.3)
        self.b = nn.Parameter(torch.randn(12) * 0.1)
        self.fc = nn.Linear(12, 5)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        x = nn.functional.relu6(self.bn(self.conv(x)))
        y = torch.relu(self.bn2(self.dw(x)))
        y = self.pool(self.pw(y)) + self.pool(self.pw2(y))  # an add of two paths
        y = y.mean((2, 3), keepdim=True)
        y = y.reshape(y.size(0), -1)  # Shape, Gather, Unsqueeze, Concat -> Reshape
        y = torch.relu(y @ self.w + self.b)  # MatMul + Add
        return self.fc(self.drop(y))  # Gemm


def main():
    torch.manual_seed(0)
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata")
    m, _ = fmnist.load_model(os.path.join(root, "mobilenetv2_fmnist"))
    export(m, os.path.join(root, "mobilenetv2_fmnist", "model.onnx"), 13, True)
    r, _ = resnet_fmnist.load_model(os.path.join(root, "resnet_fmnist"))
    export(r, os.path.join(root, "resnet_fmnist", "model.onnx"), 13, False)

    small = Small()
    with torch.no_grad():  # BatchNorm statistics that are not the identity
        for bn in (small.bn, small.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.3, 0.3)
    small.eval()
    d = os.path.join(root, "onnx_small")
    os.makedirs(d, exist_ok=True)
    for opset in (11, 13, 17):
        export(small, os.path.join(d, f"small_opset{opset}.onnx"), opset, True,
               training=torch.onnx.TrainingMode.PRESERVE, shape=(2, 3, 12, 12))
    x = torch.randn(4, 3, 12, 12)
    with torch.no_grad():
        y = small(x)
    np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "logits.npy"), y.numpy().astype(np.float32))


if __name__ == "__main__":
    main()
