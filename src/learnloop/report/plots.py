"""Plots as inline SVG strings (matplotlib, Agg backend, text kept as text).

Each function takes plain arrays and returns an ``<svg>`` element that scales to its
container. Callers sample points before plotting (``sample_rows``) so a report of a
large run stays small; the caption says how. matplotlib is imported on first use: it is
the ``report`` extra's dependency.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "MAX_POINTS",
    "sample_rows",
    "lines",
    "scatter_groups",
    "bars",
    "interval_bars",
    "write_interval_bars_png",
    "histogram",
    "heatmap",
    "cd_diagram",
]

MAX_POINTS = 2000  # points of a scatter plot at most
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]  # fmt: skip


def sample_rows(n: int, limit: int = MAX_POINTS, seed: int = 0) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` rows, drawn at random (seeded)."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=limit, replace=False))


def _figure(width: float = 7.0, height: float = 3.6) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    plt.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "learnloop",
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }  # fmt: skip
    )
    fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # scale with the page: drop the fixed size, keep the viewBox
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", text, count=1)


def _legend(ax: Any, n: int) -> None:
    if n:
        ax.legend(fontsize=8, frameon=False, loc="best", ncol=1 if n < 8 else 2)


def lines(  # noqa: PLR0913 -- matplotlib-style keyword options of one plot
    series: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    *,
    hlines: Sequence[tuple[float, str, str]] = (),
    marks: Sequence[tuple[float, float, str]] = (),
    colors: Sequence[str] | None = None,
    logx: bool = False,
    diagonal: bool = False,
    legend: bool = True,
) -> str:
    """Lines (label, xs, ys); horizontal reference lines (y, label, style); end marks
    (x, y, text) annotated in small type; an optional y = x diagonal."""
    fig, ax = _figure()
    seen: set[str] = set()
    for i, (label, xs, ys) in enumerate(series):
        color = colors[i] if colors else PALETTE[i % len(PALETTE)]
        shown = label if label not in seen else None
        seen.add(label)
        marker = "o" if len(xs) < 3 else None  # a one-point curve is still seen
        ax.plot(xs, ys, color=color, lw=1.2, alpha=0.85, label=shown, marker=marker, ms=3)
    for y, label, style in hlines:
        ax.axhline(y, color="#333", ls=style, lw=1, label=label)
    for x, y, text in marks:
        ax.plot([x], [y], marker="o", ms=3, color="#333")
        if text:
            ax.annotate(text, (x, y), fontsize=6, xytext=(3, 2), textcoords="offset points")
    if diagonal:
        ax.plot([0, 1], [0, 1], color="#999", ls=":", lw=1)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        _legend(ax, len(seen) + len(hlines))
    return _svg(fig)


def scatter_groups(
    groups: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    *,
    logx: bool = False,
    diagonal: bool = False,
    hline: float | None = None,
) -> str:
    """Points coloured by group (a model family, a cluster)."""
    fig, ax = _figure()
    lo, hi = np.inf, -np.inf
    for i, (name, (xs, ys)) in enumerate(groups.items()):
        ax.scatter(xs, ys, s=9, alpha=0.6, color=PALETTE[i % len(PALETTE)], label=name, lw=0)
        if len(xs):
            lo = min(lo, float(np.min(xs)), float(np.min(ys)))
            hi = max(hi, float(np.max(xs)), float(np.max(ys)))
    if diagonal and np.isfinite(lo):
        ax.plot([lo, hi], [lo, hi], color="#999", ls=":", lw=1)
    if hline is not None:
        ax.axhline(hline, color="#999", ls=":", lw=1)
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _legend(ax, len(groups) if len(groups) > 1 else 0)
    return _svg(fig)


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    xlabel: str,
    *,
    errors: Sequence[float] | None = None,
) -> str:
    """Horizontal bars, first label on top, with optional error bars."""
    height = min(6.0, 1.0 + 0.28 * len(labels))
    fig, ax = _figure(7.0, height)
    pos = np.arange(len(labels))[::-1]
    ax.barh(pos, values, xerr=errors, color=PALETTE[0], alpha=0.8, capsize=2)
    ax.set_yticks(pos, [str(v)[:28] for v in labels])
    ax.set_xlabel(xlabel)
    return _svg(fig)


def _interval_figure(labels: Sequence[str], means: Any, lows: Any, highs: Any, xlabel: str) -> Any:
    """Horizontal bars of ``means`` (first label on top) with whiskers from ``lows`` to
    ``highs`` (an interval, not a spread) and a line at zero."""
    means, lows, highs = (np.asarray(v, dtype=float) for v in (means, lows, highs))
    fig, ax = _figure(7.0, min(6.0, 1.0 + 0.28 * len(labels)))
    pos = np.arange(len(labels))[::-1]
    whiskers = np.vstack([means - lows, highs - means])
    ax.barh(pos, means, xerr=whiskers, color=PALETTE[0], alpha=0.8, capsize=3)
    ax.axvline(0.0, color="#444444", linewidth=0.8)
    ax.set_yticks(pos, [str(v)[:28] for v in labels])
    ax.set_xlabel(xlabel)
    return fig


def interval_bars(labels: Sequence[str], means: Any, lows: Any, highs: Any, xlabel: str) -> str:
    """:func:`_interval_figure` as inline SVG."""
    return _svg(_interval_figure(labels, means, lows, highs, xlabel))


def write_interval_bars_png(  # noqa: PLR0913 -- the bars, their intervals and where to write
    path: Any, labels: Sequence[str], means: Any, lows: Any, highs: Any, xlabel: str
) -> None:
    """:func:`_interval_figure` written as a PNG file at ``path``, atomically."""
    import os
    import tempfile
    from pathlib import Path

    import matplotlib.pyplot as plt

    fig = _interval_figure(labels, means, lows, highs, xlabel)
    fig.tight_layout()
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".png")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None})
        os.replace(tmp, target)
    finally:
        plt.close(fig)
        Path(tmp).unlink(missing_ok=True)


def histogram(values: Sequence[float], xlabel: str, bins: int = 40) -> str:
    fig, ax = _figure(7.0, 2.6)
    ax.hist(np.asarray(values, dtype=float), bins=bins, color=PALETTE[0], alpha=0.8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    return _svg(fig)


def heatmap(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str], xlabel: str,
            ylabel: str) -> str:  # fmt: skip
    """A matrix of counts with each cell's number written in it (a confusion matrix)."""
    k = len(rows)
    fig, ax = _figure(7.0, min(7.0, 2.6 + 0.3 * k))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(cols)), [str(c)[:14] for c in cols], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(r)[:14] for r in rows])
    if k <= 20:
        top = matrix.max() or 1
        for (i, j), v in np.ndenumerate(matrix):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=7,
                    color="white" if v > 0.6 * top else "black")  # fmt: skip
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return _svg(fig)


def cd_diagram(avg_ranks: dict[str, float], cd: float) -> str:
    """Demšar's critical-difference diagram: systems on a rank axis, joined where the
    difference between their mean ranks is below the critical difference ``cd``."""
    names = sorted(avg_ranks, key=avg_ranks.get)  # type: ignore[arg-type]
    k = len(names)
    fig, ax = _figure(7.0, 1.2 + 0.3 * k)
    ax.set_xlim(1 - 0.2, max(k, 2) + 0.2)
    ax.set_ylim(-k - 1, 1.5)
    ax.axis("off")
    ax.hlines(0, 1, max(k, 2), color="#333")
    for r in range(1, max(k, 2) + 1):
        ax.vlines(r, 0, 0.15, color="#333")
        ax.text(r, 0.3, str(r), ha="center", fontsize=8)
    for i, name in enumerate(names):
        rank = avg_ranks[name]
        ax.vlines(rank, -i - 0.6, 0, color=PALETTE[i % len(PALETTE)])
        ax.text(rank + 0.03, -i - 0.6, f"{name} ({rank:.2f})", fontsize=8, va="center")
    depth = 0
    for i in range(k):  # bars joining groups not significantly different
        j = max(j for j in range(i, k) if avg_ranks[names[j]] - avg_ranks[names[i]] < cd)
        if j > i and (i == 0 or avg_ranks[names[j]] - avg_ranks[names[i - 1]] >= cd):
            depth += 1
            y = -0.2 * depth
            ax.hlines(y, avg_ranks[names[i]], avg_ranks[names[j]], color="black", lw=3)
    ax.hlines(1.1, 1, 1 + cd, color="#333", lw=2)
    ax.text(1 + cd / 2, 1.25, f"CD = {cd:.2f}", ha="center", fontsize=8)
    return _svg(fig)
