"""Picture files read under bounds (issue 21, items 4 and 5): formats told by their first
bytes and sized from their headers, regular files only, a size limit, and the right words
when a training or prediction table names a path that must not be read."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from learnloop.pictures import header as picture_header
from learnloop.pictures.files import (
    MAX_FILE_BYTES,
    PictureError,
    decode,
    inspect_picture,
    read_picture_file,
)

PICTURE = (np.arange(37 * 53 * 3) % 251).astype(np.uint8).reshape(37, 53, 3)


def _pil(fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(PICTURE).save(buf, fmt, **options)
    return buf.getvalue()


def _cv(suffix: str) -> bytes:
    ok, buf = cv2.imencode(suffix, PICTURE if suffix != ".pgm" else PICTURE[:, :, 0])
    assert ok
    return buf.tobytes()


ENCODED = {
    "png": lambda: _cv(".png"),
    "jpeg": lambda: _cv(".jpg"),
    "progressive jpeg": lambda: _pil("JPEG", progressive=True),
    "bmp": lambda: _cv(".bmp"),
    "tiff": lambda: _cv(".tif"),
    "big-endian tiff": lambda: _pil("TIFF", tiffinfo={}, big_endian=True),
    "lzw tiff": lambda: _pil("TIFF", compression="tiff_lzw"),
    "lossy webp (VP8)": lambda: _pil("WEBP", quality=80),
    "lossless webp (VP8L)": lambda: _pil("WEBP", lossless=True),
    "extended webp (VP8X)": lambda: _pil(
        "WEBP", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"
    ),
    "pgm": lambda: _cv(".pgm"),
    "ppm": lambda: _cv(".ppm"),
}


@pytest.mark.parametrize("name", list(ENCODED))
def test_each_accepted_format_is_sized_from_its_header(name: str) -> None:
    data = ENCODED[name]()
    fmt, width, height = inspect_picture(data)
    assert (width, height) == (53, 37), name
    assert decode(data).shape[:2] == (37, 53)
    assert picture_header.sniff(data) is fmt


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + b"\x00" * 40,
        b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 10 +X 10\n",
        b"v/1\x01" + b"\x00" * 40,  # OpenEXR
        b"\x00\x00\x00\x0cjP  \r\n\x87\n",  # JPEG 2000
        b"PF\n10 10\n-1.0\n",  # PFM
        b"<svg/>",
        b"not a picture at all",
    ],
)
def test_other_formats_are_not_taken_whatever_opencv_reads(data: bytes) -> None:
    with pytest.raises(PictureError) as e:
        inspect_picture(data)
    assert e.value.kind == "format"
    assert "not a picture in an accepted format (PNG, JPEG, BMP, TIFF, WebP or PNM)" in str(e.value)


def test_truncated_and_impossible_headers_say_so() -> None:
    png = _cv(".png")
    for data in (png[:20], png[:12] + b"IDAT" + png[16:], _cv(".jpg")[:6], b"BM\x00", b"P5\n"):
        with pytest.raises(PictureError) as e:
            inspect_picture(data)
        assert e.value.kind == "header", data[:16]
    with pytest.raises(PictureError, match="has 20000x20000 pixels; at most 1,000 are taken"):
        inspect_picture(png[:16] + (20000).to_bytes(4, "big") * 2 + png[24:], max_pixels=1000)


# ------------------------------------------------------------------------------ files
def test_special_files_are_refused_without_reading_them(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_picture_file(fifo)
        except PictureError as e:
            outcome.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=30)  # a blocking open of a pipe with no writer never returns
    assert outcome and "is a named pipe (FIFO), not a regular file" in str(outcome[0])
    with pytest.raises(PictureError, match="is a character device, not a regular file"):
        read_picture_file("/dev/zero")
    with pytest.raises(PictureError, match="is a folder, not a regular file"):
        read_picture_file(tmp_path)
    with pytest.raises(PictureError, match="does not exist") as e:
        read_picture_file(tmp_path / "none.png")
    assert e.value.kind == "missing"


def test_a_huge_sparse_file_is_refused_by_its_size(tmp_path: Path) -> None:
    sparse = tmp_path / "huge.png"
    with sparse.open("wb") as f:
        f.write(_cv(".png"))
        f.truncate(3 * 1024**3)  # 3 GB, no blocks on disk
    with pytest.raises(PictureError) as e:
        read_picture_file(sparse)
    assert e.value.kind == "file"
    assert f"has 3,221,225,472 bytes; at most {MAX_FILE_BYTES:,} are read" in str(e.value)


def _table(root: Path, bad: str) -> Path:
    """A picture table of eight real pictures (two classes) and one row naming ``bad``."""
    rows = []
    for i in range(8):
        path = root / f"{i}.png"
        cv2.imwrite(str(path), np.full((16, 16), 30 * (i % 2) + 10 * i, np.uint8))
        rows.append((path.name, "dark" if i % 2 else "light"))
    rows.insert(3, (bad, "dark"))
    table = root / "pictures.csv"
    pd.DataFrame(rows, columns=["file", "label"]).to_csv(table, index=False)
    return table


def _peak_of(command: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``command``; its result and its peak resident memory in bytes (ru_maxrss)."""
    wrapper = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(p.returncode)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    *lines, peak = proc.stderr.strip().splitlines()
    proc.stderr = "\n".join(lines)
    return proc, int(peak) * 1024


@pytest.mark.parametrize(
    "kind, words",
    [
        ("fifo", "is a named pipe (FIFO), not a regular file"),
        ("/dev/zero", "is a character device, not a regular file"),
        ("sparse", "has 3,221,225,472 bytes; at most 134,217,728 are read"),
    ],
)
def test_a_training_table_naming_a_special_or_huge_file_stops_with_its_row(
    kind: str, words: str, tmp_path: Path
) -> None:
    """A 3 GB sparse file took 3.4 GB of memory; a FIFO was 'does not exist'."""
    if kind == "fifo":
        bad = tmp_path / "pipe.png"
        os.mkfifo(bad)
    elif kind == "sparse":
        bad = tmp_path / "huge.png"
        with bad.open("wb") as f:
            f.truncate(3 * 1024**3)
    else:
        bad = Path(kind)
    table = _table(tmp_path, str(bad))
    command = [sys.executable, "-m", "learnloop", "train", str(table), "--task", "image",
               "--target", "label", "--budget", "5", "--store", str(tmp_path / "s.db"),
               "--out", str(tmp_path / "m.skops")]  # fmt: skip
    proc, peak = _peak_of(command, tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"Row 3 names the picture '{bad}', which {words}." in lines[0], lines[0]
    assert not (tmp_path / "m.skops").exists()
    assert peak < 1024**3, peak


def test_a_prediction_table_naming_a_device_stops_with_its_row(tmp_path: Path) -> None:
    from learnloop.data import ColumnSpec, Schema
    from learnloop.exceptions import DataError
    from learnloop.tasks.images import Image as ImageTask

    table = tmp_path / "new.csv"
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8), np.uint8))
    pd.DataFrame({"image": ["a.png", "/dev/zero"]}).to_csv(table, index=False)
    schema = Schema(
        "label", "image", [ColumnSpec("image", "categorical", "object")], {}, ["x", "y"]
    )
    with pytest.raises(DataError) as e:
        ImageTask().read_inputs(table, schema)
    assert "Row 1 names the picture '/dev/zero', which is a character device" in str(e.value)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match=r"pipe.png' is a named pipe \(FIFO\), not a regular"):
        ImageTask().read_inputs(fifo, schema)


def test_a_special_file_in_a_picture_folder_is_named_in_the_notes(tmp_path: Path) -> None:
    from learnloop.pictures import vision

    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp_path / label / f"{i}.png"), np.full((8, 8), i * 40, np.uint8))
    os.mkfifo(tmp_path / "a" / "pipe.png")
    frame = vision.read_folder(tmp_path, "image", "label")
    assert len(frame) == 6
    notes = " ".join(frame.attrs["notes"])
    assert "a/pipe.png is a named pipe (FIFO), not a regular file" in notes
