"""The freqload exception family::

    FreqloadError                 every error freqload raises about an image
    ├── DecodeError               corrupt data; carries libjpeg's own message
    ├── UnsupportedImageError     no 8-bit YCbCr/grey DCT coefficients to read
    │                             (CMYK, YCCK, RGB-stored, 12-bit, lossless,
    │                             PNG or GIF under a .jpg name, empty input)
    ├── ImageTooLargeError        over the ``max_pixels`` limit, refused from
    │                             the header before anything is allocated
    ├── ManifestError             (also a ValueError) a manifest, index file or
    │                             loader state that does not parse or has a bad
    │                             field; the message names the file and the field
    └── IntegrityError            data that does not match what describes it: a
                                  shard changed since its index was written, a
                                  download cut short

This module imports nothing from the package: the native extension imports it
at load time to raise these classes directly.
"""


class FreqloadError(Exception):
    """Base class of freqload's errors about an image or the data describing images."""


class DecodeError(FreqloadError):
    """The JPEG data is corrupt (or, with ``strict=True``, libjpeg warned that it is)."""


class UnsupportedImageError(FreqloadError):
    """The input has no 8-bit YCbCr or greyscale DCT coefficients to read."""


class ImageTooLargeError(FreqloadError):
    """The image is over the ``max_pixels`` limit."""


class ManifestError(FreqloadError, ValueError):
    """A manifest, index file or loader state is damaged or is not what it claims to be;
    the message names the file (or the state) and the field."""


class IntegrityError(FreqloadError):
    """Data does not match what describes it (a shard and its index, a download and its
    announced size or digest); the message names both."""
