"""Faces in a video: who appears when.

``watch_video`` reads frames with OpenCV (every ``every``-th frame is looked at; the frames
between are skipped without being decoded), finds the faces with YuNet, embeds them with
SFace and names each with a faces model, "unknown" past the model's distance threshold.
``appearances`` folds those sightings into one record per appearance of a watched person:
an appearance ends when the person has not been seen for ``gap_s`` seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from learnloop.artifacts import LoadedModel
from learnloop.exceptions import DataError, UsageError

__all__ = ["appearances", "check_watch_model", "watch_video"]

DEFAULT_FPS = 30.0


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


def watch_video(model: LoadedModel, path: str | Path, every: int = 1) -> Iterator[dict[str, Any]]:
    """One record per face in every ``every``-th frame: frame, time_s, box, person, distance."""
    import cv2

    from learnloop.vision import faces_in

    if every < 1:
        raise UsageError(f"--every must be at least 1; got {every}.")
    capture = cv2.VideoCapture(str(path))
    if not Path(path).is_file() or not capture.isOpened():
        capture.release()
        raise DataError(f"The video '{path}' cannot be opened (missing, or not a video).")
    fps = capture.get(cv2.CAP_PROP_FPS) or DEFAULT_FPS
    task, pipeline, schema = model.task_kind, model.pipeline, model.schema
    index = -1
    try:
        while True:
            index += 1
            if index % every:
                if not capture.grab():
                    break
                continue
            ok, frame = capture.read()
            if not ok:
                if index == 0:
                    raise DataError(f"The video '{path}' has no frame that can be read.")
                break
            for face in task.identify(pipeline, schema, faces_in(frame)):  # type: ignore[attr-defined]
                yield {"frame": index, "time_s": round(index / fps, 3), **face}
    finally:
        capture.release()


def appearances(
    sightings: Iterable[dict[str, Any]], people: list[str], gap_s: float = 1.0
) -> Iterator[dict[str, Any]]:
    """One record per appearance of each person in ``people``: first and last time seen."""
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
