"""The loading layer: samples to batches on the device (needs torch).

==================  ================================================================
module              what it does
==================  ================================================================
``dct_loader``      :class:`DCTLoader`: frequency-domain batches, the error policy,
                    only the masked int16 channels crossing to the device
``rgb_loader``      :class:`RGBLoader`: the RGB baseline with the same interface
``engines``         where each image is decoded: the core's own thread pool (native)
                    or DALI's, both running the core's one batch entry point
``epochs``          what both loaders share: epochs, length, exact resume
``sampler``         which samples each rank visits in each epoch, in what batches
``device``          the post-stage on the device: float, normalisation
``regroup``         chroma alignment and masking on the device (``regroup="device"``)
``stats``           per-channel mean/std of a data set, for normalisation
``mixing``          MixUp and CutMix on the batch, on its device
``erasing``         RandomErasing on the batch, drawn from each sample's key
``pixel_policy``    the policies' ops on PIL images: the RGB baseline's augmentation
==================  ================================================================

Imports the codec and data layers; the models and tools import it.
"""
from .dct_loader import DCTLoader, LoaderStats
from .rgb_loader import RGBLoader
from .stats import ChannelStats, compute_channel_stats

__all__ = ["DCTLoader", "LoaderStats", "RGBLoader", "ChannelStats", "compute_channel_stats"]
