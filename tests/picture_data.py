"""Real pictures that ship offline, written as picture folders, tables and a video.

* ``write_digits``: scikit-learn's 1,797 handwritten digits (8x8) as PNGs in class folders.
* ``write_lfw``: scikit-image's ``lfw_subset`` (100 LFW faces and 100 non-faces, 25x25).
* ``write_people``: three real people, each from one photo that ships in a package —
  scikit-image's astronaut (Eileen Collins, NASA, public domain) and cameraman, and
  matplotlib's Grace Hopper — varied into several pictures each (crop, scale, mirror,
  light, a small turn). Identity on so few is a smoke test, not a measurement.
* ``write_strangers``: LFW faces enlarged: people on no one's file.
* ``write_video``: a 640x480 video of a known sequence of those people.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from skimage import data as skdata

PEOPLE = ("astronaut", "cameraman", "hopper")


def write_digits(root: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i, (img, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{i:04d}.png"), (img * 255 / 16).astype(np.uint8))
    return root


def write_lfw(root: Path) -> list[tuple[str, str]]:
    """The lfw_subset pictures as face/ and other/ folders; (relative path, label) rows."""
    images = skdata.lfw_subset()
    rows = []
    for i, img in enumerate(images):
        label = "face" if i < 100 else "other"
        (root / label).mkdir(parents=True, exist_ok=True)
        rel = f"{label}/{i:03d}.png"
        cv2.imwrite(str(root / rel), (img * 255).astype(np.uint8))
        rows.append((rel, label))
    return rows


def photo(person: str) -> np.ndarray:
    """The source photo of ``person`` (BGR)."""
    if person == "astronaut":
        return cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    if person == "cameraman":
        return cv2.cvtColor(skdata.camera(), cv2.COLOR_GRAY2BGR)
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return cv2.imread(str(path))


# the face box in each source photo (found once with YuNet), x, y, w, h
_BOXES = {
    "astronaut": (178, 63, 90, 114),
    "cameraman": (195, 113, 61, 82),
    "hopper": (183, 120, 170, 213),
}


def variant(person: str, k: int) -> np.ndarray:
    """The k-th varied picture of ``person``: a crop around the face, turned, lit, mirrored."""
    img = photo(person)
    rng = np.random.default_rng(1000 * PEOPLE.index(person) + k)
    x, y, w, h = _BOXES[person]
    cx, cy = x + w / 2, y + h / 2
    margin = rng.uniform(1.3, 2.2) * max(w, h)
    x0, y0 = int(max(0, cx - margin)), int(max(0, cy - margin))
    x1, y1 = int(min(img.shape[1], cx + margin)), int(min(img.shape[0], cy + margin))
    crop = img[y0:y1, x0:x1]
    angle = rng.uniform(-8, 8)
    m = cv2.getRotationMatrix2D((crop.shape[1] / 2, crop.shape[0] / 2), angle, 1.0)
    crop = cv2.warpAffine(crop, m, (crop.shape[1], crop.shape[0]), borderMode=cv2.BORDER_REFLECT)
    crop = cv2.convertScaleAbs(crop, alpha=rng.uniform(0.8, 1.2), beta=rng.uniform(-20, 20))
    side = int(rng.uniform(200, 360))
    crop = cv2.resize(crop, (side, int(side * crop.shape[0] / crop.shape[1])))
    return cv2.flip(crop, 1) if k % 2 else crop


def write_people(root: Path, per_person: int = 10, start: int = 0) -> Path:
    for person in PEOPLE:
        (root / person).mkdir(parents=True, exist_ok=True)
        for k in range(start, start + per_person):
            cv2.imwrite(str(root / person / f"{k:02d}.jpg"), variant(person, k))
    return root


def stranger(i: int) -> np.ndarray:
    """LFW face ``i`` enlarged with a border, so the detector finds it."""
    img = (skdata.lfw_subset()[i] * 255).astype(np.uint8)
    img = cv2.resize(img, (150, 150), interpolation=cv2.INTER_CUBIC)
    img = cv2.copyMakeBorder(img, 40, 40, 40, 40, cv2.BORDER_REPLICATE)
    return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)


def write_strangers(root: Path, n: int = 10) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(root / f"stranger{i:02d}.png"), stranger(i))
    return root


def write_video(
    path: Path, sequence: list[tuple[str, int]], fps: float = 10.0, size: tuple = (640, 480)
) -> Path:
    """A video of ``(who, frames)`` segments: a person's picture, "nobody" (a blank frame)
    or "stranger"; each picture centred on a grey 640x480 frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for k, (who, frames) in enumerate(sequence):
        frame = np.full((size[1], size[0], 3), 96, dtype=np.uint8)
        if who != "nobody":
            pic = stranger(50) if who == "stranger" else variant(who, 40 + k)
            scale = min(1.0, 0.9 * size[1] / pic.shape[0], 0.9 * size[0] / pic.shape[1])
            pic = cv2.resize(pic, (int(pic.shape[1] * scale), int(pic.shape[0] * scale)))
            y0, x0 = (size[1] - pic.shape[0]) // 2, (size[0] - pic.shape[1]) // 2
            frame[y0 : y0 + pic.shape[0], x0 : x0 + pic.shape[1]] = pic
        for _ in range(frames):
            writer.write(frame)
    writer.release()
    return path


def example_frame(kind: str) -> tuple[pd.DataFrame, dict]:
    """The contract suites' example: lfw_subset (``image``) or three people (``faces``) as
    a table of absolute picture paths and labels (written once to the temp folder)."""
    import tempfile

    root = Path(tempfile.gettempdir()) / f"learnloop-contract-{kind}"
    if kind == "image":
        if not (root / "other").is_dir():
            write_lfw(root)
        files = sorted(root.glob("*/*.png"))
    else:
        if not (root / "hopper").is_dir():
            write_people(root, 8)
        files = sorted(root.glob("*/*.jpg"))
    frame = pd.DataFrame(
        {"picture": [str(f) for f in files], "who": [f.parent.name for f in files]}
    )
    return frame, {"target": "who", "task": kind}
