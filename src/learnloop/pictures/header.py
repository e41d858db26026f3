"""The picture formats learnloop reads, told apart by their first bytes, and each one's size
read from its header without decoding a pixel.

Policy: a file is a picture only if its first bytes are those of a format in ``FORMATS``
(never by its name); its width and height come from the header, so the pixel count can be
checked before any decoder allocates memory for it. Formats OpenCV could also decode but
that are not listed (Radiance HDR, OpenEXR, JPEG 2000, PFM, ...) are refused: their sizes
are not checked here, and one 12 MB HDR file decodes into gigabytes.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FORMATS", "PictureFormat", "HeaderError", "sniff", "dimensions", "format_names"]

# A progressive JPEG is decoded once per scan; normal files have about ten. Thousands of
# tiny scans make a small file take minutes to decode, so more than this is refused.
MAX_JPEG_SCANS = 256


class HeaderError(ValueError):
    """The first bytes name a format, but its header is truncated or impossible."""


@dataclass(frozen=True)
class PictureFormat:
    """One accepted format: its name, file suffix, media type and header reader."""

    name: str
    suffix: str
    media_type: str
    magic: Callable[[bytes], bool]
    size: Callable[[bytes], tuple[int, int]]


def _u16(data: bytes, at: int, order: str) -> int:
    return int(struct.unpack_from(order + "H", data, at)[0])


def _u32(data: bytes, at: int, order: str) -> int:
    return int(struct.unpack_from(order + "I", data, at)[0])


def _png(data: bytes) -> tuple[int, int]:
    if data[12:16] != b"IHDR" or len(data) < 24:
        raise HeaderError("its first chunk is not the IHDR header")
    return _u32(data, 16, ">"), _u32(data, 20, ">")


# start-of-frame markers (baseline, extended, progressive, lossless; Huffman or arithmetic)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


def _jpeg(data: bytes) -> tuple[int, int]:
    if data.count(b"\xff\xda") > MAX_JPEG_SCANS:
        raise HeaderError(f"it has more than {MAX_JPEG_SCANS} scans")
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            raise HeaderError("a marker is missing between its segments")
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame
            break
        if marker in _SOF:
            if i + 9 > len(data):
                break
            return _u16(data, i + 7, ">"), _u16(data, i + 5, ">")
        i += 2 + _u16(data, i + 2, ">")
    raise HeaderError("no frame header comes before its picture data")


def _bmp(data: bytes) -> tuple[int, int]:
    if len(data) < 26:
        raise HeaderError("the header is truncated")
    if _u32(data, 14, "<") == 12:  # OS/2 BITMAPCOREHEADER
        return _u16(data, 18, "<"), _u16(data, 20, "<")
    width, height = struct.unpack_from("<ii", data, 18)
    return int(width), abs(int(height))  # a negative height is a top-down picture


def _webp(data: bytes) -> tuple[int, int]:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        width = int.from_bytes(data[24:27], "little") + 1
        return width, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = _u32(data, 21, "<")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return _u16(data, 26, "<") & 0x3FFF, _u16(data, 28, "<") & 0x3FFF
    raise HeaderError("its first chunk is not a VP8, VP8L or VP8X header")


def _tiff(data: bytes) -> tuple[int, int]:
    """The size of the first page (the only one OpenCV decodes)."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        ifd = _u32(data, 4, order)
        count = _u16(data, ifd, order)
        found: dict[int, int] = {}
        for k in range(count):
            at = ifd + 2 + 12 * k
            tag, kind = _u16(data, at, order), _u16(data, at + 2, order)
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT or LONG
                found[tag] = _u16(data, at + 8, order) if kind == 3 else _u32(data, at + 8, order)
    except struct.error:
        raise HeaderError("its first directory is truncated") from None
    if 256 not in found or 257 not in found:
        raise HeaderError("its first directory has no width or height")
    return found[256], found[257]


_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n?)*(\d+)")


def _pnm(data: bytes) -> tuple[int, int]:
    head = data[2:1024]
    first = _PNM_TOKEN.match(head)
    second = _PNM_TOKEN.match(head, first.end()) if first else None
    if first is None or second is None:
        raise HeaderError("its width and height cannot be read")
    return int(first.group(1)), int(second.group(1))


FORMATS: tuple[PictureFormat, ...] = (
    PictureFormat("PNG", ".png", "image/png", lambda d: d[:8] == b"\x89PNG\r\n\x1a\n", _png),
    PictureFormat("JPEG", ".jpg", "image/jpeg", lambda d: d[:3] == b"\xff\xd8\xff", _jpeg),
    PictureFormat("BMP", ".bmp", "image/bmp", lambda d: d[:2] == b"BM", _bmp),
    PictureFormat("TIFF", ".tif", "image/tiff", lambda d: d[:4] in (b"II*\x00", b"MM\x00*"), _tiff),
    PictureFormat(
        "WebP", ".webp", "image/webp", lambda d: d[:4] == b"RIFF" and d[8:12] == b"WEBP", _webp
    ),
    PictureFormat(
        "PNM",
        ".pnm",
        "image/x-portable-anymap",
        lambda d: len(d) > 2 and d[:1] == b"P" and d[1:2] in b"123456" and d[2:3].isspace(),
        _pnm,
    ),
)


def format_names() -> str:
    """The accepted formats as a sentence's list: 'PNG, JPEG, BMP, TIFF, WebP or PNM'."""
    names = [f.name for f in FORMATS]
    return ", ".join(names[:-1]) + " or " + names[-1]


def sniff(data: bytes) -> PictureFormat | None:
    """The accepted format whose first bytes ``data`` starts with, or None."""
    return next((f for f in FORMATS if f.magic(data)), None)


def dimensions(fmt: PictureFormat, data: bytes) -> tuple[int, int]:
    """(width, height) from the header of ``data`` in ``fmt``; HeaderError if unreadable."""
    try:
        width, height = fmt.size(data)
    except (struct.error, IndexError):
        raise HeaderError("the header is truncated") from None
    if width <= 0 or height <= 0:
        raise HeaderError(f"its header gives a size of {width}x{height}")
    return width, height
