"""The freqload exception family.

    FreqloadError                 every error freqload raises about an image
    ├── DecodeError               corrupt data; carries libjpeg's own message
    ├── UnsupportedImageError     no 8-bit YCbCr/grey DCT coefficients to read
    │                             (CMYK, YCCK, RGB-stored, 12-bit, lossless,
    │                             PNG or GIF under a .jpg name, empty input)
    └── ImageTooLargeError        over the ``max_pixels`` limit, refused from
                                  the header before anything is allocated

This module imports nothing from the package: the native extension imports it
at load time to raise these classes directly.
"""


class FreqloadError(Exception):
    """Base class of freqload's errors about an image."""


class DecodeError(FreqloadError):
    """The JPEG data is corrupt (or, with ``strict=True``, libjpeg warned that it is)."""


class UnsupportedImageError(FreqloadError):
    """The input has no 8-bit YCbCr or greyscale DCT coefficients to read."""


class ImageTooLargeError(FreqloadError):
    """The image is over the ``max_pixels`` limit."""
