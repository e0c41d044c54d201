"""The recipe of a sample: everything that decides what one image becomes.

A :class:`Recipe` holds the channels (a mask), the output grid in blocks, chroma
alignment, dequantisation, the transform (``blocks``, ``eval``, ``train`` and its
parameters), the output kind (``regroup="cpu"``: finished samples; ``"device"``: planes
the device aligns) and the decode options (strictness, limits, partial decoding). It is
built and checked once; every front then takes it whole, in its packed form
(:attr:`Recipe.packed`): the Python extension (``Decoder.decode``, ``sample``,
``to_channels``, ``recipe_out_elements``) and the DALI operator
(``fn.freqload.jpeg_to_dct(..., recipe=recipe.dali_arg)``).

Where each rule lives: Python turns the user's values into types and names (a preset
name into a mask, ``"train"`` into a :class:`~freqload.codec.transform.Transform`, ``None``
limits into 0); the native core's ``fl_recipe_check`` holds every rule on the values
(ranges, combinations) and its message names the argument. The packed form is the
core's (``fl_recipe_pack``): doubles travel as their IEEE bits, so the DALI engine
draws exactly the boxes the torch engine draws.

    >>> r = Recipe("dctnet24", size=(56, 56), transform="train")
    >>> r.channels, r.out_h, r.out_w
    (24, 56, 56)
"""
from __future__ import annotations

import dataclasses
import functools
from typing import cast

from .._core import (
    CHROMA_DCT,
    CHROMA_NEAREST,
    OUTPUT_CHANNELS,
    OUTPUT_PLANES,
    pack_recipe,
    recipe_out_elements,
)
from .augment import as_augment, native_augment
from .mask import PRESETS, ChannelMask, as_mask, split_channels
from .read import (
    DEFAULT_MAX_FILE_SIZE,
    DEFAULT_MAX_MEMORY,
    DEFAULT_MAX_PIXELS,
    DEFAULT_MAX_SCANS,
    check_orientation,
    limits_tuple,
)
from .transform import Transform, check_size

#: chroma= names -> the core's fl_chroma (what each does: freqload.codec.channels)
CHROMA = {"dct": CHROMA_DCT, "nearest": CHROMA_NEAREST}
#: regroup= names -> the core's fl_output_kind
OUTPUT = {"cpu": OUTPUT_CHANNELS, "device": OUTPUT_PLANES}


@dataclasses.dataclass(frozen=True, repr=False)
class Recipe:
    """What one image becomes: int16 ``[channels, out_h, out_w]`` (``regroup="cpu"``) or
    its planes + layout (``regroup="device"``). A loader takes it whole
    (``DCTLoader(source, recipe=Recipe(...))``), and so does the DALI operator.

    Example: ``Recipe("dctnet24", (28, 28), transform="train")`` makes every 4:2:0 or 4:4:4
    JPEG int16 [24, 28, 28]: a random resized crop of the upright picture, flipped half the
    time, resampled in the DCT domain onto a 28x28 block grid (224 pixels).

    Args:
        mask: a ChannelMask, a preset name (``"dctnet24"``, ``"dctnet64"``, ``"all"``
            ...), a mask JSON file or channel indices.
        size: output grid ``(out_h, out_w)`` in 8x8 blocks, or one int; (56, 56) = a
            448-pixel image.
        chroma: ``"dct"`` (exact DCT-domain upsampling of subsampled chroma) or
            ``"nearest"`` (block replication), see :mod:`freqload.codec.channels`
            (``"blocks"`` only; the resizes bring chroma to full resolution themselves).
        dequantize: multiply by the quantisation tables (needed by eval and train).
        transform: how each image becomes the ``size`` grid: a
            :class:`~freqload.codec.transform.Transform` or its kind with default
            parameters. ``"train"``: RandomResizedCrop (``scale``, ``ratio``) then a
            horizontal flip with probability ``flip``; ``"eval"``: resize the shorter side
            to ``max(size)*8/crop_ratio`` pixels, centre crop; ``"blocks"`` (the
            default): centre crop, MCU-aligned, or zero padding, no resampling, exact
            quantised integers. Train and eval resample in the DCT domain (the
            Pillow-BILINEAR definition) and always dequantise. A loader made without a
            recipe uses ``"train"`` when ``train=True``, else ``"eval"``.
        regroup: where chroma is aligned and channels are masked. ``"cpu"`` (default): on
            the host, so only the masked int16 channels travel. ``"device"``: the host
            stops at the cropped component planes (the masked luma channels; per chroma
            component its masked channels on its own grid, or all 64 coefficients where
            DCT-domain upsampling needs them) and torch finishes on the device
            (:mod:`freqload.loading.regroup`), for machines short of CPU cores. The
            tensors are identical either way; "device" ships more bytes for subsampled
            chroma (a 4:2:0 image at mask 24: 301,056 instead of 150,528) and the same for
            4:4:4. ``transform="blocks"`` only (the DCT-domain resize runs on the host).
        strict: libjpeg's corrupt-data warnings are errors (see
            :func:`freqload.read_coefficients`).
        max_pixels, max_file_size, max_scans, max_memory: resource limits per image
            (None or 0: no limit); an image over one is a "too large" error that the
            loader's ``on_error`` handles like any bad file.
        partial_decode: stop entropy decoding once the rows the sample reads are decoded
            (default True): the rows below the crop or the resize's reach are never
            decoded - about 2% of the work on ImageNet photos with "blocks", more with
            "eval", most with "train", whose crops often end well above the bottom. The
            samples are identical either way. It applies to sequential files whose one
            scan holds every component and that end with an EOI marker; progressive and
            multi-scan files, and truncated ones (no EOI: their warning must come), are
            read whole. A decode that stops early scans the bytes it skipped for stray
            markers (SOI, SOF, DQT, DHT, bogus segments, misplaced RSTn) and, finding one,
            decodes the file whole, so such damage meets the error policy in every epoch.
            The price: damage *without* a marker (flipped bits, junk before the EOI) lying
            wholly below the rows a sample reads goes unseen (the sample does not contain
            it), so with ``strict`` such a file is not rejected, and under "train"
            whether it is depends on the epoch's crop. False decodes every row of every
            file, as :func:`freqload.read_coefficients`.
        orientation: ``"exif"`` (default, as DALI's decoders and any viewer): the sample
            of the picture turned upright by its EXIF Orientation tag - boxes drawn in the
            upright picture, the resize mapping them back onto the stored coefficients
            with the mirrors and transpose done on the output blocks (no pixel lost);
            ``"blocks"`` on the coefficients oriented losslessly (:func:`freqload.orient`).
            ``"ignore"``: the picture as stored.
        augment: per-sample augmentation run in the core, after the transform and before
            the sample leaves the engine's thread (so int16 stays int16 and nothing more
            crosses): an automatic policy (``"trivialaugment"``:
            :class:`~freqload.codec.policy.TrivialAugmentWide` ``()``, ``"randaugment"``:
            :class:`~freqload.codec.policy.RandAugment` ``()``, a policy object, or
            :class:`~freqload.codec.policy.FixedOp` for one op on every sample),
            :class:`~freqload.codec.augment.ColorJitter`,
            :class:`~freqload.codec.augment.RandomGrayscale`, or a list of them (they run
            in that order); None (the default): none. Held as a tuple. The draws come
            from the sample's key, so both engines and any worker or rank give the same
            sample; what each op does and how exact it is: ``docs/augmentation.md``. Needs
            ``dequantize=True``, ``regroup="cpu"`` and the luma DC channel in the mask.
    Raises:
        ValueError: a value the core refuses, the message naming the argument.
    """
    mask: ChannelMask | str | list = "dctnet24"
    size: int | tuple[int, int] = (56, 56)
    chroma: str = "dct"
    dequantize: bool = True
    transform: Transform | str = "blocks"
    regroup: str = "cpu"
    strict: bool = True
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    max_file_size: int | None = DEFAULT_MAX_FILE_SIZE
    max_scans: int | None = DEFAULT_MAX_SCANS
    max_memory: int | None = DEFAULT_MAX_MEMORY
    partial_decode: bool = True
    orientation: str = "exif"
    augment: object = None
    #: the core's packed form, made by __post_init__
    _packed: bytes = dataclasses.field(init=False, repr=False, compare=False, default=b"")

    def __post_init__(self):
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731
        set_("mask", as_mask(self.mask))
        set_("size", check_size(self.size))
        if self.chroma not in CHROMA:
            raise ValueError(f"chroma must be one of {sorted(CHROMA)}, got {self.chroma!r}")
        if self.regroup not in OUTPUT:
            raise ValueError(f"regroup must be one of {sorted(OUTPUT)}, got {self.regroup!r}")
        if not isinstance(self.transform, Transform):
            set_("transform", Transform(self.transform))
        check_orientation(self.orientation)
        for name in ("dequantize", "strict", "partial_decode"):
            set_(name, bool(getattr(self, name)))
        set_("max_pixels", int(self.max_pixels or 0))
        if self.max_pixels < 0:
            raise ValueError(f"max_pixels must be >= 0 (0 or None: no limit), got "
                             f"{self.max_pixels}")
        file_size, scans, memory = limits_tuple(self.max_file_size, self.max_scans,
                                                self.max_memory)
        set_("max_file_size", file_size)
        set_("max_scans", scans)
        set_("max_memory", memory)
        set_("augment", as_augment(self.augment))
        component, coef = split_channels(self.channel_mask.indices)
        extra = native_augment(self.augment)
        set_("_packed", pack_recipe(
            component=component, coef=coef, size=self.size, dequantize=self.dequantize,
            chroma=CHROMA[self.chroma], transform=self.spec.native(),
            output=OUTPUT[self.regroup], max_pixels=self.max_pixels, strict=self.strict,
            max_file_size=file_size, max_scans=scans, max_memory=memory,
            partial_decode=self.partial_decode, orient=self.orientation == "exif", **extra))

    # -- views ---------------------------------------------------------------
    @property
    def packed(self) -> bytes:
        """The core's packed form (fl_recipe_pack): what every front takes."""
        return self._packed

    @property
    def dali_arg(self) -> list:
        """The packed form as the DALI operator's ``recipe`` argument (a list of ints)."""
        return list(self._packed)

    @property
    def channel_mask(self) -> ChannelMask:
        """The mask (``mask`` as given becomes a ChannelMask when the recipe is made)."""
        return cast(ChannelMask, self.mask)

    @property
    def grid(self) -> tuple[int, int]:
        """(out_h, out_w): ``size`` as the recipe holds it once made."""
        return cast(tuple[int, int], self.size)

    @property
    def spec(self) -> Transform:
        """The transform (``transform`` as given becomes a Transform when the recipe is
        made)."""
        return cast(Transform, self.transform)

    @property
    def indices(self) -> tuple:
        """Channel indices of the mask, ascending: the output's channel order."""
        return self.channel_mask.indices

    @property
    def channels(self) -> int:
        return len(self.channel_mask)

    @property
    def out_h(self) -> int:
        return self.grid[0]

    @property
    def out_w(self) -> int:
        return self.grid[1]

    @property
    def limits(self) -> tuple:
        """(max_file_size, max_scans, max_memory), 0 = no limit."""
        return (self.max_file_size, self.max_scans, self.max_memory)

    @property
    def out_elements(self) -> int:
        """int16 elements of one sample's output (planes: the capacity)."""
        return recipe_out_elements(self._packed)

    def replace(self, **changes) -> Recipe:
        """A new recipe with some settings changed (checked as a new one)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        fields.update(changes)
        return Recipe(**fields)

    def __repr__(self) -> str:
        t = self.spec
        kind = t.kind
        if t.kind == "train":
            kind += f"(scale={t.scale}, ratio={tuple(round(v, 4) for v in t.ratio)}, flip={t.flip})"
        elif t.kind == "eval":
            kind += f"(crop_ratio={t.crop_ratio})"
        limit = lambda v: v or "none"  # noqa: E731
        return (f"Recipe(mask={self.mask!r} ({self.channels} channels), size={self.size}, "
                f"transform={kind}, chroma={self.chroma!r}, dequantize={self.dequantize}, "
                f"regroup={self.regroup!r}, strict={self.strict}, "
                f"max_pixels={limit(self.max_pixels)}, max_file_size={limit(self.max_file_size)}, "
                f"max_scans={limit(self.max_scans)}, max_memory={limit(self.max_memory)}, "
                f"partial_decode={self.partial_decode}, orientation={self.orientation!r}"
                + ("" if self.augment is None else f", augment={list(cast(tuple, self.augment))!r}")
                + ")")


@functools.lru_cache(maxsize=256)
def _cached(mask: ChannelMask, size: tuple, chroma: str, dequantize: bool,
            transform: Transform) -> Recipe:
    return Recipe(mask, size, chroma, dequantize, transform, orientation="ignore")


_preset_mask = functools.lru_cache(maxsize=64)(as_mask)  # preset names and None only
_transform_of = functools.lru_cache(maxsize=8)(Transform)  # kind names only


def recipe_for(mask, size=(56, 56), chroma: str = "dct", dequantize: bool = True,
               transform="blocks") -> Recipe:
    """A Recipe with default decode options, built once per distinct argument set (the
    per-image functions, to_channels and sample, ask for the same few again and again).
    A repeated call converts nothing: preset names and transform kinds map to their
    objects through small caches; a mask file or an index list is read each time (a file
    may change)."""
    if mask is None or (isinstance(mask, str) and (mask in PRESETS or mask == "all")):
        mask = _preset_mask(mask)
    elif not isinstance(mask, ChannelMask):
        mask = as_mask(mask)
    size = (size, size) if isinstance(size, int) else size
    if not isinstance(size, tuple):
        size = check_size(size)
    if isinstance(transform, str):
        transform = _transform_of(transform)
    return _cached(mask, size, chroma, bool(dequantize), transform)


__all__ = ["Recipe", "recipe_for", "CHROMA", "OUTPUT"]
