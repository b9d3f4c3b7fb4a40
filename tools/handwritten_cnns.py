"""Trains two hand-written CNNs on Fashion-MNIST for one epoch and exports them to ONNX, with
PyTorch's float and FX int8 top-1 to compare `ptqc eval` against (docs/accuracy.md, "Hand-written
CNNs"):

- gelu: a stem, a stride-2 conv and two residual blocks, each conv with BatchNorm and nn.GELU /
  F.gelu (which torch exports spelled out with Erf before opset 20);
- selu: a self-normalizing net, convs and linear layers with F.selu, no BatchNorm.

PyTorch's HistogramObserver searches its range over histogram bins whose edges follow each batch's
min and max, so a change of 1e-7 relative in the calibration images can move a scale by 8%. With
-spread K the FX int8 top-1 is measured K-1 more times with the calibration images multiplied by
(1 + 1e-7 N(0,1)): the spread of PyTorch's own number.

    /usr/bin/python3 tools/handwritten_cnns.py -out /tmp/hw -spread 8
    ptqc eval -model /tmp/hw/gelu.onnx -data /tmp/hw/test_x.npy -labels /tmp/hw/test_y.npy \
        -qconfig x86 -calib /tmp/hw/calib_x.npy
"""
import argparse
import glob
import gzip
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

FMNIST = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path) as f:
        b = f.read()
    nd = b[3]
    dims = [int.from_bytes(b[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(b, np.uint8, offset=4 + 4 * nd).reshape(dims)


def find(part):
    return [f for f in sorted(glob.glob(FMNIST + "/*")) if part in f][0]


def norm(x):
    return ((torch.tensor(x, dtype=torch.float32) / 255.0) - 0.2860) / 0.3530


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        self.c2, self.b2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        return F.gelu(x + self.b2(self.c2(F.gelu(self.b1(self.c1(x))))))


class GeluNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.GELU())
        self.down = nn.Sequential(nn.Conv2d(32, 64, 3, 2, 1, bias=False), nn.BatchNorm2d(64), nn.GELU())
        self.b1, self.b2, self.fc = Block(64), Block(64), nn.Linear(64, 10)

    def forward(self, x):
        x = self.b2(self.b1(self.down(self.stem(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class SeluNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(1, 32, 3), nn.Conv2d(32, 64, 3), nn.Conv2d(64, 64, 3, 2)
        self.fc1, self.fc2 = nn.Linear(64 * 5 * 5, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.selu(self.c1(x))
        x = F.max_pool2d(F.selu(self.c2(x)), 2)
        x = F.selu(self.c3(x))
        return self.fc2(F.selu(self.fc1(x.flatten(1))))


def fx_top1(m, calib, xt, yt, qconfig, engine, eps, seed):
    torch.backends.quantized.engine = engine
    torch.manual_seed(seed)
    pm = prepare_fx(m, get_default_qconfig_mapping(qconfig), example_inputs=(xt[:1],))
    with torch.no_grad():
        for i in range(0, len(calib), 30):
            xb = calib[i:i + 30]
            pm(xb * (1 + eps * torch.randn_like(xb)) if eps else xb)
        out = convert_fx(pm)(xt)
    return (out.argmax(1).numpy() == yt).mean() * 100


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-out", required=True)
    p.add_argument("-spread", type=int, default=1, help="FX runs per qconfig, the first unperturbed")
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    torch.manual_seed(1)
    torch.set_num_threads(1)
    x, y = norm(idx(find("train-images"))).unsqueeze(1), torch.tensor(idx(find("train-labels")), dtype=torch.long)
    xt, yt = norm(idx(find("t10k-images"))).unsqueeze(1), idx(find("t10k-labels"))
    calib = x[:300]
    np.save(os.path.join(a.out, "test_x.npy"), xt.numpy())
    np.save(os.path.join(a.out, "test_y.npy"), yt.astype(np.int64))
    np.save(os.path.join(a.out, "calib_x.npy"), calib.numpy())
    for name, m in [("gelu", GeluNet()), ("selu", SeluNet())]:
        opt, t = torch.optim.Adam(m.parameters(), 1e-3), time.time()
        m.train()
        for i in range(0, len(x), 64):
            opt.zero_grad()
            F.cross_entropy(m(x[i:i + 64]), y[i:i + 64]).backward()
            opt.step()
        m.eval()
        with torch.no_grad():
            out = m(xt)
        print(f"{name}: trained in {time.time() - t:.0f} s; float top-1 {(out.argmax(1).numpy() == yt).mean() * 100:.2f}",
              flush=True)
        torch.onnx.export(m, xt[:1], os.path.join(a.out, name + ".onnx"), opset_version=13, input_names=["x"],
                          output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
        for qconfig, engine in [("x86", "onednn"), ("qnnpack", "qnnpack")]:
            tops = [fx_top1(m, calib, xt, yt, qconfig, engine, 1e-7 if k else 0, k) for k in range(a.spread)]
            print(f"{name}: FX {qconfig} int8 top-1 {tops[0]:.2f}" +
                  (f" (perturbed: {min(tops):.2f} to {max(tops):.2f})" if a.spread > 1 else ""), flush=True)


if __name__ == "__main__":
    main()
