"""Hostile uploads to a real `learnloop serve` of a picture model (issue 21, item 4).

Each payload is built here, small on the wire and huge (or unreadable) when decoded: a
400-megapixel PNG of 389 kB, a 45-byte PNG header claiming 10^10 pixels, a 12.5 MB
Radiance HDR of 14000x14000 (a format OpenCV decodes but learnloop does not take), size
claims in every accepted format, a file name with a 300-character extension or a path
in it. Each must get 400, 413 or 415 with a one-sentence JSON error, the server must go on
answering, and its peak memory (VmHWM of the server process, from /proc) must stay under
1 GiB through all of them.
"""

from __future__ import annotations

import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from serve_fixtures import Server, running_server, train_digits

pytestmark = [
    pytest.mark.serve,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc"),
]

MAX_ROWS = 8
GIB = 1024**3


# ------------------------------------------------------------------------------- payloads
def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature, header and end: 45 bytes, no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b"")


def black_png(width: int, height: int) -> bytes:
    """A valid grey PNG of zeros, compressed row by row (never held whole in memory)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    head = png_header(width, height)[:-12]
    return head + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def radiance_hdr(width: int, height: int) -> bytes:
    """A Radiance RGBE picture, run-length encoded (14000 x 14000: 12.5 MB)."""
    runs = []
    for component in range(4):
        left = width
        while left:
            n = min(127, left)
            runs.append(bytes([128 + n, 128 if component == 3 else 64]))
            left -= n
    line = bytes([2, 2, width >> 8, width & 255]) + b"".join(runs)
    head = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode()
    return head + line * height


def jpeg_header(width: int, height: int) -> bytes:
    sof = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def webp_header(width: int, height: int) -> bytes:
    body = b"\x00" * 4 + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    chunk = b"VP8X" + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def tiff_header(width: int, height: int) -> bytes:
    entries = struct.pack("<HHII", 256, 4, 1, width) + struct.pack("<HHII", 257, 4, 1, height)
    return b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 2) + entries + b"\x00" * 4


def small_png() -> bytes:
    ok, buf = cv2.imencode(".png", (np.arange(64, dtype=np.uint8).reshape(8, 8) * 4))
    assert ok
    return buf.tobytes()


# ------------------------------------------------------------------------------- server
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("hostile-uploads")
    model = train_digits(root)
    yield from running_server(root / "server.log", model, "--max-rows", str(MAX_ROWS))


def memory(server: Server) -> dict[str, int]:
    """The server process's resident memory now and at its peak, in bytes."""
    out = {}
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


def upload(server: Server, name: str, data: bytes, kind: str = "image/png") -> httpx.Response:
    with server.client() as c:
        return c.post("/predict", files={"file": (name, data, kind)})


def assert_refused(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, (r.status_code, r.text[:500])
    detail = r.json()["detail"]
    assert len(detail) == 1 and set(detail[0]) == {"row", "column", "message"}, detail
    message = detail[0]["message"]
    assert message.endswith(".") and "\n" not in message and len(message) < 400, message
    for word in words:
        assert word in message, message
    return str(message)


def assert_serving(server: Server) -> None:
    r = upload(server, "ok.png", small_png())
    assert r.status_code == 200, r.text
    assert server.process.poll() is None


# ------------------------------------------------------------------------------- cases
BOMBS: dict[str, tuple[Any, str, int, tuple[str, ...]]] = {
    # name: (payload builder, client's file name, status, words in the message)
    "400-megapixel PNG": (lambda: black_png(20_000, 20_000), "big.png", 413, ("20000x20000",)),
    "45-byte PNG of 10^10 pixels": (
        lambda: png_header(100_000, 100_000),
        "tiny.png",
        413,
        ("100000x100000",),
    ),
    "14000x14000 Radiance HDR": (
        lambda: radiance_hdr(14_000, 14_000),
        "sky.png",
        415,
        ("not a picture in an accepted format", "PNG"),
    ),
    "JPEG header of 65000x65000": (lambda: jpeg_header(65_000, 65_000), "a.jpg", 413, ("65000",)),
    "WebP header of 16384x16384": (lambda: webp_header(16_384, 16_384), "a.webp", 413, ()),
    "BMP header of 10^10 pixels": (lambda: bmp_header(100_000, 100_000), "a.bmp", 413, ()),
    "TIFF header of 10^10 pixels": (lambda: tiff_header(100_000, 100_000), "a.tif", 413, ()),
    "PGM header of 10^10 pixels": (lambda: b"P5\n100000 100000\n255\n", "a.pgm", 413, ()),
    "PNG of 1x0 pixels": (lambda: png_header(1, 0), "zero.png", 400, ("header",)),
    "truncated PNG": (lambda: small_png()[:60], "cut.png", 400, ("cannot be decoded",)),
    "JPEG of 300 scans": (
        lambda: jpeg_header(8, 8)[:-2] + b"\xff\xda\x00\x02" * 300,
        "scans.jpg",
        400,
        ("scans",),
    ),
    "GIF": (lambda: b"GIF89a" + b"\x00" * 64, "a.gif", 415, ()),
    "SVG": (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "a.svg", 415, ()),
    "empty file": (lambda: b"", "empty.png", 400, ("empty",)),
    "text with a 300-character extension": (
        lambda: b"hello",
        "a." + "x" * 300,
        415,
        ("a.xxx", "..."),
    ),
}


@pytest.mark.parametrize("case", list(BOMBS))
def test_a_hostile_picture_is_refused_in_one_sentence(case: str, server: Server) -> None:
    build, name, status, words = BOMBS[case]
    r = upload(server, name, build())
    assert_refused(r, status, *words)
    assert memory(server)["VmHWM"] < GIB


def test_the_hdr_payload_is_a_real_picture_for_opencv() -> None:
    """The HDR refused above is one OpenCV would decode whole (here, a small one)."""
    img = cv2.imdecode(np.frombuffer(radiance_hdr(64, 48), np.uint8), cv2.IMREAD_UNCHANGED)
    assert img is not None and img.shape[:2] == (48, 64)
    assert 12_000_000 < len(radiance_hdr(14_000, 14_000)) < 13_000_000


def test_a_long_or_pathlike_name_is_only_echoed(server: Server, tmp_path: Path) -> None:
    """The client's name never reaches the file system: ENAMETOOLONG gave a 500."""
    r = upload(server, "a." + "x" * 300, small_png())
    assert r.status_code == 200, r.text
    shown = r.json()["rows"][0]["image"]
    assert shown.startswith("a.xxx") and len(shown) <= 100
    target = Path("/tmp") / f"learnloop-hostile-{uuid.uuid4().hex}.png"
    r = upload(server, f"../../../../../..{target}", small_png())
    assert r.status_code == 200, r.text
    assert r.json()["rows"][0]["image"] == target.name
    assert not target.exists()
    r = upload(server, "bell\x07\x1b[31m.png", small_png())
    assert r.status_code == 200 and "\\x1b" in r.json()["rows"][0]["image"]


def test_the_content_type_and_the_form_are_checked(server: Server) -> None:
    with server.client() as c:
        r = c.post("/predict", json={"records": [{"image": "/etc/passwd"}]})
        assert_refused(r, 415, "multipart/form-data")
        r = c.post("/predict", content=b"--x\r\n", headers={"content-type": "multipart/form-data"})
        assert_refused(r, 400, "boundary")
        r = c.post(
            "/predict",
            content=b"garbage without a boundary line",
            headers={"content-type": "multipart/form-data; boundary=abc"},
        )
        assert r.status_code == 400, r.text
        r = c.post("/predict", data={"note": "no file here"}, files={})
        assert r.status_code in (400, 415), r.text
        r = c.post("/predict", content=b"GIF89a....", headers={"content-type": "image/png"})
        assert_refused(r, 415)
    assert_serving(server)


def test_too_many_pictures_or_pixels_in_one_request(server: Server) -> None:
    many = [("file", (f"{i}.png", small_png(), "image/png")) for i in range(MAX_ROWS + 1)]
    with server.client() as c:
        assert_refused(c.post("/predict", files=many), 413, f"at most {MAX_ROWS}")
    # five 36-megapixel pictures: each is taken alone, not 180 million pixels at once
    big = black_png(6_000, 6_000)
    five = [("file", (f"{i}.png", big, "image/png")) for i in range(5)]
    with server.client() as c:
        assert_refused(c.post("/predict", files=five), 413, "in all")
    assert memory(server)["VmHWM"] < GIB


def test_pictures_near_the_limit_decode_within_memory(server: Server) -> None:
    """Six clients at once, each with a 36-megapixel picture: all answered, under 1 GiB."""
    big = black_png(6_000, 6_000)
    statuses: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            r = c.post("/predict", files={"file": ("big.png", big, "image/png")})
            statuses.append(r.status_code)

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert statuses == [200] * 6
    peak = memory(server)["VmHWM"]
    print(f"server peak memory after the hostile uploads: {peak / 2**20:.0f} MiB")
    assert peak < GIB


def test_the_server_survived_with_no_traceback(server: Server) -> None:
    assert_serving(server)
    log = server.log.read_text()
    assert "Traceback" not in log and "Exception in ASGI" not in log, log[-3000:]
