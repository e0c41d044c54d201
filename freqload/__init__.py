"""freqload: JPEG to DCT-coefficient data loading for learning in the frequency domain.

The data path, one module per arrow::

    JPEG bytes --read_coefficients--> Coefficients (quantised int16 per component)
               --to_channels-------> int16 [C, H/8, W/8], only the masked channels

``read_header``/``read_coefficients`` live in :mod:`freqload.coefficients`,
``to_channels`` in :mod:`freqload.channels`, ``ChannelMask`` in
:mod:`freqload.mask`, ``to_rgb`` (debugging) in :mod:`freqload.pixels`,
``DCTLoader`` (batches on the device; needs torch) in :mod:`freqload.loader`,
``hflip``/``crop``/``resize_crop`` (DCT-domain augmentation) in
:mod:`freqload.transforms`, ``Recipe`` (everything that decides a loader sample, as
every engine takes it) in :mod:`freqload.recipe`.
"""
__version__ = "0.1.0"

from .errors import DecodeError, FreqloadError, ImageTooLargeError, UnsupportedImageError
from .mask import ChannelMask
from .coefficients import (DEFAULT_MAX_FILE_SIZE, DEFAULT_MAX_MEMORY, DEFAULT_MAX_PIXELS,
                           DEFAULT_MAX_SCANS, Coefficients, ComponentInfo, JpegInfo,
                           read_coefficients, read_header)
from .channels import to_channels
from .pixels import to_rgb
from .transforms import Transform, crop, hflip, orient, resize_crop
from .recipe import Recipe
from . import _core


def __getattr__(name):
    # torch-dependent parts load on first use, so `import freqload` needs numpy only
    if name == "DCTLoader":
        from .loader import DCTLoader
        return DCTLoader
    if name in ("ChannelStats", "compute_channel_stats"):
        from . import stats
        return getattr(stats, name)
    if name in ("models", "nn", "bench", "pack", "rgb", "cli", "stats", "loader", "regroup"):
        import importlib
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'freqload' has no attribute {name!r}")


def libjpeg_version() -> str:
    """The libjpeg build freqload's native core was compiled against."""
    return _core.libjpeg_version()


__all__ = [
    "ChannelMask", "ChannelStats", "Coefficients", "DCTLoader", "compute_channel_stats", "ComponentInfo", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_FILE_SIZE", "DEFAULT_MAX_SCANS", "DEFAULT_MAX_MEMORY", "DecodeError",
    "FreqloadError", "ImageTooLargeError", "JpegInfo", "UnsupportedImageError",
    "libjpeg_version", "read_coefficients", "read_header", "to_channels", "to_rgb",
    "hflip", "crop", "orient", "resize_crop", "Recipe", "Transform",
]
