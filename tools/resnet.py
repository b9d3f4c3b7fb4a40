# torchvision 0.14's ResNet (torchvision/models/resnet.py) and its quantizable form
# (torchvision/models/quantization/resnet.py) with one addition: `widths`, the planes of
# layer1..layer4 (torchvision's are 64, 128, 256, 512; the stem has widths[0]), and the
# input's channels, so that small test models keep torchvision's structure and key names.
# Blocks, layers, forward and fusion are torchvision's own.
import torchvision.models.quantization.resnet as tvq
import torchvision.models.resnet as tv
from torch import nn


class ResNet(tv.ResNet):
    def __init__(self, block, layers, num_classes=1000, groups=1, width_per_group=64,
                 widths=(64, 128, 256, 512), in_channels=3):
        nn.Module.__init__(self)  # torchvision's __init__ fixes the widths
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(in_channels, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)


class QuantizableResNet(tvq.QuantizableResNet, ResNet):
    """torchvision's QuantizableResNet (quant and dequant stubs, fuse_model) over ResNet above."""


def build(desc, quantizable=False):
    """The model of a ptqc description with arch "resnet"."""
    basic = desc["block"] == "basic"
    if quantizable:
        cls, block = QuantizableResNet, (tvq.QuantizableBasicBlock if basic else tvq.QuantizableBottleneck)
    else:
        cls, block = ResNet, (tv.BasicBlock if basic else tv.Bottleneck)
    return cls(block, desc["layers"], num_classes=desc["num_classes"],
               width_per_group=desc.get("width_per_group", 64),
               widths=desc.get("widths", [64, 128, 256, 512]), in_channels=desc["input"][0])
