"""``learnloop report``: the statistical analysis of a run (or runs) in one file.

A report is built as a :class:`Document` of sections (``_doc``) and rendered as one
self-contained HTML page (``_html``: inline styles, plots as inline SVG, nothing fetched)
or as Markdown (``_markdown``). Sections, top to bottom: the verdict and certificate
(``_verdict``), the model in production where its predictions are recorded
(``_monitor``), the loop and the search (``_loop``), the data (``_data``), the model's
decisions (chosen by what the task's models produce), and the top candidates compared
(``_candidates``). ``_compare`` puts runs side by side. Statistics live in ``stats``,
plots in ``plots``.

matplotlib is the one extra dependency (the ``report`` extra).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from learnloop.core.settings import RunSettings
from learnloop.exceptions import UsageError
from learnloop.report._doc import Document, Figure, Section, Table, Text
from learnloop.report._inline import InlineReport

__all__ = [
    "Document",
    "Section",
    "Text",
    "Table",
    "Figure",
    "build_run_report",
    "build_compare_report",
    "write_report",
    "check_out",
    "format_of",
    "report_run",
    "report_compare",
    "inline_report",
    "InlineReport",
]

FORMATS = ("html", "md")
SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md"}


def format_of(out: str | Path, fmt: str | None = None) -> str:
    """The report format: ``fmt`` if given, else the one ``out``'s extension names
    (UsageError for an extension that is neither HTML nor Markdown)."""
    if fmt is not None:
        return fmt.lower()
    if Path(out).is_dir():
        return "html"  # check_out says what is wrong with it
    suffix = Path(out).suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(
            f"The report path '{out}' does not end in .html or .md; rename it, or choose the "
            "format with --format html|md."
        )
    return SUFFIXES[suffix]


def check_out(out: str | Path, fmt: str = "html") -> Path:
    """The output path, checked before any work: UsageError if it cannot be written."""
    if fmt not in FORMATS:
        raise UsageError(f"Unknown report format '{fmt}'; choose html or md.")
    path = Path(out)
    if path.is_dir():
        raise UsageError(f"The report path '{path}' is a directory; give a file name.")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"The folder of the report path '{path}' does not exist.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"The report path '{path}' cannot be written (permission denied).")
    if fmt == "html":
        _require_matplotlib()
    return path


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        raise UsageError(
            "Reports need matplotlib; install it with `pip install learnloop[report]`."
        ) from e


def build_run_report(
    source: str, store: str | None = None, data: Any = None, model: Any = None
) -> Document:
    """The report of one run (id) or model file (``model``: the run's, already loaded)."""
    from learnloop._version import __version__
    from learnloop.report._candidates import candidates_section
    from learnloop.report._data import data_section
    from learnloop.report._inputs import gather
    from learnloop.report._loop import loop_sections
    from learnloop.report._monitor import monitor_section
    from learnloop.report._periods import periods_section
    from learnloop.report._verdict import verdict

    _require_matplotlib()
    started = time.monotonic()
    inputs = gather(source, store, data, model)
    line, met, top = verdict(inputs)
    periods = periods_section(inputs)  # runs split by time: the period certified
    live = monitor_section(inputs, store)  # recorded predictions of this model, if any
    sections = [top, *(s for s in (periods, live) if s), *loop_sections(inputs)]
    sections.append(data_section(inputs))
    sections += _model_sections(inputs)
    sections.append(candidates_section(inputs))
    if inputs.notes:
        sections.insert(1, Section("Notes on this report", [Text(n, "note") for n in inputs.notes]))
    run_id = inputs.field("run_id") or source
    footer = (
        f"learnloop {__version__} — report of run {run_id}, written "
        f"{time.strftime('%Y-%m-%d %H:%M:%S')} in {time.monotonic() - started:.1f} s. Plots "
        "sample rows: scatter plots use at most 2000 rows drawn at random (seeded), "
        "permutation importance at most 1000, learning curves at most 150 points per trial; "
        "tests use every row."
    )
    title = f"learnloop report: run {run_id}"
    return Document(title, line, met, sections, footer)


def _model_sections(inputs: Any) -> list[Section]:
    from learnloop.report._decisions import decision_sections

    model, part = inputs.model, inputs.part
    if model is None or part is None:
        why = "no model file" if model is None else "no data to show its decisions on"
        return [Section("The model", [Text(f"Not shown: {why} (see the notes).", "note")])]
    task = model.task_kind
    metric = task.metric(model.metadata["metric"])
    seed = RunSettings.from_record((inputs.run or {}).get("options") or {}).seed
    sections = decision_sections(task, model.pipeline, part, model.schema, metric, seed)
    for section in sections:  # each says which rows it is drawn on
        section.blocks.insert(0, Text(inputs.rows_note or f"Shown on {inputs.part_name}.", "note"))
    return list(sections)


def build_compare_report(run_ids: list[str], store: str | None = None) -> Document:
    """Runs side by side."""
    from learnloop.report._compare import compare_document
    from learnloop.store import open_store

    _require_matplotlib()
    return compare_document(open_store(store), list(run_ids))


def write_report(doc: Document, out: str | Path, fmt: str = "html") -> Path:
    """Render ``doc`` and write it atomically (nothing is left behind on failure)."""
    from learnloop.report._html import render_html
    from learnloop.report._markdown import render_markdown

    path = check_out(out, fmt)
    text = render_html(doc) if fmt == "html" else render_markdown(doc)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as a plain open() would have made it
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def report_run(
    source: str, out: str | Path, fmt: str = "html", store: str | None = None,
    data: str | None = None,
) -> Path:  # fmt: skip
    """Check ``out``, build the report of ``source`` and write it."""
    check_out(out, fmt)
    return write_report(build_run_report(source, store, data), out, fmt)


def report_compare(
    run_ids: list[str], out: str | Path, fmt: str = "html", store: str | None = None
) -> Path:
    """Check ``out``, build the report of runs side by side and write it."""
    check_out(out, fmt)
    return write_report(build_compare_report(run_ids, store), out, fmt)


def inline_report(
    source: str, store: str | None = None, data: Any = None, model: Any = None
) -> InlineReport:
    """The HTML report of a run (id) or model file, as a value a notebook shows inline
    (``Result.report()``); ``data`` as for :func:`build_run_report`, or the in-memory
    table the run was trained on (a run records no copy of it)."""
    from learnloop.report._html import render_html

    doc = build_run_report(source, store, data, model)
    return InlineReport(render_html(doc), doc.title)
