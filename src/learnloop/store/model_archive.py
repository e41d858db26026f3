"""The model file as a zip: size limits read before anything is unpacked, the seal (a
digest of the payload, and a signature where the operator holds a key) that travels
inside the file, and writes that never leave a half-written file.

Policy:

* **Sizes first.** Before any entry is decompressed (skops' own ``get_untrusted_types``
  unpacks ``schema.json`` and every array), the file's size, the end record's entry count
  and directory size, and every entry's declared sizes are checked against limits. zipfile
  never yields more than an entry's declared size, so the declared sizes bound memory.
  ``LEARNLOOP_MODEL_MAX_MB`` (default 2048) raises them all: a file may unpack to that many
  MB, ``schema.json`` to an eighth of it, and hold 25 entries per MB; it may not unpack to
  more than 100 times its size (beyond 16 MB), as only a bomb does (learnloop stores its
  entries uncompressed).
* **The seal.** ``learnloop-seal.json``, the archive's last entry, holds the SHA-256 of
  every other entry's name and bytes (skops never reads it). Every load recomputes it, so
  any change to the payload is caught wherever the file went. Anyone can recompute a
  digest, so a deliberate change needs the signature: with ``LEARNLOOP_MODEL_KEY`` set when
  saving, the seal carries an HMAC-SHA256 of the digest; with it set when loading (or when
  a server starts), an unsigned or wrongly signed file is refused.
* **Atomic writes.** Every file is written to a temporary name in its folder, flushed to
  disk, then renamed over the old one; an error (a full disk, a read-only folder) removes
  the temporary files and leaves the previous file as it was.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from learnloop.exceptions import UntrustedModelError, UsageError

__all__ = [
    "SEAL_NAME",
    "KEY_ENV",
    "LIMIT_ENV",
    "Limits",
    "model_key",
    "open_checked",
    "seal",
    "read_seal",
    "check_writable",
    "write_atomically",
]

SEAL_NAME = "learnloop-seal.json"
KEY_ENV = "LEARNLOOP_MODEL_KEY"
LIMIT_ENV = "LEARNLOOP_MODEL_MAX_MB"
MIN_KEY_CHARS = 32
_MB = 1 << 20
_SIGNED = b"learnloop-seal-v1:"  # what the signature covers, before the digest


@dataclass(frozen=True)
class Limits:
    """What a model file may unpack to (see the module's policy)."""

    max_bytes: int
    max_schema_bytes: int
    max_entries: int
    max_ratio: float = 100.0
    ratio_floor: int = 16 * _MB  # below this total, the ratio is not looked at

    @classmethod
    def from_env(cls) -> Limits:
        text = os.environ.get(LIMIT_ENV, "").strip()
        try:
            mb = float(text) if text else 2048.0
        except ValueError:
            mb = -1.0
        if not mb > 0:
            raise UsageError(f"{LIMIT_ENV} must be a number of megabytes; got '{text}'.")
        return cls(int(mb * _MB), int(mb * _MB / 8), max(1000, int(mb * 25)))


def model_key() -> bytes | None:
    """The signing key from ``LEARNLOOP_MODEL_KEY`` (None if unset); UsageError if short."""
    text = os.environ.get(KEY_ENV)
    if text is None or text == "":
        return None
    if len(text) < MIN_KEY_CHARS:
        raise UsageError(
            f"{KEY_ENV} is too short to sign model files ({len(text)} characters); use at "
            f"least {MIN_KEY_CHARS}, e.g. the output of `openssl rand -hex 32`."
        )
    return text.encode()


# ------------------------------------------------------------------------------- limits
def _end_record(fp: IO[bytes], size: int, where: str) -> tuple[int, int]:
    """(entries, central directory bytes) from the zip's end record, read by hand so that
    nothing is parsed before they are checked."""
    tail_len = min(size, 22 + 65535)
    fp.seek(size - tail_len)
    tail = fp.read(tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        raise UntrustedModelError(f"The file '{where}' is not a readable learnloop model.")
    entries, cd_bytes = struct.unpack("<HL", tail[at + 10 : at + 16])
    locator = tail[at - 20 : at] if at >= 20 else b""
    if (entries == 0xFFFF or cd_bytes == 0xFFFFFFFF) and locator[:4] == b"PK\x06\x07":
        (offset,) = struct.unpack("<Q", locator[8:16])  # the zip64 end record
        fp.seek(min(offset, size))
        record = fp.read(56)
        if record[:4] == b"PK\x06\x06" and len(record) == 56:
            entries, cd_bytes = struct.unpack("<QQ", record[32:48])
    return entries, cd_bytes


def _too_big(where: str, what: str) -> UntrustedModelError:
    return UntrustedModelError(
        f"The model file '{where}' {what}; it is not loaded (if you trust it, raise the "
        f"limit with {LIMIT_ENV}=<megabytes>)."
    )


def _check_entries(infos: list[zipfile.ZipInfo], size: int, where: str, lim: Limits) -> None:
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):
        raise UntrustedModelError(
            f"The model file '{where}' holds two entries of the same name; it is not loaded."
        )
    total = 0
    for info in infos:
        limit = lim.max_schema_bytes if info.filename == "schema.json" else lim.max_bytes
        if info.file_size > limit:
            mb = info.file_size / _MB
            raise _too_big(where, f"has an entry '{info.filename}' that unpacks to {mb:,.0f} MB")
        compressed = info.compress_type != zipfile.ZIP_STORED
        ratio = info.file_size / max(1, info.compress_size)
        if compressed and info.file_size > _MB and ratio > lim.max_ratio:
            raise _too_big(
                where, f"has an entry '{info.filename}' compressed {ratio:,.0f} to 1 (a zip bomb?)"
            )
        total += info.file_size
    if total > lim.max_bytes:
        raise _too_big(where, f"unpacks to {total / _MB:,.0f} MB")
    if total > lim.ratio_floor and total > lim.max_ratio * size:
        raise _too_big(where, f"unpacks to {total / max(1, size):,.0f} times its size")


def open_checked(fp: IO[bytes], where: str, limits: Limits | None = None) -> zipfile.ZipFile:
    """The zip archive in ``fp``, opened once its sizes pass the limits (nothing unpacked)."""
    lim = limits or Limits.from_env()
    size = os.fstat(fp.fileno()).st_size
    if size > lim.max_bytes:
        raise _too_big(where, f"is {size / _MB:,.0f} MB")
    entries, cd_bytes = _end_record(fp, size, where)
    if entries > lim.max_entries or cd_bytes > lim.max_entries * 256 or cd_bytes > size:
        raise _too_big(where, f"lists {entries:,} entries in a {cd_bytes:,}-byte directory")
    try:
        fp.seek(0)
        archive = zipfile.ZipFile(fp)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise UntrustedModelError(
            f"The file '{where}' is not a readable learnloop model ({type(e).__name__})."
        ) from e
    infos = archive.infolist()
    if len(infos) > lim.max_entries:
        raise _too_big(where, f"holds {len(infos):,} entries")
    _check_entries(infos, size, where, lim)
    return archive


# --------------------------------------------------------------------------------- seal
def _digest(archive: zipfile.ZipFile) -> str:
    """SHA-256 over every entry but the seal, in name order: each name and its bytes,
    both length-prefixed so that no two archives hash alike by moving a boundary."""
    h = hashlib.sha256()
    for info in sorted(archive.infolist(), key=lambda i: i.filename):
        if info.filename == SEAL_NAME:
            continue
        name = info.filename.encode()
        h.update(struct.pack("<Q", len(name)) + name + struct.pack("<Q", info.file_size))
        with archive.open(info) as entry:
            for chunk in iter(lambda: entry.read(_MB), b""):
                h.update(chunk)
    return h.hexdigest()


def _signature(key: bytes, digest: str) -> str:
    return hmac.new(key, _SIGNED + digest.encode(), hashlib.sha256).hexdigest()


def seal(skops_bytes: bytes, key: bytes | None) -> bytes:
    """The skops archive ``skops_bytes`` with its seal entry appended (signed if ``key``)."""
    import io

    buffer = io.BytesIO(skops_bytes)
    with zipfile.ZipFile(buffer, "a") as archive:
        digest = _digest(archive)
        record: dict[str, object] = {"format": "learnloop-seal", "version": 1, "sha256": digest}
        if key is not None:
            record["hmac_sha256"] = _signature(key, digest)
        archive.writestr(SEAL_NAME, json.dumps(record, indent=1))
    return buffer.getvalue()


def read_seal(archive: zipfile.ZipFile, where: str, key: bytes | None) -> bool:
    """Check the seal of an open model archive: False if it has none (a format-1 file),
    True if its digest (and, with ``key``, its signature) match; UntrustedModelError else."""
    if SEAL_NAME not in archive.NameToInfo:
        return False
    changed = (
        f"The model file '{where}' does not match its checksum (the SHA-256 sealed inside "
        "it): it was changed after it was saved, so it is not loaded."
    )
    try:
        if archive.getinfo(SEAL_NAME).file_size > 4096:
            raise ValueError("seal too large")
        record = json.loads(archive.read(SEAL_NAME))
        sealed, signed = str(record["sha256"]), record.get("hmac_sha256")
        digest = _digest(archive)
    except (KeyError, TypeError, ValueError, zipfile.BadZipFile, OSError, EOFError) as e:
        raise UntrustedModelError(changed) from e  # a bad CRC or seal: changed on disk
    if not hmac.compare_digest(sealed, digest):
        raise UntrustedModelError(changed)
    if key is None:
        return True
    if not isinstance(signed, str):
        raise UntrustedModelError(
            f"The model file '{where}' is not signed, and {KEY_ENV} is set, so only signed "
            "model files load; save it again with the key set."
        )
    if not hmac.compare_digest(signed, _signature(key, digest)):
        raise UntrustedModelError(
            f"The model file '{where}' has a signature that does not match {KEY_ENV}: it "
            "was changed after it was signed, or signed with another key; it is not loaded."
        )
    return True


# ------------------------------------------------------------------------------ writing
def check_writable(path: str | Path, what: str = "model") -> Path:
    """``path``, after proving a file can be written in its folder (UsageError if not):
    called before a run, so that a read-only or full disk is found before the work."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"The {what} path '{path}' is a directory; give a file name.")
    target = path.resolve()  # a link is written through, like a shell redirection
    if not target.parent.is_dir():
        raise UsageError(f"The folder of the {what} path '{path}' does not exist.")
    if target.exists() and not target.is_file():  # /dev/null, a FIFO: never replaced
        raise UsageError(f"The {what} path '{path}' is not a regular file; give a file name.")
    try:
        with tempfile.TemporaryFile(dir=target.parent) as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as e:
        raise UsageError(
            f"The {what} path '{path}' cannot be written ({e.strerror or e}); choose another."
        ) from e
    return target


def _write_temp(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_atomically(files: list[tuple[Path, bytes]]) -> None:
    """Write each (path, bytes): all to temporary files first, then each renamed over its
    path. UsageError naming the first path on a write error (a full or read-only disk),
    with every temporary file removed and every previous file unchanged."""
    temps: list[Path] = []
    try:
        for path, data in files:
            try:
                temps.append(_write_temp(path, data))
            except OSError as e:
                was = " is unchanged" if path.exists() else " was not written"
                raise UsageError(
                    f"Could not write '{path}' ({e.strerror or e}); nothing was left "
                    f"half-written and the file{was}."
                ) from e
        for (path, _), tmp in zip(files, temps, strict=True):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
    for folder in {path.parent for path, _ in files}:
        _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the renames durable (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
