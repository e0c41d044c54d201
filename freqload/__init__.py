"""freqload: JPEG to DCT-coefficient data loading for learning in the frequency domain.

The data path, one module per arrow::

    JPEG bytes --read_coefficients--> Coefficients (quantised int16 per component)
               --to_channels-------> int16 [C, H/8, W/8], only the masked channels

``read_header``/``read_coefficients`` live in :mod:`freqload.coefficients`,
``to_channels`` in :mod:`freqload.channels`, ``ChannelMask`` in
:mod:`freqload.mask`, ``to_rgb`` (debugging) in :mod:`freqload.pixels`.
"""
__version__ = "0.1.0"

from .errors import DecodeError, FreqloadError, ImageTooLargeError, UnsupportedImageError
from .mask import ChannelMask
from .coefficients import (DEFAULT_MAX_PIXELS, Coefficients, ComponentInfo, JpegInfo,
                           read_coefficients, read_header)
from .channels import to_channels
from .pixels import to_rgb
from . import _core


def libjpeg_version() -> str:
    """The libjpeg build freqload's native core was compiled against."""
    return _core.libjpeg_version()


__all__ = [
    "ChannelMask", "Coefficients", "ComponentInfo", "DEFAULT_MAX_PIXELS", "DecodeError",
    "FreqloadError", "ImageTooLargeError", "JpegInfo", "UnsupportedImageError",
    "libjpeg_version", "read_coefficients", "read_header", "to_channels", "to_rgb",
]
