"""Typed errors for image loading: ``str(err)`` is one line a GUI can show as is.

Everything derives from :class:`ImageError` (a ``ValueError``), so callers that only care
"could this be opened?" catch one class; the backend maps it to HTTP 4xx.
"""

from __future__ import annotations

_MAX_LEN = 240


class ImageError(ValueError):
    """An image file or upload could not be turned into a radiograph."""

    def __init__(self, message: str, *, source: str = "") -> None:
        # One printable line of bounded length, whatever the cause (or a corrupt header) said.
        text = "".join(ch if ch.isprintable() else " " for ch in str(message))
        text = " ".join(text.split())
        if len(text) > _MAX_LEN:
            text = text[: _MAX_LEN - 1].rstrip() + "…"
        super().__init__(text)
        self.source = source


class UnknownFormat(ImageError):
    """Neither DICOM, PNG, JPEG nor TIFF by content (the extension is not trusted)."""


class TruncatedFile(ImageError):
    """The file ends before its header or pixel data does."""


class NoPixelData(ImageError):
    """A DICOM object without an image (structured report, presentation state, DICOMDIR...)."""


class NotARadiograph(ImageError):
    """A valid image that is not a single-frame greyscale projection (a CT volume, a colour photo)."""


class ImplausibleImage(ImageError):
    """Decoded pixels that cannot be a radiograph: blank, a few pixels, non-finite or absurd values."""


class ImageTooLarge(ImageError):
    """More pixels than the caller allows (checked from the header, before decoding)."""


class CorruptImage(ImageError):
    """The header parsed but the pixel data could not be decoded."""


class UnsupportedTransferSyntax(ImageError):
    """Compressed pixel data that no installed decoder handles; names the syntax and the plugin."""

    def __init__(self, uid: str, name: str, plugin: str, *, source: str = "") -> None:
        super().__init__(
            f"Cannot decode {name} ({uid}): install {plugin} to read this transfer syntax",
            source=source,
        )
        self.uid = uid
        self.name = name
        self.plugin = plugin
