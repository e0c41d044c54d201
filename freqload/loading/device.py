"""The post-stage on the device: what happens to a batch after it crosses.

One home for it, whatever the loader or model:

* :class:`Normalize` - ``(x - mean) / std`` per channel, computed as ``x * (1/std) -
  mean/std`` (one pass that also turns int16 into float32). DCTLoader's ``normalize=``,
  the models' ``input_norm`` (``freqload.models.InputNorm`` is this class) and the RGB
  baseline's ImageNet normalisation all use it.
* :func:`resolve_device` - the device a loader sends batches to (cuda when available).
* :class:`PostStage` - DCTLoader's tail on the batch's device: the planes of
  ``regroup="device"`` aligned (:class:`freqload.loading.regroup.DeviceRegroup`), then int16 as it
  crossed (``normalize=False``), float32 (``None``) or normalised float32.
"""
from __future__ import annotations

from typing import cast

import numpy as np
import torch
from torch import nn

from ..codec.mask import as_mask
from .host_batch import ReusedBuffers
from .stats import ChannelStats


def resolve_device(device=None) -> torch.device:
    """``device`` as a torch.device (None: cuda when available, else cpu); a CUDA device
    without a GPU torch can use is refused here (ValueError), not at the first batch."""
    d = torch.device(device) if device is not None else torch.device(
        "cuda" if torch.cuda.is_available() else "cpu")
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}, but torch sees no CUDA GPU "
                         "(torch.cuda.is_available() is False): use device='cpu', or a "
                         "CUDA build of torch on a machine with a GPU")
    return d


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel of x ``[B, C, H, W]`` (or ``[C, H, W]``), as
    ``x * scale - shift`` with float32 buffers ``scale = 1/std``, ``shift = mean/std``
    ``[1, C, 1, 1]`` (computed in float64, then rounded). Any numeric x; float32 out."""

    def __init__(self, mean, std):
        super().__init__()
        mean = np.asarray(mean, dtype=np.float64).reshape(-1)
        std = np.asarray(std, dtype=np.float64).reshape(-1)
        if mean.shape != std.shape or not bool((std > 0).all()):
            raise ValueError("mean and std must have one positive std per channel")
        self.register_buffer("scale", torch.from_numpy((1.0 / std).astype(np.float32))
                             .view(1, -1, 1, 1))
        self.register_buffer("shift", torch.from_numpy((mean / std).astype(np.float32))
                             .view(1, -1, 1, 1))

    @classmethod
    def from_stats(cls, stats, mask=None) -> Normalize:
        """From a ChannelStats (or its file), for the channels of ``mask`` (default: all
        the stats hold)."""
        if not isinstance(stats, ChannelStats):
            stats = ChannelStats.load(stats)
        return cls(*stats.select(as_mask(mask) if mask is not None else None))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before freqload.loading.device kept InputNorm's mean and std: convert
        mean, std = state_dict.pop(prefix + "mean", None), state_dict.pop(prefix + "std", None)
        if mean is not None and std is not None and prefix + "scale" not in state_dict:
            m, s = (v.double().reshape(-1).numpy() for v in (mean, std))
            state_dict[prefix + "scale"] = torch.from_numpy((1.0 / s).astype(np.float32)) \
                .view(1, -1, 1, 1)
            state_dict[prefix + "shift"] = torch.from_numpy((m / s).astype(np.float32)) \
                .view(1, -1, 1, 1)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def numpy_into(self, x: np.ndarray, out: np.ndarray) -> np.ndarray:
        """forward for x on the host as numpy ``[B, C, H, W]`` into float32 ``out`` of its
        shape: the same two float32 operations, on the calling thread alone (numpy),
        bit-identical to :meth:`forward`."""
        scale = cast(torch.Tensor, self.scale).cpu().numpy()
        shift = cast(torch.Tensor, self.shift).cpu().numpy()
        np.multiply(x, scale, out=out, casting="unsafe")
        return np.subtract(out, shift, out=out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeeze = x.dim() == 3
        if squeeze:
            x = x.unsqueeze(0)
        # the buffers registered in __init__: float32 [1, C, 1, 1]
        scale, shift = cast(torch.Tensor, self.scale), cast(torch.Tensor, self.shift)
        y = x * scale  # int16 -> float32 and the scale in one pass, then the shift
        y = y.sub_(shift) if y.dtype == torch.float32 else y.float().sub_(shift)
        return y.squeeze(0) if squeeze else y


class PostStage:
    """DCTLoader's tail on the device: (x as it crossed, the batch) -> the batch's x.

    Args:
        normalize: False (int16 as it crossed), None (float32), or a :class:`Normalize`.
        regroup: a :class:`freqload.loading.regroup.DeviceRegroup` for ``regroup="device"``
            batches (planes back to back + layouts), else None.
    """

    def __init__(self, normalize, regroup=None):
        self.normalize = normalize
        self.regroup = regroup
        # float32 batches on the CPU: the consumer's current and previous one, one spare
        self.buffers = ReusedBuffers(3)

    def to(self, device) -> PostStage:
        if isinstance(self.normalize, Normalize):
            self.normalize = self.normalize.to(device)
        return self

    def __call__(self, x: torch.Tensor, offsets=None, layouts=None) -> torch.Tensor:
        """x: int16 ``[B, C, H, W]`` (or the planes of a regroup="device" batch, with its
        offsets and layouts) on the device -> ``[B, C, H, W]``."""
        if self.regroup is not None:
            x = self.regroup(x, offsets, layouts)
        if self.normalize is False:
            return x
        if x.device.type == "cpu" and x.dtype == torch.int16 and x.dim() == 4:
            # On the host: numpy, into a reused buffer. torch's CPU kernels run on its
            # OpenMP threads, which spin-wait after each call on the cores the engine's
            # threads decode on; and a new float32 batch is new memory to fault in.
            xs = x.contiguous().numpy()
            out = self.buffers.take(tuple(xs.shape), np.float32)
            if self.normalize is None:
                np.copyto(out, xs, casting="unsafe")
            else:
                self.normalize.numpy_into(xs, out)
            return torch.from_numpy(out)
        if self.normalize is None:
            return x.float()
        return self.normalize(x)


__all__ = ["Normalize", "PostStage"]
