"""``learnloop train`` and ``learnloop predict``."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Annotated, Any

import typer

from learnloop.cli._common import (
    EXIT_MET,
    EXIT_NOT_MET,
    json_errors,
    parse_budget,
    run_guarded,
    use_encoding,
)
from learnloop.core.names import TASK_NAMES, metric_help

_ENCODING_HELP = "Text encoding of a CSV or TSV file (default: UTF-8, else detected)."
# the registry's names without importing it (core/names.py; a test holds them equal)
_TASK_CHOICES = ", ".join(["auto", *TASK_NAMES[:-1]]) + f" or {TASK_NAMES[-1]}"

__all__ = ["train", "predict"]


def train(  # noqa: PLR0913 -- typer: one parameter per command-line option
    data: Annotated[
        str,
        typer.Argument(
            help="Table to learn from (CSV, TSV, Parquet, JSON lines), or a folder of pictures "
            "with one sub-folder per class or person."
        ),
    ],
    target: Annotated[
        str | None, typer.Option(help="Column to predict (none: group the rows into clusters).")
    ] = None,
    task: Annotated[
        str,
        typer.Option(
            help=f"{_TASK_CHOICES} (auto reads the target; no target means clustering; "
            "--user with --item, recommendation; a folder, image)."
        ),
    ] = "auto",
    labels: Annotated[
        str | None,
        typer.Option(help="Clustering: a column of known groups to score against, not an input."),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(help=metric_help()),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Score that counts as good enough (rmse: at most).")
    ] = None,
    budget: Annotated[
        str | None,
        typer.Option(
            help="Time budget: 120, 90s, 5m, 1h (default 60). With --resume it may be given "
            "anew: it bounds the resumed session."
        ),
    ] = None,
    confidence: Annotated[
        float | None, typer.Option(help="Confidence of the test bound (default 0.95).")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for splits and search (default 0).")
    ] = None,
    validation: Annotated[
        str | None,
        typer.Option(help="Fixed validation table (with --test: no seeded split of DATA)."),
    ] = None,
    test: Annotated[
        str | None,
        typer.Option(help="Fixed held-out test table for the certificate (with --validation)."),
    ] = None,
    n_jobs: Annotated[
        int | None, typer.Option(help="Cores for training (default: all of them).")
    ] = None,
    out: Annotated[str, typer.Option(help="Model file to write.")] = "learnloop-model.skops",
    store: Annotated[
        str | None, typer.Option(help="Experiment store URL or SQLite path ($LEARNLOOP_STORE).")
    ] = None,
    candidates: Annotated[
        str | None, typer.Option(help="Comma-separated model families to try (default: all).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print one JSON object at the end.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue this killed run (its id, or its first characters; its finished "
            "trials are kept) on the same data, "
            "with its recorded options: one given with another value is refused, but --budget."
        ),
    ] = None,
    report: Annotated[
        str | None, typer.Option(help="Write the run's report here (.html, or .md for Markdown).")
    ] = None,
    user: Annotated[str | None, typer.Option(help="Recommendation: the user column.")] = None,
    item: Annotated[str | None, typer.Option(help="Recommendation: the item column.")] = None,
    time: Annotated[
        str | None,
        typer.Option(
            help="When each row happened (dates or numbers): tables train on the earliest "
            "rows and certify on the latest; recommendation holds out each user's latest events."
        ),
    ] = None,
    event: Annotated[
        str | None,
        typer.Option(help="Recommendation: the event kind column (view, cart, purchase...)."),
    ] = None,
    weight: Annotated[
        str | None, typer.Option(help="Recommendation: a weight or rating column.")
    ] = None,
    event_weights: Annotated[
        str | None,
        typer.Option(help="Recommendation: weights of event kinds, e.g. view=1,cart=3,purchase=5."),
    ] = None,
    like_threshold: Annotated[
        float | None,
        typer.Option(
            help="Recommendation: ratings at or above this are likes; the rest are left out."
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            envvar="LEARNLOOP_CLUSTER",
            help="Train the trials on a Dask cluster: a scheduler address (tcp://HOST:8786) "
            "or local[:N] to start N worker processes here ($LEARNLOOP_CLUSTER).",
        ),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help=_ENCODING_HELP)] = None,
) -> None:
    """Run decision -> error -> optimize until THRESHOLD is met and certified, or BUDGET ends."""
    json_errors(json_out)
    from learnloop.runs.progress import make_reporter
    from learnloop.runs.train import train as train_fn

    use_encoding(encoding)
    if report is not None:
        from learnloop.report import check_out
        from learnloop.store.model_archive import check_writable

        run_guarded(check_out, report, _report_format(report))
        run_guarded(check_writable, report, "report")  # a full or read-only disk, before training
    reporter = make_reporter()
    try:
        result = run_guarded(
            train_fn,
            data,
            target,
            task=task,
            labels=labels,
            metric=metric,
            threshold=threshold,
            budget=None if budget is None else run_guarded(parse_budget, budget),
            confidence=confidence,
            seed=seed,
            out=out,
            store=store,
            validation=validation,
            test=test,
            n_jobs=n_jobs,
            candidates=[c.strip() for c in candidates.split(",")] if candidates else None,
            reporter=reporter,
            command=shlex.join(["learnloop", *sys.argv[1:]]),
            resume=resume,
            cluster=cluster,
            encoding=encoding,
            **_task_options(
                user=user,
                item=item,
                time=time,
                event=event,
                weight=weight,
                event_weights=event_weights,
                like_threshold=like_threshold,
            ),
        )
    finally:
        reporter.close()
    summary = result.to_dict()
    if report is not None:
        from learnloop.report import report_run

        json_errors(False)  # the run's own JSON follows: a failed report is said on stderr only
        try:  # the model is trained and saved: a failed report does not change the exit code
            run_guarded(report_run, result.run_id, report, _report_format(report), store)
        except typer.Exit:
            pass
    if json_out:
        typer.echo(json.dumps(summary))
    else:
        _print_summary(summary)
    raise typer.Exit(EXIT_MET if result.met else EXIT_NOT_MET)


def _task_options(**options: Any) -> dict[str, Any]:
    """The task options given on the command line (the others are left out)."""
    return {k: v for k, v in options.items() if v is not None}


def _print_summary(s: dict[str, Any]) -> None:
    cert = s["certificate"] or {}
    thr = s["threshold"]
    verdict = "MET" if s["status"] == "met" else "NOT MET"
    goal = f" (threshold {thr:g})" if thr is not None else ""
    lines = [
        f"{verdict}: {s['metric']}{goal}",
        f"  test score  {s['test_score']:.4g} on {cert.get('n_test')} held-out rows",
        f"  test bound  {s['test_bound']:.4g} at {s['confidence']:.0%} confidence "
        f"({cert.get('method')}, look {cert.get('look')})",
        f"  validation  {_num(s['validation_score'])}    trivial model {_num(s['baseline_score'])}",
        f"  model       {s['best_candidate']} -> {s['model_path']}",
        f"  run         {s['run_id']}: {s['n_trials']} trials in {s['elapsed_s']:.1f}s"
        + (
            f", threshold first passed on validation at {s['time_to_threshold_s']:.2f}s"
            if s["time_to_threshold_s"] is not None
            else ""
        ),
    ]
    typer.echo("\n".join(line for line in lines))


def predict(
    model: Annotated[str, typer.Argument(help="Model file written by `learnloop train`.")],
    data: Annotated[
        str, typer.Argument(help="Table to predict (CSV, Parquet, JSON lines), or pictures.")
    ],
    out: Annotated[
        str | None, typer.Option(help="Write predictions here (.csv, .parquet, .jsonl).")
    ] = None,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            help="An input column (an ID) to carry through to the output, first and "
            "unchanged; give --keep once per column."
        ),
    ] = None,
    encoding: Annotated[str | None, typer.Option(help=_ENCODING_HELP)] = None,
    strict: Annotated[
        bool,
        typer.Option(
            help="Refuse a cell its column cannot read (unknown or 98109-2907 in a number column), "
            "naming its line and column; without it such cells are missing, as in training, "
            "and their rows are flagged in the column _unreadable."
        ),
    ] = False,
) -> None:
    """Predict every row of DATA; classifiers add one probability column per class.

    Large files are read and written a chunk of rows at a time ($LEARNLOOP_CHUNK_ROWS,
    default 100000), so memory stays bounded; the output appears only once every row is
    predicted."""
    from learnloop.store.model_files import load_model
    from learnloop.store.predict_file import predict_file

    use_encoding(encoding)
    loaded = run_guarded(load_model, model)
    notes = run_guarded(predict_file, loaded, data, out, keep=keep or [], strict=strict)
    for note in notes:  # after the last check: a refused file's one line is its error
        typer.echo(note, err=True)


def _report_format(path: str) -> str:
    from learnloop.report import format_of

    return run_guarded(format_of, path)


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"
