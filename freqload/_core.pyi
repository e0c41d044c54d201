"""Type stub of freqload's native extension (``freqload/_native/python/fl_module.c``).

The extension is the core's thin Python front: every function checks its buffers and
calls one core function with the GIL released. Component arrays are int16
``[blocks_h, blocks_w, 64]`` (C-contiguous in their last two axes), quant tables uint16
``[64]``, ``sampling`` one ``(h_samp, v_samp)`` per component, a packed recipe the bytes
:func:`pack_recipe` makes (what :class:`freqload.Recipe` holds as ``.packed``).
"""
from collections.abc import Sequence
from typing import Any

import numpy as np
from typing_extensions import Buffer

# -- constants (fl_core.h) -------------------------------------------------------------
CHROMA_DCT: int
CHROMA_NEAREST: int
DEFAULT_MAX_FILE_SIZE: int
DEFAULT_MAX_MEMORY: int
DEFAULT_MAX_PIXELS: int
DEFAULT_MAX_SCANS: int
LAYOUT_INTS: int
MAX_CHANNELS: int
MESSAGE_MAX: int
POOL_MAX_THREADS: int
MAX_GRID: int
OP_KINDS: int
OUTPUT_CHANNELS: int
OUTPUT_PLANES: int
PLANES_CHANNELS: int
PLANES_COEFS: int
PLANES_NONE: int
POLICY_FIXED: int
POLICY_MAX_OPS: int
POLICY_RAND_AUGMENT: int
POLICY_TRIVIAL_WIDE: int
STATUS_ARGUMENT: int
STATUS_DECODE: int
STATUS_NOMEM: int
STATUS_OK: int
STATUS_TOO_LARGE: int
STATUS_UNREADABLE: int
STATUS_UNSUPPORTED: int
TRANSFORM_BLOCKS: int
TRANSFORM_EVAL: int
TRANSFORM_TRAIN: int

_Components = Sequence[np.ndarray]
_Sampling = Sequence[tuple[int, int]]
_Quant = Sequence[np.ndarray]
#: (kind, scale_min, scale_max, ratio_min, ratio_max, flip, crop_ratio)
_Transform = tuple[int, float, float, float, float, float, float]


class Decoder:
    """Per-thread JPEG coefficient decoder (one libjpeg decompressor per image inside)."""

    #: the last image's coefficients came from the fast entropy decoder
    fast_path_used: bool
    #: True: libjpeg entropy-decodes every file (no fast path); default from
    #: FREQLOAD_ENTROPY=libjpeg
    libjpeg_only: bool

    def __init__(self) -> None: ...
    def begin(self, data: Buffer, max_pixels: int, strict: bool, require_coefficients: bool,
              limits: tuple[int, int, int] = ...) -> tuple[Any, ...]:
        """Open an image and read its header: the header tuple (freqload.codec.read turns
        it into a JpegInfo)."""
    def fill(self, planes: Sequence[np.ndarray]) -> tuple[list[bytes], int, str]:
        """Entropy-decode the open image into ``planes`` (int16 [alloc_h, alloc_w, 64] per
        component): (quant tables as bytes, warnings, first warning). Always ends it."""
    def end(self) -> None:
        """Close the open image, if any."""
    def decode(self, data: Buffer, recipe: bytes, key: int, out: np.ndarray,
               layout: np.ndarray | None = None) -> tuple[int, str, int, int]:
        """One sample by a packed recipe: (warnings, first warning, width, height)."""
    def decode_file(self, path: str | bytes, recipe: bytes, key: int, out: np.ndarray,
                    layout: np.ndarray | None = None, offset: int = 0,
                    length: int = -1) -> tuple[int, str]:
        """One sample from a file (or that byte range of it) the core reads: (status,
        message), failures reported, not raised, as the DALI operator gives them."""


class Job:
    """A batch submitted to a :class:`Pool` (fl_job): freeing it cancels what is not yet
    taken and waits for what is being decoded."""

    #: items taken by the threads so far
    taken: int
    #: items in the job
    size: int

    def wait(self, timeout: float | None = None) -> bool:
        """True once every item is decoded (cancelled: every item taken); waits with the
        GIL released, in slices, so a signal raises here."""
    def cancel(self) -> None:
        """No more items are taken; those being decoded finish."""
    def release(self) -> None:
        """Cancel, wait for the items being decoded, let go of the buffers."""


class Pool:
    """The core's own decoding threads (fl_pool): ``threads`` pthreads, each with its own
    decoder (0: :meth:`Job.wait`'s caller decodes), taking the oldest job's items first."""

    threads: int
    closed: bool

    def __init__(self, threads: int) -> None: ...
    def submit(self, recipe: bytes, blob: Buffer, starts: Buffer, lengths: Buffer,
               files: Buffer, keys: Buffer, out: Buffer, status: Buffer,
               layouts: Buffer | None = None, messages: Buffer | None = None,
               ranges: Buffer | None = None, paths: bool = True) -> Job:
        """A batch: sample k reads entry ``files[k]`` of the (starts, lengths) table over
        ``blob`` (int64 arrays): a file path (``ranges[k]`` = (offset, length) of it) or,
        with ``paths=False``, the encoded bytes themselves; ``keys`` uint64 [n]. Writes
        int16 ``out`` (n x recipe_out_elements), int32 ``status`` [n], int32 ``layouts``
        [n, LAYOUT_INTS] (planes recipes) and uint8 ``messages`` [n, MESSAGE_MAX]; every
        buffer is held until the job is released."""
    def close(self) -> None:
        """No more jobs; the threads finish the items they hold and are joined."""


def libjpeg_version() -> str: ...
def read_file(path: str | bytes, max_file_size: int, offset: int = 0,
              length: int = -1) -> bytes: ...
def check_transform(transform: _Transform) -> None: ...
def pack_recipe(*, component: Sequence[int], coef: Sequence[int], size: tuple[int, int],
                dequantize: bool, chroma: int, transform: _Transform, output: int,
                max_pixels: int, strict: bool, max_file_size: int, max_scans: int,
                max_memory: int, partial_decode: bool, orient: bool = ...,
                augment: tuple[int, int, int, int, int, float] = ...,
                jitter: tuple = ...) -> bytes: ...
def unpack_recipe(packed: bytes) -> dict[str, Any]: ...
def recipe_out_elements(packed: bytes) -> int: ...
def random_resized_crop(key: int, height: int, width: int,
                        transform: _Transform) -> tuple[int, int, int, int, int]: ...
def eval_box(height: int, width: int, out_h: int, out_w: int,
             crop_ratio: float) -> tuple[float, float, float, float]: ...
def to_channels(components: _Components, sampling: _Sampling, quant: _Quant, recipe: bytes,
                out: np.ndarray, sized: bool) -> None: ...
def sample(components: _Components, sampling: _Sampling, quant: _Quant, width: int,
           height: int, recipe: bytes, key: int, out: np.ndarray,
           orientation: int = 1) -> None: ...
def sample_planes(components: _Components, sampling: _Sampling, quant: _Quant, recipe: bytes,
                  payload: np.ndarray, layout: np.ndarray, width: int = 0, height: int = 0,
                  orientation: int = 1) -> None: ...
def resize_channels(components: _Components, sampling: _Sampling, quant: _Quant, width: int,
                    height: int, box: tuple[float, float, float, float], flip: bool,
                    component: Buffer, coef: Buffer, out: np.ndarray) -> None: ...
def orient(components: _Components, sampling: _Sampling, quant: _Quant, width: int,
           height: int, orientation: int,
           outs: Sequence[np.ndarray] | None = None) -> tuple[Any, ...]: ...
def write_jpeg(components: _Components, sampling: _Sampling, quant: _Quant, width: int,
               height: int, row_restarts: bool = ...) -> bytes: ...
def dct_basis() -> bytes: ...
def policy_draw(kind: int, num_ops: int, magnitude: int, num_bins: int, keys: np.ndarray,
                height: int, width: int, ops: np.ndarray, magnitudes: np.ndarray,
                op: int = ..., value: float = ...) -> int:
    """Every key's augmentation ops (fl_policy_draw) into int32 ``ops`` and float64
    ``magnitudes`` [n, count]; returns count (ops per sample). ``op``, ``value``: a
    POLICY_FIXED policy's op and magnitude."""
def jitter_draw(jitter: tuple, keys: np.ndarray, order: np.ndarray, factors: np.ndarray,
                grey: np.ndarray) -> None:
    """Every key's ColorJitter and RandomGrayscale draw (fl_jitter_draw): int32
    ``order`` [n, 4], float64 ``factors`` [n, 4], uint8 ``grey`` [n]; ``jitter`` as
    pack_recipe's."""
def apply_ops(component: bytes, coef: bytes, size: tuple[int, int], x: np.ndarray,
              ops: np.ndarray, magnitudes: np.ndarray) -> None:
    """fl_ops_apply on float32 ``x`` [count, h, w] in place: int32 ``ops`` at float64
    ``magnitudes`` [k], in order."""
def key_uniforms(keys: np.ndarray, stream: int, out: np.ndarray) -> None:
    """float64 ``out`` [n, k]: k uniforms in [0, 1) of each key's stream ``stream``."""
def erasing_draw(keys: np.ndarray, height: int, width: int, p: float, scale_min: float,
                 scale_max: float, ratio_min: float, ratio_max: float,
                 boxes: np.ndarray) -> None:
    """Every key's RandomErasing box (fl_erasing_draw) into int32 ``boxes`` [n, 4]."""
def policy_magnitude(kind: int, op: int, bin: int, num_bins: int, height: int,
                     width: int) -> tuple[float, bool] | None: ...
def upsample_tables(f: int) -> tuple[bytes, bytes, bytes, bytes, bytes]: ...
