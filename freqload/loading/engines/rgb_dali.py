"""RGBLoader's DALI engine: DALI's own CPU decoder and resize, on DCTLoader's boxes.

The strongest RGB baseline a user would pick is DALI's (its ROI decoding, its resize on
its thread pool, uint8 out). This engine is that, with the boxes and flips DCTLoader
draws (``RGBSamples.box``), so an A/B run is like with like: the same pictures, crops and
flips; only the input differs. Per batch, the source callback (Python, on the pipeline's
prefetch) reads each sample's bytes and header and draws its box; DALI then decodes only
the box's region (``fn.decoders.image_slice``, EXIF orientation applied, boxes in the
upright picture), resizes it to ``size`` x ``size`` (linear, antialiased) and mirrors it
where the draw says (``fn.crop_mirror_normalize``, uint8 CHW). uint8 crosses to the
device, where the loader normalises (3 * size^2 bytes per sample, a quarter of the torch
engine's float32).

Files DALI's decoders cannot read but Pillow can (a GIF in a JPEG data set) are decoded
by Pillow in the source callback and handed to DALI as PNG, so both engines see the same
files.
"""
from __future__ import annotations

import ctypes
import io
import math

import numpy as np
import torch

from ...codec.read import read_file, read_header
from ...errors import FreqloadError
from .dali_engine import EpochRunner, keep_in_children


class _BoxSource:
    """DALI external_source callback: per batch (encoded bytes per sample; the whole
    pixels enclosing each box, anchor (top, left) and shape (h, w) as float32 [b, 2];
    the box inside them, start and end (y, x) as float32 [b, 2], fractional as the eval
    boxes are; flips int32 [b]; indices [b, 1])."""

    def __init__(self, samples, dataset, orientation: str):
        self.samples, self.dataset = samples, dataset  # RGBSamples: box(), upright()
        self.orientation = orientation
        self.batches: list = []
        self.epoch = 0
        self.next = 0

    def start(self, batches, epoch: int) -> None:
        self.batches, self.epoch, self.next = batches, int(epoch), 0

    def _read(self, i: int):
        """(bytes DALI can decode, upright height, width) of sample i."""

        path, offset, length = self.dataset.where(i)
        data = read_file(path, 0, offset, length)
        try:
            info = read_header(data)
        except FreqloadError:  # not a JPEG libjpeg reads: Pillow decodes it, DALI gets PNG
            return self._via_pillow(data)
        h, w = info.height, info.width
        if self.orientation == "exif" and info.orientation in (5, 6, 7, 8):
            h, w = w, h  # turned by a quarter: the upright picture is transposed
        return np.frombuffer(data, dtype=np.uint8), h, w

    def _via_pillow(self, data: bytes):
        with self.samples.upright(io.BytesIO(data)) as im:  # as the torch engine reads it
            buf = io.BytesIO()
            im.save(buf, format="PNG", compress_level=1)
            return np.frombuffer(buf.getvalue(), dtype=np.uint8), im.height, im.width

    def __call__(self):
        if self.next >= len(self.batches):
            raise StopIteration
        b = np.asarray(self.batches[self.next], dtype=np.int64)
        self.next += 1
        self.dataset.ready(b)  # remote shards: their local copies, fetched if need be
        n = len(b)
        data, flips = [], np.zeros(n, np.int32)
        anchors, shapes, starts, ends = (np.zeros((n, 2), np.float32) for _ in range(4))
        for k, i in enumerate(b):
            encoded, h, w = self._read(int(i))
            (top, left, bh, bw), flip = self.samples.box(int(i), self.epoch, h, w)
            y0, x0 = math.floor(top), math.floor(left)
            y1, x1 = min(math.ceil(top + bh), h), min(math.ceil(left + bw), w)
            data.append(encoded)
            anchors[k], shapes[k] = (y0, x0), (y1 - y0, x1 - x0)
            starts[k], ends[k] = (top - y0, left - x0), (top + bh - y0, left + bw - x0)
            flips[k] = int(flip)
        return data, anchors, shapes, starts, ends, flips, b.reshape(-1, 1)


class RGBDaliEngine:
    """uint8 ``[b, 3, size, size]`` host batches (pinned for a CUDA device) and each
    sample's index, decoded and resized by a DALI CPU pipeline on ``num_threads``
    threads."""
    name = "dali"

    def __init__(self, samples, dataset, *, size: int, batch_size: int, num_threads: int,
                 prefetch: int, pin: bool, orientation: str = "exif"):
        try:
            import nvidia.dali  # noqa: F401
        except ImportError:
            raise ImportError("RGBLoader(engine='dali') needs nvidia-dali: pip install "
                              "'freqload[dali]' (or use engine='torch')") from None
        self.size, self.batch_size, self.pin = int(size), int(batch_size), bool(pin)
        self.num_threads, self.prefetch = max(1, int(num_threads)), max(1, int(prefetch))
        self.source = _BoxSource(samples, dataset, orientation)
        self.orientation = orientation
        self.runner = EpochRunner(self._pipeline)

    def _pipeline(self):
        from nvidia.dali import fn, pipeline_def, types

        source = self.source

        @pipeline_def(batch_size=self.batch_size, num_threads=self.num_threads,
                      device_id=None, exec_dynamic=True, prefetch_queue_depth=self.prefetch,
                      seed=0)
        def pipe():
            data, anchor, shape, start, end, flip, index = fn.external_source(
                source=source, num_outputs=7, batch=True)
            images = fn.decoders.image_slice(
                data, anchor, shape, normalized_anchor=False, normalized_shape=False,
                axis_names="HW", output_type=types.RGB,
                adjust_orientation=self.orientation == "exif")
            # the box itself, to sub-pixel precision, inside the decoded whole pixels
            images = fn.resize(images, size=[self.size, self.size], roi_start=start,
                               roi_end=end, roi_relative=False,
                               interp_type=types.INTERP_LINEAR, antialias=True)
            images = fn.crop_mirror_normalize(images, mirror=flip, output_layout="CHW",
                                              dtype=types.UINT8)
            return images, index

        made = pipe()
        keep_in_children(made)
        return made

    def batches(self, batches: list, epoch: int):
        """(uint8 host tensor [b, 3, size, size], sample indices int64 [b]) per batch."""
        if not batches:
            return
        for images, index in self.runner.epoch(lambda: self.source.start(batches, epoch)):
            n = len(images)
            host = torch.empty((n, 3, self.size, self.size), dtype=torch.uint8,
                               pin_memory=self.pin)
            images.copy_to_external(ctypes.c_void_p(host.data_ptr()))
            yield host, np.asarray(index.as_array(), dtype=np.int64).reshape(-1)


__all__ = ["RGBDaliEngine"]
