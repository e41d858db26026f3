"""``learnloop explain MODEL DATA``: why a model decides as it does.

Per row, each input column's contribution to the row's score (a CSV, on stdout or in
``--out``); overall, each column's permutation importance with a 95% interval (on stderr, in
``--json`` and as a bar chart in ``--plot``). The libraries are imported inside the command,
so that ``learnloop --help`` does not pay for them.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from learnloop.cli._common import fail, json_errors, run_guarded, write_table

if TYPE_CHECKING:
    from learnloop.explanations import Explanation

__all__ = ["explain"]


def _check_outputs(out: str | None, plot: str | None) -> None:
    """Refuse, before any work, an output that cannot be written."""
    for path, kinds in ((out, (".csv", ".parquet", ".jsonl")), (plot, (".png",))):
        if path is None:
            continue
        p = Path(path)
        if p.suffix.lower() not in kinds:
            fail(f"Cannot write '{path}'; use a {', '.join(kinds)} file name.")
        if not p.parent.exists():
            fail(f"The folder of '{path}' does not exist.")
    if plot is not None and importlib.util.find_spec("matplotlib") is None:
        fail("--plot needs matplotlib; install it with: pip install 'learnloop[report]'.")


def _summary(explanation: Explanation) -> str:
    """The importance as a few lines of text, for a person at the terminal."""
    lines = [f"contributions: {explanation.method}"]
    imp = explanation.importance
    if imp is not None:
        lines.append(
            f"importance: drop in {imp.metric} when a column is shuffled "
            f"({imp.rows} rows, {imp.repeats} bootstrap shuffles, "
            f"{imp.confidence:.0%} interval)"
        )
        for row in imp.table.itertuples():
            lines.append(f"  {row.column:<24} {row.mean:+.4f}  [{row.low:+.4f}, {row.high:+.4f}]")
    return "\n".join(lines + explanation.notes)


def _plot(explanation: Explanation, path: str) -> None:
    from learnloop.report.plots import write_interval_bars_png

    imp = explanation.importance
    if imp is None:
        fail("--plot draws the global importance, which needs the target column in the data.")
        return
    top = imp.table.head(20)
    write_interval_bars_png(
        Path(path), list(top["column"]), top["mean"], top["low"], top["high"],
        f"drop in {imp.metric} when shuffled ({imp.confidence:.0%} interval)",
    )  # fmt: skip


def explain(
    model: Annotated[str, typer.Argument(help="Model file written by `learnloop train`.")],
    data: Annotated[
        str,
        typer.Argument(
            help="Rows to explain (CSV, Parquet, JSON lines), with the target "
            "column for the global importance."
        ),  # fmt: skip
    ],
    rows: Annotated[int, typer.Option(help="Explain the first N rows one by one.", min=1)] = 1000,
    out: Annotated[
        str | None, typer.Option(help="Write the per-row contributions here (.csv, ...).")
    ] = None,
    plot: Annotated[
        str | None, typer.Option(help="Draw the global importance with its intervals (.png).")
    ] = None,
    repeats: Annotated[
        int, typer.Option(help="Bootstrap shuffles per column for the importance.", min=2)
    ] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the shuffles and samples.")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (importance and rows).")
    ] = False,
) -> None:
    """Explain a model: each input column's contribution to each row's score (exact for
    LightGBM, sampled Shapley values otherwise) and its permutation importance with a 95%
    interval."""
    from learnloop.core.files import model_file

    json_errors(as_json)
    _check_outputs(out, plot)
    run_guarded(model_file, model)  # a wrong path fails before the heavy imports below
    from learnloop.explanations import check_explainable
    from learnloop.store.model_files import load_model

    loaded = run_guarded(load_model, model)
    run_guarded(check_explainable, loaded.task_kind)
    frame = run_guarded(loaded.task_kind.read_inputs, data, loaded.schema)
    explanation = run_guarded(loaded.explain, frame, rows=rows, repeats=repeats, seed=seed)
    if plot is not None:
        run_guarded(_plot, explanation, plot)
    table = explanation.table()
    if out is not None:
        run_guarded(write_table, table, Path(out))
    if as_json:
        result: dict[str, Any] = {"status": "ok", "model": model, "data": data, "out": out,
                                  "plot": plot, **explanation.to_dict()}  # fmt: skip
        typer.echo(json.dumps(result, default=float))
        return
    typer.echo(_summary(explanation), err=True)
    if out is None:
        typer.echo(table.to_csv(index=False), nl=False)
