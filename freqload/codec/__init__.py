"""The codec layer: one JPEG's bytes to its coefficients, and coefficients to a sample.

The Python face of the native core (``freqload/_native/core``), one module per job:

====================  ================================================================
module                what it does
====================  ================================================================
``read``              bytes -> header facts (:func:`read_header`) and quantised DCT
                      coefficients (:func:`read_coefficients`); the core's file reader
``coefficients``      :class:`Coefficients`, :class:`JpegInfo`: what a read gives
``mask``              :class:`ChannelMask`: which of the 192 frequency channels to keep
``transform``         :class:`Transform` (train / eval / blocks) and the boxes it draws
``recipe``            :class:`Recipe`: everything that decides one sample, checked once
``policy``            :class:`TrivialAugmentWide`, :class:`RandAugment`, :class:`FixedOp`:
                      the automatic policies, drawn from each sample's key; ``apply_ops``
``augment``           :class:`ColorJitter`, :class:`RandomGrayscale`, and what
                      ``Recipe(augment=...)`` takes
``channels``          :func:`to_channels`: the (H/8, W/8, 192) grid, masked
``resample``          :func:`resize_crop`, :func:`sample`: DCT-domain resizing
``lossless``          :func:`hflip`, :func:`crop`, :func:`orient`: jpegtran's operations
``encode``            coefficients -> baseline JPEG bytes (what ``freqload pack`` writes)
``dct``, ``pixels``   the 8x8 DCT, and pixels back from coefficients (for looking)
====================  ================================================================

This layer imports only the native extension and freqload's base modules (errors,
schema); everything above it (data sources, loaders, models, the tools) imports it.
"""
from .augment import ColorJitter, RandomGrayscale
from .channels import to_channels
from .coefficients import Coefficients, ComponentInfo, JpegInfo
from .encode import split_coefficients, write_jpeg
from .lossless import crop, hflip, orient
from .mask import ChannelMask, as_mask
from .pixels import to_rgb
from .policy import FixedOp, RandAugment, TrivialAugmentWide
from .read import (
                   DEFAULT_MAX_FILE_SIZE,
                   DEFAULT_MAX_MEMORY,
                   DEFAULT_MAX_PIXELS,
                   DEFAULT_MAX_SCANS,
                   read_coefficients,
                   read_file,
                   read_header,
)
from .recipe import Recipe
from .resample import resize_crop, sample
from .transform import Transform, eval_box, random_resized_crop, sample_keys

__all__ = ["ChannelMask", "Coefficients", "ColorJitter", "ComponentInfo", "DEFAULT_MAX_FILE_SIZE",
           "DEFAULT_MAX_MEMORY", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_SCANS", "FixedOp", "JpegInfo",
           "RandAugment", "RandomGrayscale", "Recipe", "Transform", "TrivialAugmentWide",
           "as_mask", "crop", "eval_box", "hflip", "orient", "random_resized_crop",
           "read_coefficients", "read_file", "read_header", "resize_crop", "sample", "sample_keys",
           "split_coefficients", "to_channels", "to_rgb", "write_jpeg"]
