"""Faces in a video: who appears when.

``watch_video`` reads frames with OpenCV (every ``every``-th frame is looked at; the frames
between are skipped without being decoded), finds the faces with YuNet, embeds them with
SFace and names each with a faces model, "unknown" past the model's distance threshold; a
face that stays in place keeps its name for up to a second before it is embedded again.
``appearances`` folds those sightings into one record per appearance of a watched person:
an appearance ends when the person has not been seen for ``gap_s`` seconds.

OpenCV and FFmpeg print their own complaints about a damaged file ("moov atom not found",
"Unexpected element") straight to the process's stderr, past ``cv2.setLogLevel`` and
``OPENCV_LOG_LEVEL`` (only some come through OpenCV's logger); so stderr's file descriptor
points to the null device while the video is opened and read, and what went wrong is said
once, in learnloop's words. A video that ends before the frame count its container declares
gives a :class:`~learnloop.exceptions.TruncatedVideoWarning` naming both.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from learnloop.exceptions import DataError, TruncatedVideoWarning, UsageError
from learnloop.store.model_files import LoadedModel

__all__ = ["appearances", "check_watch_model", "check_watch_options", "watch_video"]

DEFAULT_FPS = 30.0
REFRESH_S = 1.0
MIN_OVERLAP = 0.5


def check_watch_model(model: LoadedModel, alert: list[str]) -> None:
    """UsageError unless ``model`` names faces and knows every person in ``alert``."""
    if not hasattr(model.task_kind, "identify"):
        raise UsageError(
            f"watch needs a faces model (learnloop train PEOPLE/ --task faces); "
            f"this one is {model.task}."
        )
    unknown = [p for p in alert if p not in [str(c) for c in model.classes]]
    if unknown:
        raise UsageError(
            f"--alert names {', '.join(repr(p) for p in unknown)}, who the model does not "
            f"know; it knows {', '.join(str(c) for c in model.classes)}."
        )


def check_watch_options(every: int = 1, refresh_s: float = 0.0, gap_s: float = 0.0) -> None:
    """UsageError for a step under one frame or a negative (or NaN) number of seconds."""
    if every < 1:
        raise UsageError(f"--every must be at least 1; got {every}.")
    for name, seconds in (("--refresh", refresh_s), ("--gap", gap_s)):
        if not seconds >= 0:
            raise UsageError(f"{name} must be 0 seconds or more; got {seconds}.")


def watch_video(
    model: LoadedModel, path: str | Path, every: int = 1, refresh_s: float = REFRESH_S
) -> Iterator[dict[str, Any]]:
    """One record per face in every ``every``-th frame: frame, time_s, box, person, distance.

    A face in the same place as a face of the frame looked at before (boxes overlapping by
    ``MIN_OVERLAP``) keeps that face's name for up to ``refresh_s`` seconds without being
    embedded again (0 embeds every face of every frame looked at): detection is cheap,
    embedding is not.
    """
    import cv2

    from learnloop.pictures.vision import embed_face, faces_in

    check_watch_options(every, refresh_s)
    with _quiet_stderr():
        capture = cv2.VideoCapture(str(path))
        opened = Path(path).is_file() and capture.isOpened()
    if not opened:
        capture.release()
        raise DataError(f"The video '{path}' cannot be opened (missing, or not a video).")
    fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    task, pipeline, schema = model.task_kind, model.pipeline, model.schema
    index = -1
    tracks: list[tuple[Any, dict | None]] = []
    try:
        while True:
            index += 1
            if index % every:
                with _quiet_stderr():
                    grabbed = capture.grab()
                if not grabbed:
                    break
                continue
            with _quiet_stderr():
                ok, frame = capture.read()
            if not ok:
                if index == 0:
                    raise DataError(f"The video '{path}' has no frame that can be read.")
                break
            now = index / fps
            named, tracks = [], _follow(tracks, faces_in(frame, embed=False), now, refresh_s)
            fresh = [embed_face(frame, f) for f, known in tracks if known is None]
            answers = iter(task.identify(pipeline, schema, fresh))  # type: ignore[attr-defined]
            for k, (face, known) in enumerate(tracks):
                if known is None:
                    known = {**next(answers), "since": now}
                    tracks[k] = (face, known)
                named.append({"box": list(face.box), **_public(known)})
            for record in named:
                yield {"frame": index, "time_s": round(now, 3), **record}
    finally:
        capture.release()
    if 0 < index < declared:
        warnings.warn(
            f"The video '{path}' ends at frame {index} of the {declared} it declares "
            "(truncated?); the frames after it were not looked at.",
            TruncatedVideoWarning,
            stacklevel=2,
        )


@contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at the null device for the block (OpenCV's C-level noise)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / max(a[2] * a[3] + b[2] * b[3] - inter, 1)


def _follow(
    tracks: list[tuple[Any, dict | None]], faces: list[Any], now: float, refresh_s: float
) -> list[tuple[Any, dict | None]]:
    """Pair each face with the name of the face it continues (same place, box overlap at
    least ``MIN_OVERLAP``, named less than ``refresh_s`` ago), or None to name it anew."""
    out: list[tuple[Any, dict | None]] = []
    free = list(tracks)
    for face in faces:
        best = max(free, key=lambda t: _iou(face.box, t[0].box), default=None)
        known = None
        if best is not None and _iou(face.box, best[0].box) >= MIN_OVERLAP:
            free.remove(best)
            if best[1] is not None and now - best[1]["since"] < refresh_s:
                known = best[1]
        out.append((face, known))
    return out


def _public(known: dict[str, Any]) -> dict[str, Any]:
    return {"person": known["person"], "distance": known["distance"]}


def appearances(
    sightings: Iterable[dict[str, Any]], people: list[str], gap_s: float = 1.0
) -> Iterator[dict[str, Any]]:
    """One record per appearance of each person in ``people``: first and last time seen."""
    check_watch_options(gap_s=gap_s)
    open_: dict[str, dict[str, Any]] = {}
    for s in sightings:
        for person in list(open_):  # close those not seen for longer than the gap
            if s["time_s"] - open_[person]["last_s"] > gap_s:
                yield open_.pop(person)
        person = str(s["person"])
        if person not in people:
            continue
        a = open_.get(person)
        if a is None:
            open_[person] = {
                "person": person,
                "first_frame": s["frame"],
                "first_s": s["time_s"],
                "last_frame": s["frame"],
                "last_s": s["time_s"],
                "sightings": 1,
                "min_distance": s["distance"],
            }
        else:
            a.update(last_frame=s["frame"], last_s=s["time_s"], sightings=a["sightings"] + 1)
            a["min_distance"] = min(a["min_distance"], s["distance"])
    yield from sorted(open_.values(), key=lambda a: a["first_frame"])
