"""Pictures uploaded to ``POST /predict`` for a model that takes pictures.

The body is ``multipart/form-data`` with one or more picture files (any field name), or
one picture sent as the body itself with an ``image/*`` content type. Limits: the body's
size (checked before this), at most ``max_rows`` pictures, and at most ``MAX_PIXELS``
pixels per picture (read from the header before decoding, so a small file that would
decode into gigabytes is refused). Anything that is not a picture gets a 415.
"""

from __future__ import annotations

import math
import tempfile
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pandas as pd

from learnloop.artifacts import LoadedModel

__all__ = ["MAX_PIXELS", "answer_upload", "takes_pictures"]

MAX_PIXELS = 40_000_000


def takes_pictures(model: LoadedModel) -> bool:
    """Whether the model's task predicts on pictures (image, faces)."""
    return bool(getattr(model.task_kind, "takes_pictures", False))


def _problem(status: int, message: str) -> Exception:
    from learnloop.serve import RequestProblem, _problem

    return RequestProblem(status, [_problem(message)])


def _pictures(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    kind = content_type.split(";")[0].strip().lower()
    if kind.startswith("image/"):
        return [("upload", body)]
    if kind != "multipart/form-data":
        raise _problem(
            415, "Send pictures as multipart/form-data files, or one picture as image/* body."
        )
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise _problem(400, "The multipart body cannot be read.")
    files = []
    for part in message.iter_parts():
        name = part.get_filename()
        if name is None and part.get_content_maintype() != "image":
            continue  # a plain form field
        data = part.get_payload(decode=True)
        files.append((Path(name or "upload").name, data if isinstance(data, bytes) else b""))
    if not files:
        raise _problem(400, "The body holds no file; send the picture as a form file.")
    return files


def _check(name: str, data: bytes) -> None:
    import io

    from PIL import Image, UnidentifiedImageError

    from learnloop.vision import decode

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError):
        width = height = 0
    if width * height > MAX_PIXELS:
        raise _problem(
            413,
            f"The picture '{name}' has {width}x{height} pixels; at most {MAX_PIXELS} are taken.",
        )
    if not data or decode(data) is None:
        raise _problem(415, f"The file '{name}' is not a picture (png, jpeg, bmp, tiff, webp).")


def answer_upload(
    model: LoadedModel, content_type: str, body: bytes, max_rows: int
) -> dict[str, Any]:
    """The response body for uploaded pictures: one row per picture, as ``predict`` writes."""
    files = _pictures(content_type, body)
    if len(files) > max_rows:
        raise _problem(413, f"{len(files)} pictures were sent; at most {max_rows} are taken.")
    for name, data in files:
        _check(name, data)
    column = model.schema.feature_names[0]
    with tempfile.TemporaryDirectory(prefix="learnloop-upload-") as tmp:
        paths = []
        for i, (name, data) in enumerate(files):
            path = Path(tmp) / f"{i}{Path(name).suffix.lower() or '.img'}"
            path.write_bytes(data)
            paths.append(str(path))
        frame = pd.DataFrame({column: paths})
        try:
            out = model.task_kind.answer_frame(model.answer(frame), frame.index)
        except Exception as e:  # a picture the model cannot take is the client's 422
            raise _problem(422, f"The model cannot predict on the upload: {e}") from e
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
