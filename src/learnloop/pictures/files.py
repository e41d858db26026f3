"""Picture bytes read and decoded under bounds: regular files of a limited size, accepted
formats only, the pixel count checked from the header before decoding, and a pixel budget
shared by the process's decodes.

Every picture learnloop decodes goes through :func:`decode` (files for training and
predict, uploads to the server), so a small file that would decode into gigabytes is
refused the same way everywhere; :class:`PictureError`'s ``kind`` lets each caller answer
in its own terms (a note, an exit code, an HTTP status).
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from learnloop.exceptions import DataError, UsageError
from learnloop.pictures import header as picture_header

__all__ = [
    "DECODE_BUDGET_PIXELS",
    "MAX_FILE_BYTES",
    "MAX_FILE_PIXELS",
    "PictureError",
    "check_decodes",
    "cv2_module",
    "decode",
    "inspect_picture",
    "read_picture_file",
]


class PictureError(DataError):
    """Why bytes or a file cannot be used as a picture.

    ``kind`` says which way, so that each caller can answer in its own terms (a server's
    status, a note or an exit): "missing", "file" (not a regular file, or too many bytes),
    "empty", "format" (not an accepted format), "header" (unreadable size), "pixels" (too
    many) or "decode". ``reason`` completes "The picture 'x' ...".
    """

    def __init__(self, kind: str, reason: str, name: str = "") -> None:
        super().__init__(f"The picture '{name}' {reason}." if name else reason)
        self.kind = kind
        self.reason = reason


# What reading a picture file may cost: files bigger than this, or pictures of more pixels
# (read from the header before decoding), are refused. A 100-megapixel picture decodes
# into 300 MB of colour.
MAX_FILE_BYTES = 128 * 1024 * 1024
MAX_FILE_PIXELS = 100_000_000
# At most this many pixels are being decoded at once in a process (one picture at the
# limit, or many small ones), so that concurrent decodes cannot add up past memory.
DECODE_BUDGET_PIXELS = 120_000_000
_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class _PixelBudget:
    """A counting semaphore over pixels: decodes wait until their pixels fit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = min(pixels, self.limit)  # one picture may always use the whole budget
        with self._cond:
            self._cond.wait_for(lambda: self.used + pixels <= self.limit)
            self.used += pixels
        try:
            yield
        finally:
            with self._cond:
                self.used -= pixels
                self._cond.notify_all()


_budget = _PixelBudget(DECODE_BUDGET_PIXELS)


def read_picture_file(path: str | Path, max_bytes: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at ``path``, or PictureError before reading too much.

    The file is opened without blocking (a named pipe cannot hang the read) and checked
    on the open descriptor, so it cannot be swapped between the check and the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, NotADirectoryError):
        raise PictureError("missing", "does not exist", str(path)) from None
    except OSError as e:
        raise PictureError("file", f"cannot be opened ({e.strerror})", str(path)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((w for test, w in _FILE_KINDS if test(st.st_mode)), "a special file")
            raise PictureError("file", f"is {kind}, not a regular file", str(path))
        if st.st_size > max_bytes:
            raise PictureError("file", _too_many_bytes(st.st_size, max_bytes), str(path))
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        data = f.read(max_bytes + 1)  # the file may have grown since fstat
    if len(data) > max_bytes:
        raise PictureError("file", _too_many_bytes(len(data), max_bytes), str(path))
    return data


def _too_many_bytes(size: int, limit: int) -> str:
    return f"has {size:,} bytes; at most {limit:,} are read"


def inspect_picture(
    data: bytes, max_pixels: int = MAX_FILE_PIXELS
) -> tuple[picture_header.PictureFormat, int, int]:
    """(format, width, height) read from the header; PictureError if it cannot be used."""
    if not data:
        raise PictureError("empty", "is empty")
    fmt = picture_header.sniff(data)
    if fmt is None:
        raise PictureError(
            "format", f"is not a picture in an accepted format ({picture_header.format_names()})"
        )
    try:
        width, height = picture_header.dimensions(fmt, data)
    except picture_header.HeaderError as e:
        why = f"is not a picture that can be read: it starts as a {fmt.name} but {e}"
        raise PictureError("header", why) from None
    if width * height > max_pixels:
        raise PictureError(
            "pixels", f"has {width}x{height} pixels; at most {max_pixels:,} are taken"
        )
    return fmt, width, height


def decode(data: bytes, max_pixels: int = MAX_FILE_PIXELS, flags: int | None = None) -> np.ndarray:
    """The picture in ``data`` decoded (BGR by default, or OpenCV's ``flags``).

    The format and pixel count are checked from the header first (PictureError), and
    the decode waits for room in the process's pixel budget.
    """
    _, width, height = inspect_picture(data, max_pixels)
    cv2 = cv2_module()
    with _budget.hold(width * height):
        try:
            img = cv2.imdecode(
                np.frombuffer(data, dtype=np.uint8),
                cv2.IMREAD_COLOR if flags is None else flags,
            )
        except cv2.error:
            img = None
    if img is None or img.size == 0:
        raise PictureError("decode", "cannot be decoded (it is truncated or corrupt)")
    return np.asarray(img)


def check_decodes(data: bytes, max_pixels: int = MAX_FILE_PIXELS) -> None:
    """PictureError unless ``data`` decodes as a picture (checked at an eighth of its size,
    which reads the whole file without keeping a full-size copy)."""
    cv2 = cv2_module()
    try:
        decode(data, max_pixels, cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except PictureError as e:
        if e.kind != "decode":
            raise
        # OpenCV cannot shrink a PNG, BMP, WebP or TIFF under 8 px on a side by eight;
        # such a small picture is valid and cheap to decode whole
        decode(data, max_pixels, cv2.IMREAD_GRAYSCALE)


def cv2_module() -> Any:
    """OpenCV, imported with its own pixel limit set (behind the checks above)."""
    # read once, when cv2 is first imported
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_FILE_PIXELS))
    try:
        import cv2
    except ImportError as e:  # pragma: no cover - the images extra is installed in tests
        raise UsageError(
            "Pictures need OpenCV; install it with pip install 'learnloop[images]'."
        ) from e
    return cv2
