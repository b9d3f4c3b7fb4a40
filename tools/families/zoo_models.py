"""The models of testdata/fmnist_zoo, built from torchvision 0.14 (Debian's python3-torchvision):
the float model fmnist_zoo.py trains and exports, and torchvision's quantizable version of the
same architecture that zoo_anchors.py quantizes (None where torchvision has none). Also the paths
and tools/fmnist.py (data conventions) that both scripts use.

Narrowing, where torchvision's constructors hard-code widths, goes through their own hooks:
GoogLeNet's `blocks` (every Inception and stem conv width divided by 8), ResNet's `_make_layer`
(stem and stage widths replaced, re-initialised as ResNet.__init__ does), EfficientNet's
`_efficientnet_conf` width and depth multipliers. The modules, forward and fuse_model are
torchvision's.
"""
import importlib
import json
import os
import sys

import torch
from torch import nn
from torchvision.models import efficientnet, mobilenetv3, shufflenetv2
from torchvision.models.googlenet import GoogLeNet
from torchvision.models.quantization.utils import _replace_relu

# torchvision.models.quantization re-exports builder functions under the modules' names.
qgooglenet = importlib.import_module("torchvision.models.quantization.googlenet")
qmobilenetv3 = importlib.import_module("torchvision.models.quantization.mobilenetv3")
qresnet = importlib.import_module("torchvision.models.quantization.resnet")
qshufflenetv2 = importlib.import_module("torchvision.models.quantization.shufflenetv2")
googlenet_mod = importlib.import_module("torchvision.models.googlenet")
resnet_mod = importlib.import_module("torchvision.models.resnet")

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import fmnist  # noqa: E402,F401  tools/fmnist.py: data, preprocessing

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "testdata", "fmnist_zoo")
CALIB = os.path.join(ROOT, "testdata", "mobilenetv2_fmnist", "calib_images.npy")
NUM_CLASSES = 10


def write_json(path, v):
    with open(path, "w") as f:
        json.dump(v, f, indent=1)
        f.write("\n")


def mobilenet_v3_small(quantizable):
    setting, last = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25, reduced_tail=True)
    if not quantizable:
        return mobilenetv3.MobileNetV3(setting, last, num_classes=NUM_CLASSES)
    m = qmobilenetv3.QuantizableMobileNetV3(setting, last, block=qmobilenetv3.QuantizableInvertedResidual,
                                            num_classes=NUM_CLASSES)
    _replace_relu(m)
    return m


SHUFFLE = ([2, 4, 2], [24, 48, 96, 192, 512])


def shufflenet_v2(quantizable):
    if not quantizable:
        return shufflenetv2.ShuffleNetV2(*SHUFFLE, num_classes=NUM_CLASSES)
    m = qshufflenetv2.QuantizableShuffleNetV2(*SHUFFLE, num_classes=NUM_CLASSES)
    _replace_relu(m)
    return m


GOOGLENET_DIV = 8


class NarrowGoogLeNet(qgooglenet.QuantizableGoogLeNet):
    """QuantizableGoogLeNet with every width divided by GOOGLENET_DIV (all of GoogLeNet's are
    multiples of 8, so the Inception concats still add up). Its forward and fuse_model are
    torchvision's; as a float model it computes what GoogLeNet with the same blocks does
    (QuantStub, DeQuantStub and FloatFunctional.cat are the identity and torch.cat in float)."""

    def __init__(self, quantizable):
        d = GOOGLENET_DIV
        conv, inc, aux = (qgooglenet.QuantizableBasicConv2d, qgooglenet.QuantizableInception,
                          qgooglenet.QuantizableInceptionAux) if quantizable else (
            googlenet_mod.BasicConv2d, googlenet_mod.Inception, googlenet_mod.InceptionAux)

        def conv_block(cin, cout, **kw):
            return conv(cin if cin == 3 else cin // d, cout // d, **kw)

        def inception_block(cin, *widths, **kw):
            return inc(cin // d, *(w // d for w in widths), **kw)

        GoogLeNet.__init__(self, num_classes=NUM_CLASSES, aux_logits=False, transform_input=False,
                           init_weights=True, blocks=[conv_block, inception_block, aux])
        self.fc = nn.Linear(1024 // d, NUM_CLASSES)
        torch.nn.init.trunc_normal_(self.fc.weight, mean=0.0, std=0.01, a=-2, b=2)
        self.quant = torch.ao.quantization.QuantStub()
        self.dequant = torch.ao.quantization.DeQuantStub()
        if quantizable:
            _replace_relu(self)


def googlenet(quantizable):
    return NarrowGoogLeNet(quantizable)


# ResNeXt: bottleneck blocks, one per stage, stage widths (planes) 16, 32, 48, 64 (outputs x4),
# 8 groups of width_per_group 16: grouped 3x3 convs of 32, 64, 96, 128 channels, 4..16 per group.
RESNEXT = dict(stem=16, planes=[16, 32, 48, 64], layers=[1, 1, 1, 1], groups=8, width_per_group=16)


def resnext(quantizable):
    c = RESNEXT
    if quantizable:
        block = qresnet.QuantizableBottleneck
        m = qresnet.QuantizableResNet(block, c["layers"], groups=c["groups"], width_per_group=c["width_per_group"],
                                      num_classes=NUM_CLASSES)
    else:
        block = resnet_mod.Bottleneck
        m = resnet_mod.ResNet(block, c["layers"], groups=c["groups"], width_per_group=c["width_per_group"],
                              num_classes=NUM_CLASSES)
    # ResNet.__init__ hard-codes the 64-channel stem and stage widths 64..512: rebuild them.
    m.inplanes = c["stem"]
    m.conv1 = nn.Conv2d(3, c["stem"], kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(c["stem"])
    for i, (planes, n) in enumerate(zip(c["planes"], c["layers"])):
        setattr(m, f"layer{i + 1}", m._make_layer(block, planes, n, stride=1 if i == 0 else 2))
    m.fc = nn.Linear(c["planes"][-1] * block.expansion, NUM_CLASSES)
    for mod in m.modules():  # ResNet.__init__'s initialisation
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(mod, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(mod.weight, 1)
            nn.init.constant_(mod.bias, 0)
    if quantizable:
        _replace_relu(m)
    return m


EFFICIENTNET = dict(width_mult=0.25, depth_mult=0.5)


def efficientnet_b0(quantizable):
    if quantizable:
        return None  # torchvision has no quantizable EfficientNet (SiLU, SE's sigmoid stay float)
    setting, last = efficientnet._efficientnet_conf("efficientnet_b0", **EFFICIENTNET)
    return efficientnet.EfficientNet(setting, 0.2, num_classes=NUM_CLASSES, last_channel=last)


BUILD = {
    "mobilenet_v3_small": mobilenet_v3_small,
    "shufflenet_v2": shufflenet_v2,
    "googlenet": googlenet,
    "resnext": resnext,
    "efficientnet_b0": efficientnet_b0,
}
