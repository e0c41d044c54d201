"""freqload: JPEG to DCT-coefficient data loading for learning in the frequency domain.

The package follows the data path, one layer per folder, each importing only the layers
below it (an import-linter contract checks this):

============  ===================================================================
``codec``     one JPEG -> its quantised DCT coefficients -> one sample (the native
              core's Python face): :func:`read_coefficients`, :func:`to_channels`,
              :class:`Recipe`, :class:`ChannelMask`, DCT-domain transforms and
              per-sample augmentation (:class:`TrivialAugmentWide`, :class:`RandAugment`,
              :class:`ColorJitter`, :class:`RandomGrayscale`)
``data``      where samples come from: folders, lists, tar shards, object storage,
              packs (:class:`Source`, :func:`write_index`)
``loading``   the loaders and their engines, batches on the device
              (:class:`DCTLoader`, :class:`RGBLoader`, :class:`ChannelStats`,
              :class:`MixUp`, :class:`CutMix`)
``models``    model adapters for DCT input and the frequency gate
``tools``     the applications: the command line, benchmarks, ``compare``,
              writing packs and shards (never imported by the layers above)
============  ===================================================================

``import freqload`` needs numpy only; what needs torch (the loaders, the models) loads
on first use.
"""
__version__ = "0.1.0"

from . import _core
from .codec import (
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SCANS,
    ChannelMask,
    Coefficients,
    ColorJitter,
    ComponentInfo,
    FixedOp,
    JpegInfo,
    RandAugment,
    RandomGrayscale,
    Recipe,
    Transform,
    TrivialAugmentWide,
    crop,
    hflip,
    orient,
    read_coefficients,
    read_header,
    resize_crop,
    sample_keys,
    to_channels,
    to_rgb,
)
from .data import Source, write_index
from .errors import (
    DecodeError,
    FreqloadError,
    ImageTooLargeError,
    IntegrityError,
    ManifestError,
    UnsupportedImageError,
)

#: names that need torch, and the module each comes from (loaded on first use)
_LAZY = {"DCTLoader": "loading.dct_loader", "RGBLoader": "loading.rgb_loader",
         "MixUp": "loading.mixing", "CutMix": "loading.mixing",
         "ChannelStats": "loading.stats", "compute_channel_stats": "loading.stats",
         "create_model": "models.registry"}
_SUBPACKAGES = ("codec", "data", "loading", "models")


def __getattr__(name):
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _SUBPACKAGES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'freqload' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_SUBPACKAGES))


def libjpeg_version() -> str:
    """The libjpeg build freqload's native core was compiled against."""
    return _core.libjpeg_version()


__all__ = ["ChannelMask", "ChannelStats", "Coefficients", "ColorJitter", "ComponentInfo", "CutMix",
           "DCTLoader", "DEFAULT_MAX_FILE_SIZE", "DEFAULT_MAX_MEMORY", "DEFAULT_MAX_PIXELS",
           "DEFAULT_MAX_SCANS", "DecodeError", "FixedOp", "FreqloadError", "ImageTooLargeError",
           "IntegrityError", "JpegInfo", "ManifestError", "MixUp", "RGBLoader", "RandAugment",
           "RandomGrayscale", "Recipe", "Source", "Transform", "TrivialAugmentWide",
           "UnsupportedImageError", "compute_channel_stats", "create_model", "crop", "hflip",
           "libjpeg_version", "orient", "read_coefficients", "read_header", "resize_crop",
           "sample_keys", "to_channels", "to_rgb", "write_index"]
