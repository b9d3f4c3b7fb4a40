"""Writes testdata/onnx_patterns/: small CNNs built from the forms torchvision's classification
families take in ONNX (channel shuffle, chunk, squeeze-excitation, hardswish, SiLU, grouped,
rectangular, dilated and asymmetrically padded convs, pools in ceil mode, a BatchNorm after a concat,
arithmetic by constants, a Softmax or LogSoftmax head, the
activations of hand-written CNNs, spatial attention,
squeeze-excitation written with linear layers, CBAM's spatial gate, SELU, CELU, Softsign, GELU,
differences of maps, ECA-Net's conv along the channels, global pools written out), each exported by torch.onnx.export at opsets 7, 10, 13 and 17
(and restamped to 22, below) with a dynamic batch axis, with PyTorch's logits for a fixed input. frontend/onnx's TestPatterns checks the
import against them (1e-5 relative).

    /usr/bin/python3 tools/onnx_patterns.py
"""
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

OUT = os.path.join(os.path.dirname(__file__), "..", "testdata", "onnx_patterns")


def bn(c, kind=nn.BatchNorm2d):
    m = kind(c)
    with torch.no_grad():
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
        m.running_mean.uniform_(-0.2, 0.2)
        m.running_var.uniform_(0.5, 1.5)
    return m


class Shuffle(nn.Module):
    """ShuffleNetV2's unit: chunk, a branch, concat, channel shuffle (x.size() and view)."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), bn(8), nn.ReLU(inplace=True))
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 1, bias=False), bn(4), nn.ReLU(inplace=True),
                                    nn.Conv2d(4, 4, 3, 1, 1, groups=4, bias=False), bn(4))
        self.fc = nn.Linear(8, 5)

    @staticmethod
    def shuffle(x, groups):
        b, c, h, w = x.size()
        x = x.view(b, groups, c // groups, h, w)
        x = torch.transpose(x, 1, 2).contiguous()
        return x.view(b, -1, h, w)

    def forward(self, x):
        x = self.stem(x)
        a, b = x.chunk(2, dim=1)
        x = torch.cat((a, self.branch(b)), dim=1)
        x = self.shuffle(x, 2)
        x = self.shuffle(x, 4)
        return self.fc(x.mean([2, 3]))


class SE(nn.Module):
    def __init__(self, c, s, act, gate):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1, self.fc2 = nn.Conv2d(c, s, 1), nn.Conv2d(s, c, 1)
        self.act, self.gate = act(), gate()

    def forward(self, x):
        return self.gate(self.fc2(self.act(self.fc1(self.avgpool(x))))) * x


class MobileV3(nn.Module):
    """MobileNetV3's block: hardswish, 5x5 depthwise, SE with Hardsigmoid, residual, classifier."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), bn(8), nn.Hardswish())
        self.block = nn.Sequential(nn.Conv2d(8, 16, 1, bias=False), bn(16), nn.Hardswish(),
                                   nn.Conv2d(16, 16, 5, 1, 2, groups=16, bias=False), bn(16), nn.Hardswish(),
                                   SE(16, 8, nn.ReLU, nn.Hardsigmoid),
                                   nn.Conv2d(16, 8, 1, bias=False), bn(8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(8, 12), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(12, 5))

    def forward(self, x):
        x = self.stem(x)
        x = x + self.block(x)
        x = torch.flatten(self.pool(x), 1)
        return self.classifier(x)


class Efficient(nn.Module):
    """EfficientNet's MBConv: SiLU, SE with SiLU and Sigmoid, a 2-D classifier input by view."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1, bias=False), bn(8), nn.SiLU())
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, groups=8, bias=False), bn(8), nn.SiLU(),
                                   SE(8, 2, nn.SiLU, nn.Sigmoid), nn.Conv2d(8, 16, 1, bias=False), bn(16))
        self.fc = nn.Linear(16, 5)

    def forward(self, x):
        x = self.block(self.stem(x))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(x.view(x.size(0), -1))


class Geometry(nn.Module):
    """Inception's transform_input, rectangular convs and pools, ResNeXt's groups, dilation, F.pad, DenseNet's BN after
    a concat, LeakyReLU, Sigmoid, ReLU6 and arithmetic by constants."""

    def __init__(self):
        super().__init__()
        self.c17 = nn.Conv2d(3, 8, (1, 7), padding=(0, 3))
        self.c71 = nn.Conv2d(8, 8, (7, 1), stride=(2, 1), padding=(3, 0))
        self.grouped = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
        self.asym = nn.Conv2d(8, 4, 3, stride=2)
        self.norm = bn(12)
        self.fc1, self.fc2 = nn.Linear(12 * 1 * 2, 16), nn.Linear(16, 5)
        self.scale = nn.Parameter(torch.rand(1, 8, 1, 1) + 0.5)

    def forward(self, x):
        # torchvision's GoogLeNet/Inception v3 transform_input
        x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
        x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
        x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
        x = torch.cat((x_ch0, x_ch1, x_ch2), 1)
        x = x * 0.5 + 0.25
        x = (x - 0.1) / 2.0
        x = F.leaky_relu(self.c17(x), 0.1)
        x = torch.sigmoid(self.c71(x)) * self.scale
        y = F.relu(self.grouped(x))
        y = F.max_pool2d(y, 3, 2, 1, ceil_mode=True)
        z = self.asym(F.pad(x, (1, 2, 1, 2)))
        z = F.avg_pool2d(z, 3, 1, 1, count_include_pad=False)
        x = torch.cat([y, z], 1)
        x = F.relu(self.norm(x))
        x = F.avg_pool2d(x, 2, 2, ceil_mode=True)
        x = F.avg_pool2d(x, 2, 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu6(self.fc1(x)))


class Head(nn.Module):
    """The heads of classifiers written by hand (PyTorch's MNIST example): dropout, flatten, BatchNorm1d after a
    linear layer and after a ReLU, and log_softmax or softmax."""

    def __init__(self, log):
        super().__init__()
        self.log = log
        self.conv = nn.Conv2d(3, 8, 3, 2)
        self.fc1, self.fc2 = nn.Linear(8 * 3 * 3, 16), nn.Linear(16, 5)
        self.bn1, self.bn2 = bn(16, nn.BatchNorm1d), bn(16, nn.BatchNorm1d)
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = self.drop(torch.flatten(x, 1))
        x = self.fc2(self.bn2(F.relu(self.bn1(self.fc1(x)))))
        return F.log_softmax(x, dim=1) if self.log else F.softmax(x, dim=1)


class Acts(nn.Module):
    """Activations of hand-written CNNs: Tanh, ELU, Softplus, Mish, PReLU (one slope and one a channel), Hardtanh,
    clamp."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 8, 3, 2, 1), nn.Conv2d(8, 8, 1)
        self.prelu, self.prelu1 = nn.PReLU(8, 0.1), nn.PReLU()
        with torch.no_grad():
            self.prelu.weight.uniform_(-0.5, 0.5)
        self.fc = nn.Linear(8 * 8 * 8, 5)

    def forward(self, x):
        x = torch.tanh(self.c1(x)) + F.elu(self.c1(x), 0.5)
        x = self.prelu(F.softplus(self.c2(x)) - 0.7)
        x = F.mish(self.c3(x)) + F.hardtanh(x, -0.5, 0.5)
        x = self.prelu1(torch.clamp(x, min=-2.0, max=3.0))
        return self.fc(torch.flatten(x, 1))


class Spatial(nn.Module):
    """Spatial attention: a sigmoid plane [N, 1, H, W] times every channel, in either operand order."""

    def __init__(self):
        super().__init__()
        self.c1, self.att, self.att2 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 1, 7, 1, 3), nn.Conv2d(8, 1, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = x * torch.sigmoid(self.att(x))
        x = torch.sigmoid(self.att2(x)) * x
        return self.fc(x.mean((2, 3)))


class SELinear(nn.Module):
    """Squeeze-excitation written with nn.Linear, as SENet.pytorch's SELayer (view to [N, C], fc, view back to
    [N, C, 1, 1], expand_as) and CBAM's channel gate (average and max pools through one MLP, unsqueeze twice)."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 8, 3, 2, 1)
        self.se = nn.Sequential(nn.Linear(8, 4, bias=False), nn.ReLU(inplace=True), nn.Linear(4, 8, bias=False),
                                nn.Sigmoid())
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 8))
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(self.c1(x))
        b, c, _, _ = x.size()
        y = self.se(F.adaptive_avg_pool2d(x, 1).view(b, c)).view(b, c, 1, 1)
        x = self.c2(x * y.expand_as(x))
        a = self.mlp(F.adaptive_avg_pool2d(x, 1)) + self.mlp(F.adaptive_max_pool2d(x, 1))
        x = x * torch.sigmoid(a).unsqueeze(2).unsqueeze(3).expand_as(x)
        return self.fc(x.mean((2, 3)))


class CBAM(nn.Module):
    """CBAM's spatial gate: the max and the mean over the channels (as torch.max(x, 1)[0].unsqueeze(1) and
    torch.mean(x, 1).unsqueeze(1), and with keepdim), a conv to one plane, its sigmoid times the map."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 8, 3, 2, 1)
        self.s1, self.s2 = nn.Conv2d(2, 1, 7, 1, 3, bias=False), nn.Conv2d(2, 1, 3, 1, 1)
        self.bn = bn(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.relu(self.c1(x))
        g = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)
        x = self.c2(x * torch.sigmoid(self.bn(self.s1(g))))
        g = torch.cat((x.amax(1, keepdim=True), x.mean(1, keepdim=True)), dim=1)
        x = x * torch.sigmoid(self.s2(g))
        return self.fc(x.mean((2, 3)))


class Acts2(nn.Module):
    """More activations: SELU, CELU, Softsign (x / (1 + |x|) in the export), GELU as torch exports it and as
    written by hand, abs, neg, a difference of two maps (with its ReLU), an Erf left alone."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 8, 3, 2, 1), nn.Conv2d(8, 8, 1)
        self.c4 = nn.Conv2d(8, 8, 3, 1, 1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = F.selu(self.c1(x)) + F.celu(self.c1(x), 0.7)
        x = F.gelu(self.c2(x))
        x = F.softsign(self.c3(x)) - torch.abs(x).neg()
        y = self.c4(x)
        x = F.relu(x - 0.5 * y * (1.0 + torch.erf(y / math.sqrt(2.0))))
        return self.fc(torch.erf(x).mean((2, 3)))


class ECA(nn.Module):
    """ECA-Net's channel attention: the pooled channels convolved as a sequence by a 1-D conv of one channel
    (squeeze(-1), transpose(-1, -2), Conv1d, transpose back, unsqueeze(-1)), its sigmoid times the map; k 3 and
    a dilated k 5 with a bias."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(3, 8, 3, 1, 1), nn.Conv2d(8, 12, 3, 2, 1)
        self.e1, self.e2 = nn.Conv1d(1, 1, 3, padding=1, bias=False), nn.Conv1d(1, 1, 5, padding=4, dilation=2)
        self.fc = nn.Linear(12, 5)

    @staticmethod
    def gate(x, conv):
        y = F.adaptive_avg_pool2d(x, 1)
        y = conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * torch.sigmoid(y).expand_as(x)

    def forward(self, x):
        x = self.gate(F.relu(self.c1(x)), self.e1)
        x = self.gate(F.relu(self.c2(x)), self.e2)
        return self.fc(x.mean((2, 3)))


class Pools(nn.Module):
    """Global pools written out: the sum over H and W divided by H*W, x.view(b, c, -1).mean(-1) (also as a
    squeeze-excitation's squeeze), amax over H and W, the mean over W then over H, the max over H alone."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1), bn(16), nn.ReLU())
        self.c2 = nn.Sequential(nn.Conv2d(16, 24, 3, 2, 1), bn(24), nn.ReLU())
        self.se1, self.se2 = nn.Linear(24, 8), nn.Linear(8, 24)
        self.c3 = nn.Conv2d(24, 24, 3, 1, 1)
        self.fc = nn.Linear(24 * 4, 10)

    def forward(self, x):
        x = self.c2(self.c1(x))
        b, c = x.shape[0], x.shape[1]
        s = x.view(b, c, -1).mean(-1)
        x = x * torch.sigmoid(self.se2(F.relu(self.se1(s)))).view(b, c, 1, 1)
        y = F.relu(self.c3(x))
        h = y.amax(2, keepdim=True)
        f = torch.cat([y.sum((2, 3)) / (y.shape[2] * y.shape[3]), y.view(b, c, -1).mean(-1), y.amax((2, 3)),
                       y.mean(3).mean(2) + h.mean((2, 3))], 1)
        return self.fc(f)


# Opsets before 10 and 11 take Clip's, Pad's and Slice's constants as attributes, and torch writes opset 7's and 8's
# shape integers as doubles: each pattern is also exported at 7 and 10 where torch can (CELU has no export before 12,
# expand_as none before 8, and at 7 to 9 torch emulates ceil mode with pads past the kernel, which ONNX Runtime
# refuses too). Opset 22 is the opset-17 export restamped: from 18 to 22 the ops these models use changed only in
# ReduceMean's and ReduceMax's axes (an input from 18, converted here) and in types.
OPSETS = (7, 10, 13, 17)


def restamp22(src, dst):
    import onnx
    from onnx import helper, numpy_helper
    m = onnx.load(src)
    for n in m.graph.node:
        axes = [a for a in n.attribute if a.name == "axes"]
        if n.op_type in ("ReduceMean", "ReduceMax") and axes:
            name = n.output[0] + "/axes"
            m.graph.initializer.append(numpy_helper.from_array(np.array(axes[0].ints, dtype=np.int64), name))
            n.attribute.remove(axes[0])
            n.input.append(name)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 22
    m.ir_version = 10
    onnx.save(m, dst)


def main():
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    x = torch.randn(2, 3, 16, 16)
    index = {}
    for name, m in [("shuffle", Shuffle()), ("mobilev3", MobileV3()), ("efficient", Efficient()), ("geometry", Geometry()),
                    ("logsoftmax", Head(True)), ("softmax", Head(False)), ("acts", Acts()), ("spatial", Spatial()),
                    ("selinear", SELinear()), ("cbam", CBAM()), ("acts2", Acts2()),
                    ("eca", ECA()), ("pools", Pools())]:
        m.eval()
        with torch.no_grad():
            y = m(x)
        opsets = []
        for opset in OPSETS:
            if opset < 10 and name == "geometry" or opset < 12 and name == "acts2" or opset < 8 and name in ("selinear", "eca", "pools"):
                continue
            torch.onnx.export(m, x, os.path.join(OUT, f"{name}_op{opset}.onnx"), opset_version=opset,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}, "y": {0: "N"}})
            opsets.append(opset)
        restamp22(os.path.join(OUT, f"{name}_op17.onnx"), os.path.join(OUT, f"{name}_op22.onnx"))
        opsets.append(22)
        np.save(os.path.join(OUT, f"{name}_logits.npy"), y.numpy().astype(np.float32))
        index[name] = {"shape": list(y.shape), "opsets": opsets}
    np.save(os.path.join(OUT, "input.npy"), x.numpy().astype(np.float32))
    with open(os.path.join(OUT, "patterns.json"), "w") as f:
        json.dump(index, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
