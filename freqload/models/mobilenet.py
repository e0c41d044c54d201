"""MobileNetV2 with torchvision's layout and parameter names, for RGB or DCT input (the
DCT variant drops features.0, the first stride-2 convolution)."""
from __future__ import annotations

import torch
from torch import nn

from .init import init_weights


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU6(nn.Sequential):
    """torchvision's Conv2dNormActivation(..., activation_layer=ReLU6): names .0, .1."""

    def __init__(self, i, o, k=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(i, o, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(o), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(inp, hidden, k=1))
        layers += [ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 with torchvision's parameter names.

    in_channels: None (RGB: features.0 is the stride-2 stem) or C (DCT: features.0 is an
    Identity and the grid enters features.1, whose depthwise and pointwise convs take C).
    Input ``[B, 3, H, W]`` or ``[B, C, H8, W8]``; output ``[B, num_classes]``.
    """

    SETTING = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
               [6, 160, 3, 2], [6, 320, 1, 1]]

    def __init__(self, num_classes: int = 1000, in_channels: int | None = None,
                 width_mult: float = 1.0, dropout: float = 0.2):
        super().__init__()
        self.dct = in_channels is not None
        self.input_norm: nn.Module = nn.Identity()
        input_channel = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        features: list[nn.Module] = [nn.Identity() if self.dct
                                     else ConvBNReLU6(3, input_channel, stride=2)]
        if in_channels is not None:
            input_channel = int(in_channels)
        for t, c, n, s in self.SETTING:
            out = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, out, s if i == 0 else 1, t))
                input_channel = out
        features.append(ConvBNReLU6(input_channel, self.last_channel, k=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout),
                                        nn.Linear(self.last_channel, num_classes))
        init_weights(self, linear_std=0.01)

    def adapted_keys(self) -> list[str]:
        """DCT input: the first block's depthwise conv and its BatchNorm (C channels) and
        its pointwise conv (C -> 16): never loaded from RGB weights, whatever the shape."""
        if not self.dct:
            return []
        return [k for k in self.state_dict()
                if k.startswith(("features.1.conv.0.", "features.1.conv.1."))]

    def forward(self, x):
        x = self.features(self.input_norm(x))
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


__all__ = ["MobileNetV2"]
