"""Drift per input column: how far live rows have moved from the training rows.

At training time :func:`reference_profile` keeps, per numeric column, 101 quantiles (0 to
100 percent) and the share of training rows in each decile bin, and per categorical
column the share of each of its most common values (the rest pooled as ``other``), with
each column's share of missing cells. It goes into the model file's metadata as
``reference`` (older model files lack it, and their drift is not reported).

:func:`column_drift` then compares live rows with it, as Evidently reports drift: the
population stability index (PSI, sum of ``(live - ref) * ln(live / ref)`` over the bins,
missing cells a bin of their own, shares floored at 1e-4) per column with a drifted flag
at ``PSI > 0.2`` (the common rule: < 0.1 stable, 0.1-0.2 moderate, > 0.2 shifted), and
for numeric columns the Kolmogorov-Smirnov statistic and p-value of the live values
against the reference distribution (SciPy's one-sample ``kstest`` with the CDF the
quantiles interpolate). Date and free-text columns are not profiled.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from learnloop.data import Schema

__all__ = ["reference_profile", "column_drift", "PSI_LIMIT", "MIN_ROWS"]

PSI_LIMIT = 0.2
MIN_ROWS = 30  # live rows below which drift is not judged
_TOP = 20  # categorical values kept by name
_FLOOR = 1e-4


def reference_profile(X: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    """Per profiled column of the prepared training features ``X``: its bins and shares."""
    profile: dict[str, Any] = {}
    n = max(len(X), 1)
    for spec in schema.features:
        if spec.name not in X.columns:
            continue
        col = X[spec.name]
        missing = float(col.isna().sum() / n)
        if spec.kind == "numeric":
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if values.size == 0:
                continue
            quantiles = np.quantile(values, np.linspace(0, 1, 101))
            edges = np.unique(quantiles[10:100:10])
            shares = _numeric_shares(values, edges) * (1 - missing)
            profile[spec.name] = {
                "kind": "numeric",
                "quantiles": [float(q) for q in quantiles],
                "edges": [float(e) for e in edges],
                "shares": [float(s) for s in shares],
                "missing": missing,
            }
        elif spec.kind == "categorical":
            counts = col.dropna().astype(str).value_counts()
            top = counts.iloc[:_TOP]
            profile[spec.name] = {
                "kind": "categorical",
                "shares": {str(k): float(v / n) for k, v in top.items()},
                "other": float(counts.iloc[_TOP:].sum() / n),
                "missing": missing,
            }
    return profile


def _numeric_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The share of ``values`` in each bin the inner ``edges`` cut (right-closed bins)."""
    counts = np.bincount(np.searchsorted(edges, values, side="left"), minlength=len(edges) + 1)
    return counts / max(values.size, 1)


def _psi(live: np.ndarray, ref: np.ndarray) -> float:
    live = np.maximum(live, _FLOOR)
    ref = np.maximum(ref, _FLOOR)
    return float(np.sum((live - ref) * np.log(live / ref)))


def column_drift(profile: dict[str, Any], X: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Drift of each profiled column of the prepared live features ``X``: ``psi``,
    ``drifted`` (PSI > :data:`PSI_LIMIT`), ``limit``, ``rows``, and for numbers ``ks`` and
    ``ks_p_value``. Empty if ``X`` has fewer than :data:`MIN_ROWS` rows."""
    from scipy.stats import kstest

    n = len(X)
    if n < MIN_ROWS:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, ref in profile.items():
        if name not in X.columns:
            continue
        col = X[name]
        missing = float(col.isna().sum() / n)
        entry: dict[str, Any] = {"kind": ref["kind"], "rows": n}
        if ref["kind"] == "numeric":
            values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            edges = np.asarray(ref["edges"], dtype=float)
            shares = _numeric_shares(values, edges) * (1 - missing)
            entry["psi"] = _psi(
                np.append(shares, missing), np.append(np.asarray(ref["shares"]), ref["missing"])
            )
            quantiles = np.asarray(ref["quantiles"], dtype=float)
            if values.size and quantiles[-1] > quantiles[0]:
                grid = np.linspace(0, 1, quantiles.size)

                def cdf(x: np.ndarray, q: np.ndarray = quantiles, g: np.ndarray = grid) -> Any:
                    return np.interp(x, q, g, left=0.0, right=1.0)

                test = kstest(values, cdf)
                entry["ks"] = float(test.statistic)
                entry["ks_p_value"] = float(test.pvalue)
        else:
            text = col.dropna().astype(str)
            names = list(ref["shares"])
            counts = text.value_counts()
            live = [float(counts.get(k, 0) / n) for k in names]
            other = float(counts[~counts.index.isin(names)].sum() / n)
            entry["psi"] = _psi(
                np.asarray([*live, other, missing]),
                np.asarray([*ref["shares"].values(), ref["other"], ref["missing"]]),
            )
        entry["limit"] = PSI_LIMIT
        entry["drifted"] = bool(entry["psi"] > PSI_LIMIT)
        out[name] = entry
    return out
