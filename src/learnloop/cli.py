"""The ``learnloop`` command.

Exit codes: 0 threshold met and certified; 3 budget spent without meeting it (the best
model is still saved); 2 bad usage or bad input (one line naming the problem); 1 internal
error.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from learnloop.exceptions import LearnloopError, UsageError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Train to the accuracy you need, prove it on held-out data, ship a safe model.",
    pretty_exceptions_enable=False,
)

EXIT_MET, EXIT_INTERNAL, EXIT_USAGE, EXIT_NOT_MET = 0, 1, 2, 3
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|m|min|h)?\s*$", re.I)


def parse_budget(text: str) -> float:
    """Seconds from '90', '90s', '5m' or '1h'."""
    match = _DURATION.match(text)
    if not match:
        raise UsageError(f"The budget '{text}' is not a duration; write e.g. 120, 90s, 5m or 1h.")
    value = float(match.group(1))
    unit = (match.group(2) or "s").lower()
    seconds = value * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]
    if seconds <= 0:
        raise UsageError(f"The budget must be more than zero seconds; got '{text}'.")
    return seconds


def fail(message: str, code: int = EXIT_USAGE) -> None:
    """Print one line to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def run_guarded(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Turn learnloop's errors into one-line messages and the contract's exit codes."""
    try:
        return fn(*args, **kwargs)
    except typer.Exit:
        raise
    except LearnloopError as e:
        fail(str(e), EXIT_USAGE if isinstance(e, UsageError) else EXIT_INTERNAL)
    except KeyboardInterrupt:
        fail("interrupted.", 130)
    except MemoryError:
        fail("out of memory; try a smaller budget of rows or a larger machine.", EXIT_INTERNAL)
    except Exception as e:  # the last line of defence: no tracebacks for users
        fail(f"internal error: {type(e).__name__}: {e}", EXIT_INTERNAL)


@app.command()
def train(
    data: Annotated[
        str, typer.Argument(help="Table to learn from: CSV, TSV, Parquet, JSON lines.")
    ],
    target: Annotated[str | None, typer.Option(help="Column to predict.")] = None,
    task: Annotated[
        str, typer.Option(help="auto, classification or regression (auto reads the target).")
    ] = "auto",
    metric: Annotated[
        str | None,
        typer.Option(
            help="Error function: accuracy, balanced_accuracy, f1, f1_macro, roc_auc, "
            "log_loss, rmse, mae, r2 (default: accuracy or r2)."
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Score that counts as good enough (rmse: at most).")
    ] = None,
    budget: Annotated[str, typer.Option(help="Time budget: 120, 90s, 5m, 1h.")] = "60",
    confidence: Annotated[float, typer.Option(help="Confidence of the test bound.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed for splits and search.")] = 0,
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
        typer.Option(help="Continue this killed run (its finished trials are kept)."),
    ] = None,
) -> None:
    """Run decision -> error -> optimize until THRESHOLD is met and certified, or BUDGET ends."""
    from learnloop.progress import make_reporter
    from learnloop.train import train as train_fn

    reporter = make_reporter()
    try:
        result = run_guarded(
            train_fn,
            data,
            target,
            task=task,
            metric=metric,
            threshold=threshold,
            budget=run_guarded(parse_budget, budget),
            confidence=confidence,
            seed=seed,
            out=out,
            store=store,
            candidates=[c.strip() for c in candidates.split(",")] if candidates else None,
            reporter=reporter,
            command=shlex.join(["learnloop", *sys.argv[1:]]),
            resume=resume,
        )
    finally:
        reporter.close()
    summary = result.to_dict()
    if json_out:
        typer.echo(json.dumps(summary))
    else:
        _print_summary(summary)
    raise typer.Exit(EXIT_MET if result.met else EXIT_NOT_MET)


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
        f"  validation  {s['validation_score']:.4g}    trivial model {s['baseline_score']:.4g}",
        f"  model       {s['best_candidate']} -> {s['model_path']}",
        f"  run         {s['run_id']}: {s['n_trials']} trials in {s['elapsed_s']:.1f}s"
        + (
            f", threshold first passed on validation at {s['time_to_threshold_s']:.2f}s"
            if s["time_to_threshold_s"] is not None
            else ""
        ),
    ]
    typer.echo("\n".join(line for line in lines))


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="Model file written by `learnloop train`.")],
    data: Annotated[str, typer.Argument(help="Table to predict: CSV, Parquet, JSON lines.")],
    out: Annotated[
        str | None, typer.Option(help="Write predictions here (.csv, .parquet, .jsonl).")
    ] = None,
) -> None:
    """Predict every row of DATA; classifiers add one probability column per class."""
    from learnloop.artifacts import load_model
    from learnloop.data import load_table

    loaded = run_guarded(load_model, model)
    frame = run_guarded(load_table, data)
    predictions = run_guarded(loaded.predict, frame)
    if out is None:
        typer.echo(predictions.to_csv(index=False), nl=False)
        return
    run_guarded(_write_table, predictions, Path(out))


def _write_table(frame: Any, path: Path) -> None:
    import os
    import tempfile

    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".jsonl"):
        raise UsageError(f"Cannot write '{path}'; use a .csv, .parquet or .jsonl file name.")
    if not path.parent.exists():
        raise UsageError(f"The folder of '{path}' does not exist.")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=True)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


from learnloop.serve_cli import serve as _serve  # noqa: E402

app.command("serve")(_serve)

from learnloop.runs_cli import runs_app, worker  # noqa: E402  (it imports run_guarded)

app.add_typer(runs_app, name="runs")
app.command()(worker)


def main() -> None:
    """Entry point of the ``learnloop`` command."""
    app()


if __name__ == "__main__":
    main()
