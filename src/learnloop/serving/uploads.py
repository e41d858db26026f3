"""Pictures uploaded to ``POST /predict`` for a model that takes pictures.

The body is ``multipart/form-data`` with one or more picture files (any field name), or
one picture sent as the body itself with an ``image/*`` content type. What is taken, and
what each refusal is:

- a content type that is neither: 415, before the body is read;
- more than ``max_rows`` files: 413; a multipart body that cannot be read: 400;
- a file whose first bytes are not those of an accepted format (PNG, JPEG, BMP, TIFF, WebP,
  PNM: :mod:`learnloop.pictures.header`), whatever its name or declared type: 415;
- more than ``MAX_PIXELS`` pixels in one picture, or ``MAX_REQUEST_PIXELS`` in all, read
  from the headers before anything is decoded: 413;
- an empty file, an unreadable header, a picture that does not decode: 400.

A client's file name is only echoed back (made printable and short), never used in a path:
each picture is written to a fresh temporary folder as ``<n><suffix of its format>``.
Decodes share the process's pixel budget (:mod:`learnloop.pictures.files`).
"""

from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from learnloop.pictures.files import PictureError, check_decodes, inspect_picture
from learnloop.serving.problems import RequestProblem, client_text
from learnloop.store.model_files import LoadedModel

__all__ = [
    "MAX_PIXELS",
    "MAX_REQUEST_PIXELS",
    "answer_upload",
    "check_upload_type",
    "takes_pictures",
]

MAX_PIXELS = 40_000_000
MAX_REQUEST_PIXELS = 4 * MAX_PIXELS
_STATUS = {"format": 415, "pixels": 413}  # every other kind of PictureError is a 400
_EXTRA_FIELDS = 16  # plain form fields taken (and ignored) beside the files
# python-multipart logs each malformed body as a warning, and the client's 400 says it
logging.getLogger("python_multipart").setLevel(logging.ERROR)


def takes_pictures(model: LoadedModel) -> bool:
    """Whether the model's task predicts on pictures (image, faces)."""
    return bool(getattr(model.task_kind, "takes_pictures", False))


def _media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def check_upload_type(content_type: str) -> None:
    """RequestProblem(415) unless the body is multipart/form-data or one image/* picture."""
    kind = _media_type(content_type)
    if not (kind.startswith("image/") or kind == "multipart/form-data"):
        raise RequestProblem.one(
            415,
            "This model takes pictures: send them as multipart/form-data files, or one "
            "picture as the body with an image/* content type.",
        )


@dataclass
class _Part:
    name: bytes = b""
    filename: str | None = None
    content_type: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)


class _Multipart:
    """The files of a multipart/form-data body, read with python-multipart's parser."""

    def __init__(self, max_files: int) -> None:
        self.max_files = max_files
        self.parts: list[_Part] = []
        self._field = b""
        self._value = b""

    def on_part_begin(self) -> None:
        if len(self.parts) >= self.max_files + _EXTRA_FIELDS:
            raise _too_many(len(self.parts) + 1, self.max_files)
        self.parts.append(_Part())

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.parts[-1].chunks.append(data[start:end])

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self.parts[-1].headers.append((self._field.lower(), self._value))
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        part = self.parts[-1]
        for name, value in part.headers:
            if name == b"content-disposition":
                _, options = parse_options_header(value)
                part.name = options.get(b"name", b"")
                if b"filename" in options:
                    part.filename = options[b"filename"].decode("utf-8", "replace")
            elif name == b"content-type":
                part.content_type = value.strip().lower()

    def files(self) -> list[tuple[str, bytes]]:
        """(name to show, bytes) of each part that is a file (or says it is a picture)."""
        out = [
            (client_text(Path(p.filename or "upload").name or "upload", 100), b"".join(p.chunks))
            for p in self.parts
            if p.filename is not None or p.content_type.startswith(b"image/")
        ]
        if len(out) > self.max_files:
            raise _too_many(len(out), self.max_files)
        return out


def _too_many(n: int, limit: int) -> RequestProblem:
    return RequestProblem.one(413, f"{n} pictures were sent; at most {limit} are taken.")


def _pictures(content_type: str, body: bytes, max_files: int) -> list[tuple[str, bytes]]:
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser, parse_options_header

    check_upload_type(content_type)
    if _media_type(content_type).startswith("image/"):
        return [("upload", body)]
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise RequestProblem.one(400, "The multipart content type has no boundary.")
    reader = _Multipart(max_files)
    names = ("part_begin", "part_data", "header_field", "header_value", "header_end")
    callbacks: Any = {f"on_{n}": getattr(reader, f"on_{n}") for n in names}
    callbacks["on_headers_finished"] = reader.on_headers_finished
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except MultipartParseError as e:
        raise RequestProblem.one(400, f"The multipart body cannot be read: {e}") from None
    files = reader.files()
    if not files:
        raise RequestProblem.one(400, "The body holds no file; send each picture as a form file.")
    return files


def _checked(files: list[tuple[str, bytes]]) -> list[str]:
    """Each picture's file suffix (by its format); RequestProblem for the first bad one."""
    suffixes, total = [], 0
    for name, data in files:
        try:
            fmt, width, height = inspect_picture(data, MAX_PIXELS)
        except PictureError as e:
            status = _STATUS.get(e.kind, 400)
            raise RequestProblem.one(status, f"The file '{name}' {e.reason}.") from None
        total += width * height
        if total > MAX_REQUEST_PIXELS:
            raise RequestProblem.one(
                413,
                f"The pictures hold more than {MAX_REQUEST_PIXELS:,} pixels in all; send "
                "fewer or smaller ones per request.",
            )
        suffixes.append(fmt.suffix)
    for name, data in files:
        try:
            check_decodes(data, MAX_PIXELS)
        except PictureError as e:
            raise RequestProblem.one(400, f"The picture '{name}' {e.reason}.") from None
    return suffixes


def answer_upload(
    model: LoadedModel, content_type: str, body: bytes, max_rows: int
) -> dict[str, Any]:
    """The response body for uploaded pictures: one row per picture, as ``predict`` writes."""
    files = _pictures(content_type, body, max_rows)
    suffixes = _checked(files)
    column = model.schema.feature_names[0]
    with tempfile.TemporaryDirectory(prefix="learnloop-upload-") as tmp:
        paths = []
        for i, ((_, data), suffix) in enumerate(zip(files, suffixes, strict=True)):
            path = Path(tmp) / f"{i}{suffix}"
            path.write_bytes(data)
            paths.append(str(path))
        frame = pd.DataFrame({column: paths})
        try:
            out = model.task_kind.answer_frame(model.answer(frame), frame.index)
        except Exception as e:  # a picture the model cannot take is the client's 422
            raise RequestProblem.one(422, f"The model cannot predict on the upload: {e}") from e
    if "image" in out:
        out["image"] = [name for name, _ in files]
    rows = [{k: _plain(v) for k, v in row.items()} for row in out.to_dict(orient="records")]
    return {"predictions": [r["prediction"] for r in rows], "rows": rows}


def _plain(v: Any) -> Any:
    if v is None or v is pd.NA:
        return None
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v
