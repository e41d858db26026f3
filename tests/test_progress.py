"""What ``learnloop.train`` shows while it runs: a block in a notebook, silence in scripts.

The notebook block is driven here by a real run, with IPython's ``display`` replaced by a
recorder (a real kernel runs it in tests/test_notebook.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sklearn.datasets import load_breast_cancer

import learnloop
from learnloop.exceptions import UsageError
from learnloop.runs import notebook_progress
from learnloop.runs.progress import PlainReporter, SilentReporter, reporter_for

pytest.importorskip("IPython")


@pytest.fixture(scope="module")
def table() -> Any:
    return load_breast_cancer(as_frame=True).frame  # 569 rows: 0.9 is met and certified in seconds


def _train(table: Any, tmp_path: Path, **kw: Any) -> learnloop.Result:
    return learnloop.train(
        table, "target", threshold=0.9, budget=10, out=None, store=str(tmp_path / "s.db"), **kw
    )


def test_the_choice_of_display() -> None:
    assert not notebook_progress.in_notebook()
    assert isinstance(reporter_for(False), SilentReporter)
    assert isinstance(reporter_for("auto"), SilentReporter)  # pytest's stderr: not a terminal
    assert isinstance(reporter_for(True), PlainReporter)
    with pytest.raises(UsageError, match="progress must be True, False or 'auto'"):
        reporter_for("bar")


def test_silent_by_default_outside_a_notebook_and_a_terminal(
    table: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _train(table, tmp_path)
    assert capsys.readouterr().err == ""
    result = _train(table, tmp_path, progress=True)
    err = capsys.readouterr().err
    assert f"run {result.run_id}" in err and "test look 1" in err


class _Handle:
    def __init__(self, shown: list[str]) -> None:
        self.shown = shown

    def update(self, obj: Any) -> None:
        self.shown.append(obj.data)


def test_a_notebook_shows_one_block_updated_to_the_end(
    table: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import IPython.display

    shown: list[str] = []

    def display(obj: Any, display_id: bool = False) -> _Handle:
        assert display_id  # updated in place, not printed again and again
        shown.append(obj.data)
        return _Handle(shown)

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(notebook_progress, "in_notebook", lambda: True)
    table = table.assign(**{"<b>odd</b>": 1.0})  # a column name is shown escaped
    result = _train(table, tmp_path)
    assert f"learnloop run {result.run_id}" in shown[0]
    last = shown[-1]
    assert "done in" in last and f"{len(result.trials)} trials" in last
    assert "test look 1" in last and ("met" if result.met else "not met") in last
    assert "<b>odd</b>" not in "".join(shown) and "&lt;b&gt;odd&lt;/b&gt;" in "".join(shown)
