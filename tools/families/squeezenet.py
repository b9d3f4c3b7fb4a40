"""torchvision 0.14 SqueezeNet 1.0 and 1.1 (torchvision/models/squeezenet.py). Every width is
divided by `divisor` here (torchvision: 1) so a small instance can be built."""
import torch
from torch import nn


class Fire(nn.Module):
    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int) -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


class SqueezeNet(nn.Module):
    def __init__(self, version: str = "1_0", num_classes: int = 1000, dropout: float = 0.5, divisor: int = 1) -> None:
        super().__init__()
        self.num_classes = num_classes

        def d(c):
            return max(1, c // divisor)

        if version == "1_0":
            self.features = nn.Sequential(
                nn.Conv2d(3, d(96), kernel_size=7, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(d(96), d(16), d(64), d(64)),
                Fire(d(128), d(16), d(64), d(64)),
                Fire(d(128), d(32), d(128), d(128)),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(d(256), d(32), d(128), d(128)),
                Fire(d(256), d(48), d(192), d(192)),
                Fire(d(384), d(48), d(192), d(192)),
                Fire(d(384), d(64), d(256), d(256)),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(d(512), d(64), d(256), d(256)),
            )
        elif version == "1_1":
            self.features = nn.Sequential(
                nn.Conv2d(3, d(64), kernel_size=3, stride=2),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(d(64), d(16), d(64), d(64)),
                Fire(d(128), d(16), d(64), d(64)),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(d(128), d(32), d(128), d(128)),
                Fire(d(256), d(32), d(128), d(128)),
                nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
                Fire(d(256), d(48), d(192), d(192)),
                Fire(d(384), d(48), d(192), d(192)),
                Fire(d(384), d(64), d(256), d(256)),
                Fire(d(512), d(64), d(256), d(256)),
            )
        else:
            raise ValueError(f"Unsupported SqueezeNet version {version}: 1_0 or 1_1 expected")

        final_conv = nn.Conv2d(d(512), self.num_classes, kernel_size=1)
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d((1, 1))
        )
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    nn.init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.classifier(x)
        return torch.flatten(x, 1)
