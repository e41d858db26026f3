"""Text from the data in reports and messages (issue 21, item 11): a column named
``<script>alert(1)</script>`` was written raw into the Markdown report, and ESC and NUL
from the data reached HTML reports and the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt

from learnloop.core.printable import printable
from learnloop.report._doc import Document, Figure, Section, Table, Text
from learnloop.report._html import render_html
from learnloop.report._markdown import render_markdown

SCRIPT = "<script>alert(1)</script>"
HOSTILE = [
    SCRIPT,
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "![x](http://example.invalid/x.png)",
    "`code` *bold* _em_ | pipe & amp;",
    "# heading",
    "1. not a list",
    "line\nbreak",
    "esc\x1b[31mred\x1b[0m nul\x00 bell\x07 del\x7f c1\x9b rtl\u202e",
]


def _document() -> Document:
    table = Table(headers=[*HOSTILE, "mean_radius"], rows=[[*HOSTILE, 1.5]], caption=SCRIPT)
    texts = [Text(HOSTILE[2]), Text(HOSTILE[-1], "note"), Text(HOSTILE[6]), Text("- no list")]
    section = Section(SCRIPT, [*texts, table])
    section.add(Figure("<svg><text>esc\x1b here</text></svg>", SCRIPT))
    return Document(SCRIPT, "MET: " + HOSTILE[4], True, [section], footer=HOSTILE[5])


def _no_controls(text: str) -> None:
    bad = [c for c in text if (ord(c) < 32 and c not in "\n\t") or 0x7F <= ord(c) <= 0x9F]
    assert not bad, bad
    assert "\u202e" not in text


def test_markdown_shows_hostile_text_and_renders_none_of_it() -> None:
    md = render_markdown(_document())
    _no_controls(md)
    assert "<script" not in md and "<img" not in md
    assert "mean_radius" in md  # an underscore inside a word is left alone
    html = MarkdownIt("commonmark").enable("table").render(md)
    assert "\\x1b[31mred" in html and "\\x00" in html and "\\u202e" in html
    assert "<script" not in html and "<img" not in html and "<a " not in html
    assert "<code>" not in html and "<strong>MET: `code` *bold* _em_ | pipe &amp; amp;<" in html
    assert "<td>1.5</td>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown as text
    assert html.count("<th>") == len(HOSTILE) + 1  # the pipe did not split a cell
    assert "<h1>" in html and html.count("<h1>") == 1  # '# heading' in the footer is text
    assert "<ol" not in html and "<ul" not in html and "<p>1. not a list</p>" in html


def test_html_escapes_markup_and_shows_control_characters() -> None:
    page = render_html(_document())
    _no_controls(page)
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\\x1b[31mred" in page and "\\x00" in page
    assert "esc\\x1b here" in page  # inside a plot's SVG too


def test_printable_keeps_text_and_shows_controls() -> None:
    assert printable("plain text, ünïcode 名前") == "plain text, ünïcode 名前"
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("a\tb\nc", newlines=False) == "a\\x09b\\x0ac"
    assert printable("\x1b[2J\x00\x9b\u2028") == "\\x1b[2J\\x00\\x9b\\u2028"


@pytest.fixture(scope="module")
def hostile_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on columns named with markup and an escape sequence."""
    root = tmp_path_factory.mktemp("hostile-text")
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    frame = pd.DataFrame(
        {SCRIPT: x, "esc\x1b[31mred": rng.normal(size=300), "target": np.where(x > 0, "a", "b")}
    )
    frame.to_csv(root / "data.csv", index=False)
    out = root / "m.skops"
    proc = _cli("train", str(root / "data.csv"), "--target", "target", "--budget", "3",
                "--out", str(out), "--store", str(root / "s.db"), cwd=root)  # fmt: skip
    assert proc.returncode in (0, 3), proc.stderr
    return out


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "learnloop", *args], cwd=cwd, capture_output=True, timeout=300
    )


def test_a_report_of_hostile_columns_is_inert(hostile_model: Path, tmp_path: Path) -> None:
    for fmt in ("md", "html"):
        out = tmp_path / f"r.{fmt}"
        proc = _cli("report", str(hostile_model), "--out", str(out), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        text = out.read_text()
        _no_controls(text)
        assert "<script" not in text
        assert "alert(1)" in text and "\\x1b" in text


def test_an_error_quoting_the_data_is_one_line_without_controls(
    hostile_model: Path, tmp_path: Path
) -> None:
    """A missing column's name reaches the terminal: escaped, never raw ESC."""
    table = tmp_path / "new.csv"
    pd.DataFrame({SCRIPT: [0.1, 0.2]}).to_csv(table, index=False)
    proc = _cli("predict", str(hostile_model), str(table), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr.decode()
    assert b"\x1b" not in proc.stderr and len(err.strip().splitlines()) == 1, err
    assert err.startswith("error: ") and "esc\\x1b[31mred" in err
