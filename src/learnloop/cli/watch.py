"""``learnloop watch MODEL VIDEO``: who appears in a video, as JSON lines."""

from __future__ import annotations

import json
import warnings
from typing import Annotated

import typer

from learnloop.cli._common import run_guarded


def watch(
    model: Annotated[str, typer.Argument(help="A faces model (learnloop train --task faces).")],
    video: Annotated[str, typer.Argument(help="A video file OpenCV can read.")],
    every: Annotated[int, typer.Option(help="Look at every N-th frame.")] = 1,
    alert: Annotated[
        str | None,
        typer.Option(help="People to watch for, comma-separated: one line per appearance."),
    ] = None,
    refresh: Annotated[
        float,
        typer.Option(help="Seconds a face staying in place keeps its name (0: embed every face)."),
    ] = 1.0,
    gap: Annotated[
        float, typer.Option(help="Seconds unseen that end an appearance (with --alert).")
    ] = 1.0,
) -> None:
    """Name the faces in VIDEO: one JSON line per face {frame, time_s, box, person,
    distance}; with --alert, one line per appearance of a watched person."""
    from learnloop.exceptions import LearnloopWarning
    from learnloop.serving.video import (
        appearances,
        check_watch_model,
        check_watch_options,
        watch_video,
    )
    from learnloop.store.model_files import load_model

    run_guarded(check_watch_options, every, refresh, gap)
    people = [p.strip() for p in alert.split(",") if p.strip()] if alert else []
    loaded = run_guarded(load_model, model)
    run_guarded(check_watch_model, loaded, people)

    def stream() -> None:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", LearnloopWarning)
            lines = watch_video(loaded, video, every, refresh)
            for record in appearances(lines, people, gap) if people else lines:
                typer.echo(json.dumps(record))
        for w in caught:  # a truncated video: one line on stderr, the exit code stays 0
            if issubclass(w.category, LearnloopWarning):
                typer.echo(f"warning: {w.message}", err=True)

    run_guarded(stream)
