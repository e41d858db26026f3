"""``learnloop retrain`` and ``learnloop rollback``: a new certified version, or the old one back.

Exit codes as ``train``'s: 0 the new version is certified (and took its alias), 3 it is not
(registered; the champion stays), 2 bad input (one line; nothing registered).
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from learnloop.cli._common import EXIT_MET, EXIT_NOT_MET, json_errors, parse_budget, run_guarded

__all__ = ["retrain", "rollback"]

StoreOpt = Annotated[
    str | None, typer.Option(help="Experiment store URL or SQLite path ($LEARNLOOP_STORE).")
]


def retrain(  # noqa: PLR0913 -- typer: one parameter per option
    model: Annotated[
        str, typer.Argument(help="Model file to retrain, or a registered model's name (champion).")
    ],
    data: Annotated[
        str,
        typer.Option(help="Table to learn from: the training rows plus newer labelled rows."),
    ],
    feedback: Annotated[
        bool,
        typer.Option(
            help="Add the recorded predictions that got feedback in the store (those of "
            "every version of the model) as training rows, labels in the target column."
        ),
    ] = True,
    window: Annotated[
        str | None,
        typer.Option(
            help="Keep only the newest rows: a count (5000) or, with a time column, a span "
            "back from the newest row (36h, 90d, 12w)."
        ),
    ] = None,
    budget: Annotated[
        str | None, typer.Option(help="Time budget (default: the model's own run's).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The registered model's name (default: the file's stem).")
    ] = None,
    challenger: Annotated[
        bool,
        typer.Option(help="A certified new version becomes challenger; the champion stays."),
    ] = False,
    store: StoreOpt = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object at the end.")
    ] = False,
) -> None:
    """Run MODEL's loop again on DATA to the same threshold; register the new version."""
    json_errors(json_out)
    seconds = None if budget is None else run_guarded(parse_budget, budget)
    run_guarded(_known_model, model, store)  # a wrong one fails before the heavy imports
    from learnloop.runs.progress import make_reporter
    from learnloop.runs.retrain import retrain as retrain_fn

    reporter = make_reporter()
    try:
        done = run_guarded(
            retrain_fn,
            model,
            data,
            feedback=feedback,
            window=window,
            budget=seconds,
            store=store,
            name=name,
            challenger=challenger,
            reporter=reporter,
            command=shlex.join(["learnloop", *sys.argv[1:]]),
        )
    finally:
        reporter.close()
    _say(done, json_out)
    raise typer.Exit(EXIT_MET if done.result.met else EXIT_NOT_MET)


def _known_model(model: str, store: str | None) -> None:
    """UsageError unless ``model`` is a file or a registered model's name (the store is
    opened only to look the name up), as the retrain's own first check says it."""
    if Path(model).exists():
        return
    from learnloop.store import open_store
    from learnloop.store.versions import Registry, resolve_model

    resolve_model(model, Registry(open_store(store)))


def _say(done: Any, json_out: bool) -> None:
    """The retrain's JSON object, or two lines: the verdict and the champion after it."""
    summary = done.to_dict()
    if json_out:
        typer.echo(json.dumps(summary, default=str))
        return
    verdict = "MET" if done.result.met else "NOT MET"
    bound = summary["test_bound"]
    typer.echo(
        f"{verdict}: {done.name} v{done.version} (parent v{done.parent}) "
        f"{summary['metric']} bound {bound if bound is None else f'{bound:.4g}'} "
        f"(threshold {summary['threshold']}) on {done.rows} rows "
        f"({done.feedback} from feedback) -> {summary['model_path']}"
    )
    stays = "" if done.alias == "champion" else " (unchanged)"
    typer.echo(f"  champion: v{done.champion}{stays}")


def rollback(
    name: Annotated[str, typer.Argument(help="The registered model's name.")],
    to: Annotated[
        int | None, typer.Option(help="The version to make champion (default: the parent).")
    ] = None,
    store: StoreOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Move NAME's champion back to its parent (or --to VERSION); servers follow it."""
    json_errors(json_out)
    from learnloop.runs.retrain import rollback as rollback_fn

    done = run_guarded(rollback_fn, name, to, store)
    if json_out:
        typer.echo(json.dumps(done))
    else:
        typer.echo(f"{name} champion: v{done['previous']} -> v{done['champion']}")
        if done["status"] != "met":
            typer.echo(f"warning: version {done['champion']} is not certified.", err=True)
