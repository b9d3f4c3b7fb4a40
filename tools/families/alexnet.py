"""torchvision 0.14 AlexNet (torchvision/models/alexnet.py). `widths` and `hidden` (torchvision:
64, 192, 384, 256, 256 and 4096) are parameters here so a small instance can be built."""
import torch
from torch import nn


class AlexNet(nn.Module):
    def __init__(self, num_classes: int = 1000, dropout: float = 0.5,
                 widths=(64, 192, 384, 256, 256), hidden: int = 4096) -> None:
        super().__init__()
        w = widths
        self.features = nn.Sequential(
            nn.Conv2d(3, w[0], kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(w[0], w[1], kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(w[1], w[2], kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w[2], w[3], kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(w[3], w[4], kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout),
            nn.Linear(w[4] * 6 * 6, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.classifier(x)
        return x
