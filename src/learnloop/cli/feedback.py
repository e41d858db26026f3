"""``learnloop feedback MODEL labels.csv``: true labels that arrive later, in bulk."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from learnloop.cli._common import json_errors, run_guarded

__all__ = ["feedback"]


def feedback(
    model: Annotated[str, typer.Argument(help="The model file whose predictions were recorded.")],
    labels: Annotated[str, typer.Argument(help="CSV with the columns prediction_id,label.")],
    store: Annotated[
        str | None,
        typer.Option(help="Store the predictions were recorded in (default: $LEARNLOOP_STORE)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object at the end.")
    ] = False,
) -> None:
    """Give the true label (or value) of recorded predictions, from a CSV file.

    All rows are taken or none: an unknown prediction id or a label of the wrong kind
    (not one of the model's classes; not a number for a regressor) exits 2 naming it."""
    json_errors(as_json)

    def run() -> dict[str, object]:
        from learnloop.core.files import model_file

        model_file(model)  # a wrong path fails before the heavy imports below
        from learnloop.runs.live import feedback_file
        from learnloop.store import open_store
        from learnloop.store.model_files import load_model
        from learnloop.store.predictions import PredictionLog

        loaded = load_model(model)
        return feedback_file(loaded, PredictionLog(open_store(store)), labels)

    done = run_guarded(run)
    if as_json:
        typer.echo(json.dumps(done))
    else:
        typer.echo(f"{done['accepted']} labels taken into {done['store']}", err=True)
