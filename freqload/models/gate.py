"""The dynamic channel gate of "Learning in the Frequency Domain" (Xu et al., 2020).

A gate learns which frequency channels a task needs; the channels it keeps open
most often become a static mask (:func:`mask_from_gate_stats`) for the loader,
so the others never leave the CPU.

    gate = FrequencyGate(192)                    # in front of a model taking 192 channels
    x, gates = gate(x)                           # x [B, 192, H, W] -> gated x, gates [B, 192]
    loss = criterion(model(x), y) + lam * gate_loss(gates)
    stats.update(gates)                          # GateStats: how often each channel is open
    mask = mask_from_gate_stats(stats, k=24)     # the 24 most used channels

On the command line: ``freqload mask --from-gate stats.json -k 24 -o mask.json``
(``--heatmap gates.png`` draws the selection frequencies, 8x8 per component:
:func:`freqload.tools.pictures.gate_heatmap`).
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..codec.mask import ChannelMask, as_mask
from ..data.destination import atomic_write

FORMAT = "freqload-gate-stats/1"


class FrequencyGate(nn.Module):
    """Per-sample channel gate: global average pool, 1x1 conv + BN + ReLU, a grouped 1x1
    conv giving two logits (closed, open) per channel, then Gumbel-softmax.

    Args:
        channels: C, the gated input's channels.
        hidden: width of the first 1x1 conv (default C).
        temperature: Gumbel-softmax temperature (an attribute; anneal it if you like).
        hard: straight-through hard gates in training (0/1 forward, soft gradients);
            False gives soft gates.
        open_bias: initial logit margin of "open" over "closed" (the gate starts open:
            3.0 -> p(open) = 0.95 before noise).
    forward(x ``[B, C, H, W]``) -> (x * gates ``[B, C, H, W]``, gates ``[B, C]``). In
    eval mode the gates are deterministic: open where the open logit is larger.
    """

    def __init__(self, channels: int = 192, hidden: int | None = None,
                 temperature: float = 1.0, hard: bool = True, open_bias: float = 3.0):
        super().__init__()
        hidden = int(hidden or channels)
        self.channels = int(channels)
        self.temperature = float(temperature)
        self.hard = bool(hard)
        self.squeeze = nn.Conv2d(channels, hidden, 1, bias=False)
        self.bn = nn.BatchNorm2d(hidden)
        self.relu = nn.ReLU(inplace=True)
        if hidden % channels:
            raise ValueError("hidden must be a multiple of channels (grouped logits)")
        self.logits = nn.Conv2d(hidden, 2 * channels, 1, groups=channels, bias=True)
        nn.init.kaiming_normal_(self.squeeze.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.logits.weight, 0, 0.01)
        with torch.no_grad():
            bias = torch.zeros(channels, 2)
            bias[:, 1] = open_bias
            if self.logits.bias is not None:  # made with bias=True above
                self.logits.bias.copy_(bias.reshape(-1))

    def gate_logits(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, 2]`` logits (closed, open)."""
        s = F.adaptive_avg_pool2d(x.float(), 1)
        s = self.relu(self.bn(self.squeeze(s)))
        return self.logits(s).reshape(x.shape[0], self.channels, 2)

    def forward(self, x: torch.Tensor):
        if x.shape[1] != self.channels:
            raise ValueError(f"FrequencyGate({self.channels}) got {x.shape[1]} channels")
        logits = self.gate_logits(x)
        if self.training:
            gates = F.gumbel_softmax(logits, tau=self.temperature, hard=self.hard, dim=-1)[..., 1]
        else:
            gates = (logits[..., 1] > logits[..., 0]).to(x.dtype if x.is_floating_point()
                                                          else torch.float32)
        return x * gates[:, :, None, None].to(x.dtype), gates


def gate_loss(gates: torch.Tensor) -> torch.Tensor:
    """Mean fraction of open channels (``gates [B, C]``); weight it as the task needs."""
    return gates.float().mean()


class GateStats:
    """How often each gated channel was open.

    Args:
        channels: the grid channels the gate's inputs are (indices in [0, 192), in the
            order the gate sees them; default all 192, or a mask of any kind).
    """

    def __init__(self, channels=None):
        self.channels = tuple(as_mask(channels).indices) if not isinstance(
            channels, (list, tuple)) else tuple(int(c) for c in channels)
        self.open = np.zeros(len(self.channels), dtype=np.float64)
        self.samples = 0

    def update(self, gates: torch.Tensor) -> None:
        """Add a batch of gates ``[B, C]`` (0/1 or soft)."""
        g = gates.detach().float().cpu().numpy()
        if g.ndim != 2 or g.shape[1] != len(self.channels):
            raise ValueError(f"gates must be [B, {len(self.channels)}], got {list(g.shape)}")
        self.open += g.sum(0)
        self.samples += g.shape[0]

    @property
    def frequency(self) -> np.ndarray:
        """float64 ``[C]``: fraction of samples each channel was open in."""
        return self.open / max(self.samples, 1)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "channels": list(self.channels),
                           "open": self.open.tolist(), "samples": self.samples})

    def save(self, path) -> None:
        atomic_write(os.fspath(path), (self.to_json() + "\n").encode())

    @classmethod
    def load(cls, path) -> GateStats:
        """Read a file written by :meth:`save`.

        Raises:
            ValueError: not JSON, not this format, a field missing or of the wrong kind,
                channels outside [0, 192) or repeated, counts not one per channel or
                negative or above ``samples``.
        """
        with open(path, encoding="utf-8") as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}: not a {FORMAT} file (not JSON: {e})") from None
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            got = d.get("format") if isinstance(d, dict) else type(d).__name__
            raise ValueError(f"{path}: not a {FORMAT} file (format={got!r})")
        missing = [k for k in ("channels", "open", "samples") if k not in d]
        if missing:
            raise ValueError(f"{path}: missing {', '.join(missing)}")
        try:
            channels = [int(c) for c in d["channels"]]
            counts = np.asarray(d["open"], dtype=np.float64)
            samples = int(d["samples"])
        except (TypeError, ValueError) as e:
            raise ValueError(f"{path}: malformed field: {e}") from None
        if any(not 0 <= c < 192 for c in channels) or len(set(channels)) != len(channels):
            raise ValueError(f"{path}: channels must be distinct grid indices in [0, 192)")
        if counts.ndim != 1 or len(counts) != len(channels):
            raise ValueError(f"{path}: {counts.size} counts for {len(channels)} channels")
        if samples < 0 or (counts < 0).any() or (counts > samples).any():
            raise ValueError(f"{path}: counts must lie in [0, samples={samples}]")
        s = cls(channels)
        s.open, s.samples = counts, samples
        return s


def mask_from_gate_stats(stats: GateStats, k: int) -> ChannelMask:
    """The k channels open most often (ties: the lower grid index) as a ChannelMask."""
    if not 1 <= k <= len(stats.channels):
        raise ValueError(f"k must be in [1, {len(stats.channels)}], got {k}")
    freq = stats.frequency
    order = sorted(range(len(freq)), key=lambda i: (-freq[i], stats.channels[i]))
    return ChannelMask([stats.channels[i] for i in order[:k]])


__all__ = ["FrequencyGate", "GateStats", "gate_loss", "mask_from_gate_stats", "FORMAT"]
