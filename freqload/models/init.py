"""torchvision's weight initialisation, for every model family here."""
from __future__ import annotations

from torch import nn


def init_weights(model: nn.Module, linear_std: float | None = None) -> None:
    """torchvision's initialisation: Kaiming-normal (fan_out, ReLU) convolutions, unit
    BatchNorm, and N(0, linear_std) linear layers when given (else PyTorch's default)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0, linear_std)
            nn.init.zeros_(m.bias)


__all__ = ["init_weights"]
