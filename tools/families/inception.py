"""torchvision 0.14 Inception v3 (torchvision/models/inception.py), in eval form (aux_logits=False:
the auxiliary head only runs in training). Every width is divided by `divisor` here (torchvision: 1)."""
from typing import List

import torch
import torch.nn.functional as F
from torch import nn, Tensor


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, **kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv(x)
        x = self.bn(x)
        return F.relu(x, inplace=True)


class InceptionA(nn.Module):
    def __init__(self, in_channels: int, pool_features: int, d) -> None:
        super().__init__()
        conv_block = BasicConv2d
        self.branch1x1 = conv_block(in_channels, d(64), kernel_size=1)
        self.branch5x5_1 = conv_block(in_channels, d(48), kernel_size=1)
        self.branch5x5_2 = conv_block(d(48), d(64), kernel_size=5, padding=2)
        self.branch3x3dbl_1 = conv_block(in_channels, d(64), kernel_size=1)
        self.branch3x3dbl_2 = conv_block(d(64), d(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(d(96), d(96), kernel_size=3, padding=1)
        self.branch_pool = conv_block(in_channels, pool_features, kernel_size=1)

    def _forward(self, x: Tensor) -> List[Tensor]:
        branch1x1 = self.branch1x1(x)
        branch5x5 = self.branch5x5_1(x)
        branch5x5 = self.branch5x5_2(branch5x5)
        branch3x3dbl = self.branch3x3dbl_1(x)
        branch3x3dbl = self.branch3x3dbl_2(branch3x3dbl)
        branch3x3dbl = self.branch3x3dbl_3(branch3x3dbl)
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        branch_pool = self.branch_pool(branch_pool)
        return [branch1x1, branch5x5, branch3x3dbl, branch_pool]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self._forward(x), 1)


class InceptionB(nn.Module):
    def __init__(self, in_channels: int, d) -> None:
        super().__init__()
        conv_block = BasicConv2d
        self.branch3x3 = conv_block(in_channels, d(384), kernel_size=3, stride=2)
        self.branch3x3dbl_1 = conv_block(in_channels, d(64), kernel_size=1)
        self.branch3x3dbl_2 = conv_block(d(64), d(96), kernel_size=3, padding=1)
        self.branch3x3dbl_3 = conv_block(d(96), d(96), kernel_size=3, stride=2)

    def _forward(self, x: Tensor) -> List[Tensor]:
        branch3x3 = self.branch3x3(x)
        branch3x3dbl = self.branch3x3dbl_1(x)
        branch3x3dbl = self.branch3x3dbl_2(branch3x3dbl)
        branch3x3dbl = self.branch3x3dbl_3(branch3x3dbl)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return [branch3x3, branch3x3dbl, branch_pool]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self._forward(x), 1)


class InceptionC(nn.Module):
    def __init__(self, in_channels: int, channels_7x7: int, d) -> None:
        super().__init__()
        conv_block = BasicConv2d
        self.branch1x1 = conv_block(in_channels, d(192), kernel_size=1)
        c7 = channels_7x7
        self.branch7x7_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7_2 = conv_block(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7_3 = conv_block(c7, d(192), kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = conv_block(in_channels, c7, kernel_size=1)
        self.branch7x7dbl_2 = conv_block(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = conv_block(c7, c7, kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = conv_block(c7, c7, kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = conv_block(c7, d(192), kernel_size=(1, 7), padding=(0, 3))
        self.branch_pool = conv_block(in_channels, d(192), kernel_size=1)

    def _forward(self, x: Tensor) -> List[Tensor]:
        branch1x1 = self.branch1x1(x)
        branch7x7 = self.branch7x7_1(x)
        branch7x7 = self.branch7x7_2(branch7x7)
        branch7x7 = self.branch7x7_3(branch7x7)
        branch7x7dbl = self.branch7x7dbl_1(x)
        branch7x7dbl = self.branch7x7dbl_2(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_3(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_4(branch7x7dbl)
        branch7x7dbl = self.branch7x7dbl_5(branch7x7dbl)
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        branch_pool = self.branch_pool(branch_pool)
        return [branch1x1, branch7x7, branch7x7dbl, branch_pool]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self._forward(x), 1)


class InceptionD(nn.Module):
    def __init__(self, in_channels: int, d) -> None:
        super().__init__()
        conv_block = BasicConv2d
        self.branch3x3_1 = conv_block(in_channels, d(192), kernel_size=1)
        self.branch3x3_2 = conv_block(d(192), d(320), kernel_size=3, stride=2)
        self.branch7x7x3_1 = conv_block(in_channels, d(192), kernel_size=1)
        self.branch7x7x3_2 = conv_block(d(192), d(192), kernel_size=(1, 7), padding=(0, 3))
        self.branch7x7x3_3 = conv_block(d(192), d(192), kernel_size=(7, 1), padding=(3, 0))
        self.branch7x7x3_4 = conv_block(d(192), d(192), kernel_size=3, stride=2)

    def _forward(self, x: Tensor) -> List[Tensor]:
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = self.branch3x3_2(branch3x3)
        branch7x7x3 = self.branch7x7x3_1(x)
        branch7x7x3 = self.branch7x7x3_2(branch7x7x3)
        branch7x7x3 = self.branch7x7x3_3(branch7x7x3)
        branch7x7x3 = self.branch7x7x3_4(branch7x7x3)
        branch_pool = F.max_pool2d(x, kernel_size=3, stride=2)
        return [branch3x3, branch7x7x3, branch_pool]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self._forward(x), 1)


class InceptionE(nn.Module):
    def __init__(self, in_channels: int, d) -> None:
        super().__init__()
        conv_block = BasicConv2d
        self.branch1x1 = conv_block(in_channels, d(320), kernel_size=1)
        self.branch3x3_1 = conv_block(in_channels, d(384), kernel_size=1)
        self.branch3x3_2a = conv_block(d(384), d(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3_2b = conv_block(d(384), d(384), kernel_size=(3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = conv_block(in_channels, d(448), kernel_size=1)
        self.branch3x3dbl_2 = conv_block(d(448), d(384), kernel_size=3, padding=1)
        self.branch3x3dbl_3a = conv_block(d(384), d(384), kernel_size=(1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = conv_block(d(384), d(384), kernel_size=(3, 1), padding=(1, 0))
        self.branch_pool = conv_block(in_channels, d(192), kernel_size=1)

    def _forward(self, x: Tensor) -> List[Tensor]:
        branch1x1 = self.branch1x1(x)
        branch3x3 = self.branch3x3_1(x)
        branch3x3 = [self.branch3x3_2a(branch3x3), self.branch3x3_2b(branch3x3)]
        branch3x3 = torch.cat(branch3x3, 1)
        branch3x3dbl = self.branch3x3dbl_1(x)
        branch3x3dbl = self.branch3x3dbl_2(branch3x3dbl)
        branch3x3dbl = [self.branch3x3dbl_3a(branch3x3dbl), self.branch3x3dbl_3b(branch3x3dbl)]
        branch3x3dbl = torch.cat(branch3x3dbl, 1)
        branch_pool = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)
        branch_pool = self.branch_pool(branch_pool)
        return [branch1x1, branch3x3, branch3x3dbl, branch_pool]

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat(self._forward(x), 1)


class Inception3(nn.Module):
    def __init__(self, num_classes: int = 1000, transform_input: bool = False, dropout: float = 0.5,
                 divisor: int = 1) -> None:
        super().__init__()

        def d(c):
            return max(1, c // divisor)

        conv_block = BasicConv2d
        self.transform_input = transform_input
        self.Conv2d_1a_3x3 = conv_block(3, d(32), kernel_size=3, stride=2)
        self.Conv2d_2a_3x3 = conv_block(d(32), d(32), kernel_size=3)
        self.Conv2d_2b_3x3 = conv_block(d(32), d(64), kernel_size=3, padding=1)
        self.maxpool1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = conv_block(d(64), d(80), kernel_size=1)
        self.Conv2d_4a_3x3 = conv_block(d(80), d(192), kernel_size=3)
        self.maxpool2 = nn.MaxPool2d(kernel_size=3, stride=2)
        # the concatenations' widths follow from the branches', as in torchvision at divisor 1
        a = lambda pf: d(64) + d(64) + d(96) + pf  # noqa: E731
        self.Mixed_5b = InceptionA(d(192), pool_features=d(32), d=d)
        self.Mixed_5c = InceptionA(a(d(32)), pool_features=d(64), d=d)
        self.Mixed_5d = InceptionA(a(d(64)), pool_features=d(64), d=d)
        c_in = d(384) + d(96) + a(d(64))
        self.Mixed_6a = InceptionB(a(d(64)), d=d)
        c_out = 4 * d(192)
        self.Mixed_6b = InceptionC(c_in, channels_7x7=d(128), d=d)
        self.Mixed_6c = InceptionC(c_out, channels_7x7=d(160), d=d)
        self.Mixed_6d = InceptionC(c_out, channels_7x7=d(160), d=d)
        self.Mixed_6e = InceptionC(c_out, channels_7x7=d(192), d=d)
        self.Mixed_7a = InceptionD(c_out, d=d)
        e_in = d(320) + d(192) + c_out
        e_out = d(320) + 2 * d(384) + 2 * d(384) + d(192)
        self.Mixed_7b = InceptionE(e_in, d=d)
        self.Mixed_7c = InceptionE(e_out, d=d)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(e_out, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                stddev = float(m.stddev) if hasattr(m, "stddev") else 0.1
                torch.nn.init.trunc_normal_(m.weight, mean=0.0, std=stddev, a=-2, b=2)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _transform_input(self, x: Tensor) -> Tensor:
        if self.transform_input:
            x_ch0 = torch.unsqueeze(x[:, 0], 1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5
            x_ch1 = torch.unsqueeze(x[:, 1], 1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5
            x_ch2 = torch.unsqueeze(x[:, 2], 1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5
            x = torch.cat((x_ch0, x_ch1, x_ch2), 1)
        return x

    def forward(self, x: Tensor) -> Tensor:
        x = self._transform_input(x)
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = self.maxpool1(x)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = self.maxpool2(x)
        x = self.Mixed_5b(x)
        x = self.Mixed_5c(x)
        x = self.Mixed_5d(x)
        x = self.Mixed_6a(x)
        x = self.Mixed_6b(x)
        x = self.Mixed_6c(x)
        x = self.Mixed_6d(x)
        x = self.Mixed_6e(x)
        x = self.Mixed_7a(x)
        x = self.Mixed_7b(x)
        x = self.Mixed_7c(x)
        x = self.avgpool(x)
        x = self.dropout(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x
