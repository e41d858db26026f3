"""``learnloop runs ...`` and ``learnloop worker``: the experiment store from the command line.

Tables for people (rich), one JSON object for programs (``--json``). Errors go through
``cli.run_guarded``: one line, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from learnloop.cli._common import json_errors, run_guarded

__all__ = ["runs_app", "worker"]

runs_app = typer.Typer(
    no_args_is_help=True,
    help="List, show, compare, delete and export the runs in the experiment store.",
)

StoreOpt = Annotated[
    str | None, typer.Option(help="Experiment store URL or SQLite path ($LEARNLOOP_STORE).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
RUN_HELP = "Run id, or its first characters if no other run's id starts with them."
SPARK = "▁▂▃▄▅▆▇█"


def _console() -> Console:
    return Console(width=160, highlight=False)


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, default=str))


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _store(url: str | None) -> Any:
    from learnloop.store import open_store

    return run_guarded(open_store, url)


@runs_app.command("list")
def list_runs(
    store: StoreOpt = None,
    data: Annotated[
        str | None, typer.Option(help="Only runs on this data (part of its path, or fingerprint).")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            help="Only runs with this status: running, met, not_met, interrupted or failed."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The runs in the store, newest first."""
    json_errors(json_out)
    st = _store(store)
    runs = run_guarded(st.list_runs, data=data, status=status)
    rows = []
    for run in runs:
        result = run.get("result") or {}
        rows.append(
            {
                "run_id": run["run_id"],
                "created": run["created"],
                "finished": run["finished"],
                "status": run["status"],
                "task": run["task"],
                "metric": run["metric"],
                "threshold": run["threshold"],
                "data": run["data"],
                "fingerprint": run["fingerprint"],
                "budget_s": run["budget_s"],
                "seed": run["seed"],
                "test_score": result.get("test_score"),
                "test_bound": result.get("test_bound"),
                "best_candidate": result.get("best_candidate"),
                "model_path": run["model_path"],
            }
        )
    if json_out:
        _echo_json({"runs": rows})
        return
    table = Table(title=f"{len(rows)} runs in {st.url.split('@')[-1]}")
    for col in ("run", "created", "status", "data", "task", "metric", "threshold", "test", "bound"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["run_id"],
            (r["created"] or "")[:19].replace("T", " "),
            r["status"],
            r["data"] or "-",
            r["task"] or "-",
            r["metric"] or "-",
            _fmt(r["threshold"]),
            _fmt(r["test_score"]),
            _fmt(r["test_bound"]),
        )
    _console().print(table)


def _spark(values: list[float], greater_is_better: bool) -> str:
    if not values:
        return ""
    lo, hi = min(values), max(values)
    span = hi - lo or 1.0
    return "".join(SPARK[int((v - lo) / span * (len(SPARK) - 1))] for v in values)


def _curve_text(scores: list[dict[str, Any]], limit: int = 8) -> str:
    if len(scores) > limit:
        step = (len(scores) - 1) / (limit - 1)
        scores = [scores[round(i * step)] for i in range(limit)]
    return " ".join(f"{s['step']}:{s['score']:.4g}" for s in scores)


def _look_lines(looks: list[dict[str, Any]]) -> list[str]:
    """One line per test look the run made, with the alpha it spent and its verdict."""
    lines = []
    for look in looks:
        cert, model = look.get("certificate") or {}, look.get("model") or {}
        what = f"{model.get('candidate')} (trial {model.get('trial')})"
        head = f"  look {look['look']} of {look['planned']}  alpha {_fmt(look['alpha'], 3)}  {what}"
        if not cert:
            lines.append(f"{head}: ended before its certificate (the alpha is spent)")
            continue
        verdict = {True: "met", False: "not met", None: "no threshold"}[cert.get("met")]
        lines.append(
            f"{head}: test {_fmt(cert.get('test_score'))}, bound "
            f"{_fmt(cert.get('test_bound'))} ({cert.get('method')}): {verdict}"
        )
    return lines


@runs_app.command("show")
def show(
    run: Annotated[str, typer.Argument(help=RUN_HELP)],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Everything recorded about RUN: settings, versions, certificate, trials and curves."""
    json_errors(json_out)
    from learnloop.store.experiments import run_details

    details = run_guarded(run_details, _store(store), run)
    if json_out:
        _echo_json(details)
        return
    con = _console()
    result = details.get("result") or {}
    cert = result.get("certificate") or {}
    lines = [
        f"run {details['run_id']}  {details['status']}",
        f"  created     {details['created']}  finished {details['finished'] or '-'}",
        f"  command     {details['command'] or '-'}",
        f"  data        {details['data']}  (fingerprint {details['fingerprint']})",
        f"  task        {details['task']}  metric {details['metric']}  threshold "
        f"{_fmt(details['threshold'])}  budget {_fmt(details['budget_s'])}s  "
        f"seed {details['seed']}",
        "  versions    "
        + ", ".join(f"{k} {v}" for k, v in (details.get("versions") or {}).items()),
    ]
    if result.get("error"):
        lines.append(f"  error       {result['error']}")
    if cert:
        lines.append(
            f"  certificate test {_fmt(cert.get('test_score'))}, bound "
            f"{_fmt(cert.get('test_bound'))} at {_fmt(cert.get('confidence'))} "
            f"({cert.get('method')}, look {cert.get('look')}, {cert.get('n_test')} rows)"
        )
        lines.append(
            f"  best        {result.get('best_candidate')} {json.dumps(result.get('best_params'))}"
        )
    lines += _look_lines(details.get("looks") or [])
    lines.append(f"  model       {details['model_path'] or '-'}")
    con.print("\n".join(lines), markup=False)
    table = Table(title=f"{len(details['trials'])} trials")
    for col in ("#", "candidate", "status", "rows", "steps", "score", "stop", "s", "worker"):
        table.add_column(col)
    table.add_column("curve")
    for t in details["trials"]:
        values = [s["score"] for s in t["scores"]]
        table.add_row(
            str(t["number"]),
            t["candidate"] or "-",
            t["status"],
            _fmt(t["n_rows"]),
            _fmt(t["steps"]),
            _fmt(t["score"]),
            t["stop_reason"] or "-",
            _fmt(t["seconds"], 3),
            t["worker"] or "-",
            f"{_spark(values, True)} {_curve_text(t['scores'])}",
        )
    con.print(table)
    for t in details["trials"]:
        if t["params"]:
            con.print(f"  trial {t['number']} params {json.dumps(t['params'])}", markup=False)


@runs_app.command("compare")
def compare(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids (or the start of each).")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
    report: Annotated[
        str | None, typer.Option(help="Also write the comparison as a report (.html or .md).")
    ] = None,
) -> None:
    """RUNs side by side, with intervals and a significance test where test splits match."""
    json_errors(json_out)
    from learnloop.store.experiments import compare_runs

    if report is not None:
        from learnloop.report import format_of, report_compare

        fmt = run_guarded(format_of, report)
        run_guarded(report_compare, list(runs), report, fmt, store)

    out = run_guarded(compare_runs, _store(store), list(runs))
    if json_out:
        _echo_json(out)
        return
    table = Table(title="runs side by side")
    table.add_column("")
    for r in out["runs"]:
        table.add_column(r["run_id"])
    fields = [
        ("status", "status"),
        ("data", "data"),
        ("task", "task"),
        ("metric", "metric"),
        ("threshold", "threshold"),
        ("budget (s)", "budget_s"),
        ("seed", "seed"),
        ("trials", "n_trials"),
        ("best", "best_candidate"),
        ("validation", "validation_score"),
        ("test", "test_score"),
        ("test bound", "test_bound"),
        ("test split", "test_split"),
    ]
    for label, key in fields:
        table.add_row(label, *[_fmt(r[key]) for r in out["runs"]])
    table.add_row(
        "95% interval",
        *[
            f"[{r['test_interval']['low']:.4g}, {r['test_interval']['high']:.4g}]"
            if r["test_interval"]
            else "-"
            for r in out["runs"]
        ],
    )
    con = _console()
    con.print(table)
    for t in out["tests"]:
        a, b = t["runs"]
        if t["name"] is None:
            con.print(f"{a} vs {b}: no test ({t['reason']})", markup=False)
        else:
            con.print(
                f"{a} vs {b}: {t['name']} ({t['variant']}) on {t['n']} shared test rows, "
                f"p = {t['p_value']:.4g}",
                markup=False,
            )


@runs_app.command("delete")
def delete(
    run: Annotated[str, typer.Argument(help=RUN_HELP)],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Remove RUN and its trials from the store (the model file stays)."""
    json_errors(json_out)
    st = _store(store)
    run = run_guarded(st.resolve_run_id, run)
    run_guarded(st.delete_run, run)
    if json_out:
        _echo_json({"deleted": run})
    else:
        typer.echo(f"deleted run {run}")


@runs_app.command("export")
def export(
    run: Annotated[str, typer.Argument(help=RUN_HELP)],
    mlflow: Annotated[str, typer.Option("--mlflow", help="MLflow tracking URI to export to.")],
    model: Annotated[
        Path | None,
        typer.Option("--model", help="The run's model file: log it as an MLflow model too."),
    ] = None,
    register: Annotated[
        str | None,
        typer.Option("--register", help="Register the --model under this name in MLflow."),
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Copy RUN and its trials to MLflow (needs the mlflow extra of learnloop); with
    --model, the run's model too, as an MLflow pyfunc model with its certificate."""
    json_errors(json_out)
    from learnloop.store.mlflow_export import export_mlflow

    st = _store(store)
    run = run_guarded(st.resolve_run_id, run)
    out = run_guarded(export_mlflow, st, run, mlflow, model_path=model, register=register)
    if json_out:
        _echo_json(out)
    else:
        typer.echo(
            f"exported run {run} ({out['n_trials']} trials) to MLflow run {out['mlflow_run_id']}"
        )


def worker(
    run: Annotated[str, typer.Argument(help="The run to join: " + RUN_HELP.lower())],
    store: StoreOpt = None,
    budget: Annotated[
        str | None, typer.Option(help="Stop after this long (default: the run's budget).")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Join RUN: take trials from the shared store until the run finishes or meets its target."""
    json_errors(json_out)
    from learnloop.cli._common import parse_budget
    from learnloop.runs.worker import work

    seconds = run_guarded(parse_budget, budget) if budget is not None else None
    out = run_guarded(work, run, store, budget=seconds)
    if json_out:
        _echo_json(out)
    else:
        hit = out["target_trial"]
        typer.echo(
            f"worker {out['worker']} ran {len(out['trials'])} trials of run {out['run_id']}"
            + (f"; trial {hit} passed the target" if hit is not None else "")
        )
