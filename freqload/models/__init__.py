"""The models layer: thin adapters that take frequency-domain input, and the gate.

====================  ================================================================
module                what it holds
====================  ================================================================
``registry``          one :class:`ModelConfig` per model, its factory, and
                      :func:`create_model`, :func:`load_rgb_pretrained`,
                      :func:`count_macs`
``resnet``,           the two families, with torchvision's parameter names (RGB
``mobilenet``         weights load into the DCT variants' bodies)
``gate``              the frequency gate of Xu et al. and the mask it learns
``init``              torchvision's weight initialisation
====================  ================================================================

Needs torch. Imports the codec layer (masks) and the loaders' device post-stage
(:class:`~freqload.loading.device.Normalize`, the models' ``input_norm``).
"""
from .gate import FrequencyGate, GateStats, gate_loss, mask_from_gate_stats
from .mobilenet import MobileNetV2
from .registry import (
                       CONFIGS,
                       MODELS,
                       InputNorm,
                       ModelConfig,
                       check_arch,
                       count_macs,
                       create_model,
                       load_rgb_pretrained,
                       mobilenet_v2,
                       mobilenet_v2_dct,
                       resnet18,
                       resnet18_dct,
                       resnet34,
                       resnet34_dct,
                       resnet50,
                       resnet50_dct,
                       resnet_mini,
                       resnet_mini_dct,
)
from .resnet import ResNet

__all__ = ["CONFIGS", "MODELS", "FrequencyGate", "GateStats", "InputNorm", "MobileNetV2",
           "ModelConfig", "ResNet", "check_arch", "count_macs", "create_model", "gate_loss",
           "load_rgb_pretrained", "mask_from_gate_stats", "mobilenet_v2", "mobilenet_v2_dct",
           "resnet18", "resnet18_dct", "resnet34", "resnet34_dct", "resnet50", "resnet50_dct",
           "resnet_mini", "resnet_mini_dct"]
