"""Recorded predictions with their feedback, as training rows for a retrain.

A server run with ``--record`` keeps each predicted input row; ``POST /feedback`` (or
``learnloop feedback``) adds its true label later. :func:`feedback_rows` joins the two into a
table: the input rows as the clients sent them, with the label under the model's target
column, oldest prediction first (so a window of the newest rows keeps the newest feedback).
The rows of every registered version of the model count (a version retrained before learned
from its parent's feedback too, and the newest labels came to whichever version served).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from learnloop.store import Store
from learnloop.store.model_files import LoadedModel, load_model
from learnloop.store.predictions import PredictionLog, model_digest
from learnloop.store.versions import Registry

__all__ = ["feedback_rows", "lineage_digests"]


def lineage_digests(model: LoadedModel, registry: Registry | None, name: str | None) -> list[str]:
    """The digest predictions of ``model`` are recorded under, and those of the other
    registered versions of ``name`` whose files still load (a version whose file is gone
    has no rows to give)."""
    digests = [model_digest(model.metadata)]
    if registry is None or name is None or name not in registry.names():
        return digests
    for version in registry.versions(name):
        path = Path(version["path"])
        if not path.exists():
            continue
        try:
            digest = model_digest(load_model(path).metadata)
        except Exception:  # noqa: BLE001 -- a changed or unreadable old file gives no rows
            continue
        if digest not in digests:
            digests.append(digest)
    return digests


def feedback_rows(store: Store, target: str, digests: Iterable[str]) -> pd.DataFrame:
    """The labelled recorded predictions of the models ``digests`` as a table: the input
    columns the clients sent, plus ``target`` holding the feedback label (empty if none)."""
    pairs = PredictionLog(store).labelled_rows(list(digests))
    if not pairs:
        return pd.DataFrame()
    frame = pd.DataFrame([row for row, _ in pairs])
    frame[target] = [label for _, label in pairs]
    return frame
