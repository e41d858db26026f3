"""The tables-vs-peers benchmark's table: learnloop's ratio to the better peer, the right way
round for each metric, and the peers' scores borrowed by a label that ran learnloop alone."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.tables_vs_peers import main, table_lines, write_results  # noqa: E402


def _row(table: str, system: str, score: float, label: str = "a", **extra) -> dict:
    return {"table": table, "system": system, "metric": "x", "test_score": score,
            "budget": 60.0, "seed": 0, "n_jobs": 2, "label": label, **extra}  # fmt: skip


def test_the_ratio_is_to_the_better_peer_and_signed_by_the_metric() -> None:
    rows = [
        _row("digits", "learnloop", 0.97),
        _row("digits", "flaml", 0.98),
        _row("digits", "autogluon", 0.96),
        _row("loans", "learnloop", 3.6),
        _row("loans", "flaml", 4.0),
        _row("loans", "autogluon", 3.8),
    ]
    lines = table_lines(rows)
    digits = next(line for line in lines if line.startswith("| digits"))
    loans = next(line for line in lines if line.startswith("| loans"))
    assert "-1.02%" in digits and "**0.9800**" in digits  # behind FLAML, the better peer
    assert "+5.26%" in loans and "**3.6000**" in loans  # rmse: lower is better


def test_a_lever_run_borrows_the_peers_latest_scores(tmp_path) -> None:
    rows = [
        _row("digits", "learnloop", 0.97, "first"),
        _row("digits", "flaml", 0.98, "first"),
        {k: v for k, v in _row("digits", "autogluon", 0, "first").items() if k != "test_score"}
        | {"skipped": "no interpreter"},
        _row("digits", "learnloop", 0.99, "lever", enable="end_refit"),
    ]
    jsonl, out = tmp_path / "rows.jsonl", tmp_path / "results.md"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    write_results(out, jsonl)
    text = out.read_text()
    lever = text[text.index("## lever") :]
    assert "| digits | accuracy | **0.9900** | 0.9800 |" in lever and "+1.02%" in lever
    assert "autogluon skipped: no interpreter" in text
    assert "| digits | accuracy | 0.9700 | **0.9800** | skipped | -1.02% |" in text


def test_an_unknown_table_is_one_clear_line_and_exit_2(capsys) -> None:
    assert main(["--tables", "nope", "--budget", "1"]) == 2
    assert "unknown table or system: nope" in capsys.readouterr().err
