"""``learnloop monitor MODEL``: the live score, its anytime-valid bound, and drift.

MODEL is a model file or a registered model's name: then its champion is watched, and its
challenger (shadowing it with ``serve --shadow``) shown beside it, scored on the same labels.

Exit 0 while the claim holds (or cannot be judged yet), 3 once the live bound is on the
wrong side of the threshold (the claim no longer holds), 2 for bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from learnloop.cli._common import EXIT_NOT_MET, json_errors, run_guarded

__all__ = ["monitor"]


def monitor(
    model: Annotated[
        str,
        typer.Argument(help="The model file served with --record, or a registered model's name."),
    ],
    store: Annotated[
        str | None,
        typer.Option(help="Store the predictions are recorded in (default: $LEARNLOOP_STORE)."),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Threshold to watch (default: the model's own).")
    ] = None,
    confidence: Annotated[float, typer.Option(help="Confidence of the bound.")] = 0.95,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout.")
    ] = False,
) -> None:
    """Watch MODEL in production: live score and its anytime-valid bound against the
    threshold, labels seen, predictions recorded, drift per input column.

    Exit 0 while the claim holds, 3 once the bound is on the wrong side of the threshold."""
    json_errors(as_json)
    report = run_guarded(_report, model, store, threshold, confidence)
    if as_json:
        typer.echo(json.dumps(report))
    else:
        typer.echo(_text(report))
    if not report["claim_holds"]:
        raise typer.Exit(EXIT_NOT_MET)


def _report(
    model: str, store: str | None, threshold: float | None, confidence: float
) -> dict[str, Any]:
    """The monitor's report of MODEL (a file, or a registered name: its champion and
    challenger); each cheap check made before the heavy imports it would otherwise wait for."""
    from learnloop.core.files import model_file
    from learnloop.exceptions import UsageError

    if not 0.5 < confidence < 1:
        raise UsageError(f"--confidence must be between 0.5 and 1; got {confidence}.")
    a_file = Path(model).is_file() or bool(Path(model).suffix)
    if a_file:
        model_file(model)  # a wrong path fails before the store is opened, and the imports
    from learnloop.store import open_store
    from learnloop.store.predictions import PredictionLog

    opened = open_store(store)
    log = PredictionLog(opened)

    def watch(path: str) -> dict[str, Any]:
        from learnloop.runs.live import monitor as live_monitor
        from learnloop.store.model_files import load_model

        return live_monitor(load_model(path), log, threshold=threshold, confidence=confidence)

    if a_file:
        return watch(model)
    from learnloop.store.versions import Registry

    registry = Registry(opened)
    champion = registry.champion(model)  # StoreError for an unknown name
    report = {**watch(champion["path"]), "version": f"{model}/{champion['version']}"}
    other = registry.alias(model, "challenger")
    report["challenger"] = None
    if other is not None and other != champion["version"]:
        theirs = watch(registry.get(model, other)["path"])
        report["challenger"] = {**theirs, "version": f"{model}/{other}"}
    return report


def _num(x: Any) -> str:
    return "-" if x is None else f"{x:.4g}"


def _text(r: dict[str, Any]) -> str:
    lines = [
        f"status: {r['status']}   metric: {r['metric']}   threshold: {_num(r['threshold'])}",
        f"live score: {_num(r['live_score'])}   {r['bound_side']} bound "
        f"({r['confidence']:.0%}, anytime-valid): {_num(r['bound'])}",
        f"labels seen: {r['labels_seen']}   predictions recorded: {r['predictions_recorded']}",
    ]
    if r["estimate"] is not None:
        e = r["estimate"]
        value = _num(e["value"])
        lines.append(f"estimated {r['metric']} before labels: {value} ({e['rows']} rows)")
    if r["drift"]:
        lines.append(f"drift over the newest {r['drift_rows']} rows (PSI > 0.2 is drifted):")
        for name, d in r["drift"].items():
            ks = f"   KS {d['ks']:.3f} (p {d['ks_p_value']:.3g})" if "ks" in d else ""
            flag = "DRIFTED" if d["drifted"] else "ok"
            lines.append(f"  {name}: PSI {d['psi']:.3f} {flag}{ks}")
    elif r["drift"] is None:
        lines.append("drift: the model file has no reference profile (trained before it).")
    if r.get("version"):
        lines.insert(0, f"champion: {r['version']}")
    c = r.get("challenger")
    if c:
        lines.append(
            f"challenger: {c['version']}   live score: {_num(c['live_score'])}   "
            f"{c['bound_side']} bound: {_num(c['bound'])}   labels seen: {c['labels_seen']}   "
            f"predictions recorded: {c['predictions_recorded']}   status: {c['status']}"
        )
    return "\n".join(lines)
