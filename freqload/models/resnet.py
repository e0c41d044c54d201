"""ResNet with torchvision's layout and parameter names, for RGB or DCT input (the DCT
variant drops the stem: the block grid enters layer1)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .init import init_weights


def _conv3x3(i, o, stride=1):
    return nn.Conv2d(i, o, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = _conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    """torchvision's (ResNet v1.5: the stride sits on the 3x3 conv)."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + idt)


class ResNet(nn.Module):
    """ResNet with torchvision's parameter names.

    Args:
        block, layers: BasicBlock/Bottleneck and blocks per stage.
        num_classes: classifier outputs.
        in_channels: None for the RGB model (3-channel stem); C for DCT input, which then
            enters layer1 directly (no conv1/bn1/maxpool).
        layer2_stride: 2 (torchvision) or 1 (DCTNet's released ResNet-50).
        width: layer1's channels (torchvision: 64); the stages have width x (1, 2, 4, 8).
            Smaller widths make small models (``resnet_mini``: BasicBlocks (1, 1, 1, 1),
            width 16, 0.44 M parameters at 1000 classes) for quick experiments (freqload compare).
    Input ``[B, 3, H, W]`` (RGB) or ``[B, C, H8, W8]`` (DCT); output ``[B, num_classes]``.
    """

    def __init__(self, block, layers: Sequence[int], num_classes: int = 1000,
                 in_channels: int | None = None, layer2_stride: int = 2, width: int = 64):
        super().__init__()
        if layer2_stride not in (1, 2):
            raise ValueError(f"layer2_stride must be 1 or 2, got {layer2_stride}")
        self.dct = in_channels is not None
        self.input_norm: nn.Module = nn.Identity()
        width = int(width)
        self.inplanes = width
        if in_channels is None:
            self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        else:
            self.inplanes = int(in_channels)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, 2 * width, layers[1], stride=layer2_stride)
        self.layer3 = self._make_layer(block, 4 * width, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(8 * width * block.expansion, num_classes)
        init_weights(self)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def adapted_keys(self) -> list[str]:
        """DCT input: the parameters that read the input (layer1.0's conv1 and downsample
        conv). Their meaning changed, so they never take RGB weights, whatever the shape."""
        if not self.dct:
            return []
        names = ["layer1.0.conv1.weight"]
        if self.layer1[0].downsample is not None:
            names += ["layer1.0.downsample.0.weight"]
        return names

    def forward(self, x):
        x = self.input_norm(x)
        if not self.dct:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


__all__ = ["ResNet", "BasicBlock", "Bottleneck"]
