"""Model adapters for DCT input, and their RGB counterparts for fair baselines.

Every model takes ``[B, C, H8, W8]`` (C = the mask's channel count; a 448-pixel
image gives a 56x56 grid) or, for the RGB baselines, ``[B, 3, H, W]``. The
implementations are written here (no torchvision dependency) with torchvision's
parameter names, so a torchvision state_dict loads into the body
(:func:`load_rgb_pretrained`).

====================  =========================================================
model                 what changes for DCT input
====================  =========================================================
``resnet18_dct``,     The stem (conv1, bn1, relu, maxpool: 224 -> 56) is removed;
``resnet34_dct``,     the 56x56 grid enters layer1, whose first block's conv and
``resnet50_dct``      downsample take C channels (BasicBlock models gain a 1x1
                      downsample there). ``layer2_stride`` is explicit: 2 keeps
                      torchvision's FLOPs; 1 is what DCTNet's released ResNet-50
                      does without saying so: every later stage then runs at
                      twice the resolution, about 3x the FLOPs of standard
                      ResNet-50 (see :func:`count_macs`).
``mobilenet_v2_dct``  The first stride-2 convolution (features.0) is removed and
                      the grid takes the place of its output; the first block
                      (features.1, depthwise + pointwise) takes C channels. The
                      network then runs at half the RGB model's resolution at
                      224 pixels (56x56 instead of 112x112 after features.0).
====================  =========================================================

Every model has one config (``CONFIGS[name]``, a :class:`ModelConfig`: family, input
kind, grid, which state_dict prefixes are the stem and the classifier, where its input
statistics come from), and its factory builds the family's one implementation from it;
the built model carries it as ``model.config``.
``create_model(name, mask="dctnet24", num_classes=1000, stats=None, **kw)``
builds any of them (``resnet18``, ``resnet34``, ``resnet50``, ``mobilenet_v2``
are the RGB ones; ``resnet_mini`` / ``resnet_mini_dct`` are a small ResNet, one
BasicBlock per stage at widths 16-128, that trains in minutes on a CPU); ``stats`` (a
:class:`~freqload.loading.stats.ChannelStats` file) gives the model an :class:`InputNorm` as
``model.input_norm``, for loaders that hand over raw values.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..codec.mask import as_mask
from ..loading.device import Normalize
from .mobilenet import MobileNetV2
from .resnet import BasicBlock, Bottleneck, ResNet

#: (x - mean) / std per channel, the models' ``input_norm``: freqload.loading.device's
#: Normalize, the one normalisation the loaders use too (x [B, C, H, W]; mean, std [C];
#: from_stats).
InputNorm = Normalize


@dataclass(frozen=True)
class ModelConfig:
    """What freqload knows about a model, in one place (as timm keeps its configs).

    name: the registry name; family: "resnet" or "mobilenet_v2"; input: "dct" (C = the
    mask's channels on a block grid) or "rgb" (3 x 224 x 224); args: the family class's
    positional arguments after num_classes (ResNet: block, layers); grid: the input's
    spatial size at the standard resolution (56 x 56 blocks = 448 pixels, or 224 x 224
    pixels); stem / classifier: state_dict prefixes of the RGB stem (dropped when RGB
    weights load into a DCT model) and of the classifier (kept fresh when its shape
    differs); norm: where input statistics come from ("stats": a per-channel ChannelStats
    file, as ``input_norm``; "imagenet": ImageNet's RGB mean/std).
    """
    name: str
    family: str
    input: str
    args: tuple = ()
    grid: tuple[int, int] = (56, 56)
    stem: tuple[str, ...] = ()
    classifier: tuple[str, ...] = ()
    norm: str = "stats"
    kwargs: tuple[tuple[str, object], ...] = ()  #: the family class's keywords (width=16)

    @property
    def dct(self) -> bool:
        return self.input == "dct"

    def build(self, *, mask="dctnet24", num_classes: int = 1000, **kw) -> nn.Module:
        """The model: ``[B, C, *grid]`` (DCT, C = len(mask)) or ``[B, 3, *grid]`` (RGB) ->
        ``[B, num_classes]``; ``kw`` goes to the family class (e.g. layer2_stride)."""
        cls = _FAMILIES[self.family]
        kw = {**dict(self.kwargs), **kw}
        if self.dct:
            kw["in_channels"] = len(as_mask(mask))
        model = cls(*self.args, num_classes=num_classes, **kw)
        model.config = self
        return model


_FAMILIES = {"resnet": ResNet, "mobilenet_v2": MobileNetV2}
_RESNET = {"resnet18": (BasicBlock, (2, 2, 2, 2)), "resnet34": (BasicBlock, (3, 4, 6, 3)),
           "resnet50": (Bottleneck, (3, 4, 6, 3)), "resnet_mini": (BasicBlock, (1, 1, 1, 1))}
#: family keywords per base model (the small one for quick experiments: freqload compare)
_KWARGS = {"resnet_mini": (("width", 16),)}


def _configs() -> dict:
    out = {}
    for base in ("resnet18", "resnet34", "resnet50", "mobilenet_v2", "resnet_mini"):
        family = "mobilenet_v2" if base == "mobilenet_v2" else "resnet"
        stem = ("features.0.",) if family == "mobilenet_v2" else ("conv1.", "bn1.")
        classifier = ("classifier.",) if family == "mobilenet_v2" else ("fc.",)
        args = _RESNET.get(base, ())
        kwargs = _KWARGS.get(base, ())
        out[base] = ModelConfig(base, family, "rgb", args, (224, 224), stem, classifier,
                                "imagenet", kwargs)
        out[base + "_dct"] = ModelConfig(base + "_dct", family, "dct", args, (56, 56), stem,
                                         classifier, "stats", kwargs)
    return out


#: every model by name: its config (ModelConfig)
CONFIGS: dict[str, ModelConfig] = _configs()


def _factory(config: ModelConfig) -> Callable[..., nn.Module]:
    def make_dct(mask="dctnet24", num_classes: int = 1000, **kw) -> nn.Module:
        return config.build(mask=mask, num_classes=num_classes, **kw)

    def make_rgb(num_classes: int = 1000, **kw) -> nn.Module:
        return config.build(num_classes=num_classes, **kw)

    make: Callable[..., nn.Module] = make_dct if config.dct else make_rgb
    make.__name__ = config.name
    shape = (f"[B, C, {config.grid[0]}, {config.grid[1]}], C = len(mask)" if config.dct
             else f"[B, 3, {config.grid[0]}, {config.grid[1]}]")
    make.__doc__ = f"{config.name}: {shape} -> [B, num_classes] (freqload.models.CONFIGS)."
    return make


resnet18, resnet34, resnet50, mobilenet_v2 = (_factory(CONFIGS[n]) for n in (
    "resnet18", "resnet34", "resnet50", "mobilenet_v2"))
resnet18_dct, resnet34_dct, resnet50_dct, mobilenet_v2_dct = (_factory(CONFIGS[n]) for n in (
    "resnet18_dct", "resnet34_dct", "resnet50_dct", "mobilenet_v2_dct"))
resnet_mini, resnet_mini_dct = (_factory(CONFIGS[n]) for n in ("resnet_mini",
                                                                "resnet_mini_dct"))

#: every model by name: its factory (mask=, num_classes=, family keywords)
MODELS: dict[str, Callable[..., nn.Module]] = {name: globals()[name] for name in CONFIGS}


def create_model(name: str, *, mask="dctnet24", num_classes: int = 1000, stats=None,
                 **kw) -> nn.Module:
    """A model by name (``MODELS``; its config in ``CONFIGS``, also ``model.config``). DCT
    models take C = len(mask) channels; ``stats`` (a ChannelStats or its file) installs
    ``model.input_norm`` for those channels."""
    if name not in CONFIGS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(CONFIGS)}")
    config = CONFIGS[name]
    model = config.build(mask=mask, num_classes=num_classes, **kw)
    if stats is not None:
        if config.norm != "stats":
            raise ValueError("stats= is for DCT models (per-frequency-channel statistics)")
        model.input_norm = InputNorm.from_stats(stats, mask)
    return model


def load_rgb_pretrained(model: nn.Module, path_or_state, *, verbose: bool = True) -> dict:
    """Load a torchvision-named RGB state_dict (a file or a dict) into ``model``'s body.

    The RGB stem (ResNet: conv1, bn1; MobileNetV2: features.0) is dropped. The
    parameters that read the DCT input (``model.adapted_keys()``: ResNet's layer1.0
    conv1 and downsample conv; MobileNetV2's features.1 depthwise conv, its BatchNorm and
    the pointwise conv) keep their fresh initialisation, whatever their shape:
    Kaiming-normal (fan_out, ReLU) convolutions and unit BatchNorm, as DCTNet's released
    code initialises its adapted ResNet-50 layers. Modules the RGB model lacks (the 1x1
    downsample ResNet-18/34 gain when C != 64) are reported missing and stay fresh.
    Everything else must match in shape; the classifier is loaded when its shape
    matches (same num_classes), else kept fresh.

    Returns ``{"loaded": [...], "adapted": [...], "missing": [...], "unexpected": [...],
    "dropped_stem": [...]}`` (key lists); prints a summary when ``verbose``.
    """
    state = path_or_state
    if not isinstance(state, dict):
        state = torch.load(path_or_state, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state and isinstance(
                state["state_dict"], dict):
            state = state["state_dict"]
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    own = model.state_dict()
    config = getattr(model, "config", None)
    if config is None:
        raise ValueError("load_rgb_pretrained needs a model made by freqload.models "
                         "(create_model or a factory: its config names the stem and "
                         "classifier)")
    dct, stem, classifier = config.dct, config.stem, config.classifier
    adapted_keys = getattr(model, "adapted_keys", None)
    adapted = set(adapted_keys()) if callable(adapted_keys) else set()
    report: dict[str, list[str]] = {"loaded": [], "adapted": [], "missing": [],
                                    "unexpected": [], "dropped_stem": []}
    new = {}
    for k, v in state.items():
        if dct and k.startswith(stem):
            report["dropped_stem"].append(k)
        elif k not in own:
            report["unexpected"].append(k)
        elif k in adapted:
            report["adapted"].append(k)
        elif own[k].shape != v.shape:
            if k.startswith(classifier):
                report["adapted"].append(k)
            else:
                raise ValueError(f"{k}: shape {tuple(v.shape)} in the file, "
                                 f"{tuple(own[k].shape)} in the model")
        else:
            new[k] = v
            report["loaded"].append(k)
    report["missing"] = [k for k in own if k not in new and k not in report["adapted"]
                         and not k.startswith("input_norm.")]
    model.load_state_dict(new, strict=False)
    if verbose:
        print(f"load_rgb_pretrained: {len(report['loaded'])} tensors loaded, "
              f"{len(report['adapted'])} adapted (fresh init): {report['adapted']}, "
              f"{len(report['dropped_stem'])} stem tensors dropped, missing: "
              f"{report['missing']}, unexpected: {report['unexpected']}")
    return report


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Multiply-accumulates of one forward pass over ``input_shape`` (batch 1): half the
    FLOPs torch.utils.flop_counter counts (convolutions and matrix products; BatchNorm and
    activations are left out). Equal to counting each Conv2d and Linear by hand, and to
    torchvision's published GFLOPs for the RGB models (tests)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), counter:
            model(torch.zeros(1, *input_shape[-3:]))
    finally:
        model.train(was_training)
    return counter.get_total_flops() // 2


def check_arch(arch: str) -> None:
    """``arch`` must name a family with both inputs (ARCH and ARCH_dct, what ``freqload
    compare`` trains side by side); ValueError listing them otherwise."""
    if arch not in CONFIGS or arch + "_dct" not in CONFIGS:
        both = sorted(n for n in CONFIGS if n + "_dct" in CONFIGS)
        raise ValueError(f"--arch {arch}: the model families with both inputs are "
                         f"{', '.join(both)}")


__all__ = ["InputNorm", "resnet18", "resnet34", "resnet50", "mobilenet_v2", "resnet18_dct",
           "resnet34_dct", "resnet50_dct", "mobilenet_v2_dct", "resnet_mini",
           "resnet_mini_dct", "create_model", "load_rgb_pretrained", "count_macs", "MODELS",
           "CONFIGS", "ModelConfig", "check_arch"]
