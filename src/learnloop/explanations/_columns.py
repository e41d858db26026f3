"""Which of the user's input columns each model column comes from.

A model sees the user's columns twice transformed: a date column becomes several numbers
(``signup__year``, ``signup__month``, ... in :func:`learnloop.data.read_features`), then the
fitted ``ColumnTransformer`` encodes each of those (one-hot parts ``plan_basic``, missing-value
indicators ``missingindicator_age``, scaled numbers). Contributions and shuffles are about the
user's columns, so each part is traced back to its column here, by the transformer's own
feature names, and the parts of one column are summed (contributions) or moved together
(shuffles).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from learnloop.data import DATETIME_PARTS, Schema

__all__ = ["input_of_prepared", "input_of_encoded", "grouping"]


def input_of_prepared(schema: Schema) -> dict[str, str]:
    """Each prepared feature column (as :func:`~learnloop.data.read_features` names it) ->
    the input column it was made from."""
    out: dict[str, str] = {}
    for spec in schema.features:
        if spec.kind in ("numeric", "categorical"):
            out[spec.name] = spec.name
        else:  # a date: one number per part
            out.update({f"{spec.name}__{part}": spec.name for part in DATETIME_PARTS})
    return out


def _owner(name: str, columns: list[str]) -> str | None:
    """The column of ``columns`` an encoded feature ``name`` belongs to: itself, its
    missing-value indicator, or the longest column that prefixes it (one-hot parts)."""
    if name in columns:
        return name
    bare = name.removeprefix("missingindicator_")
    if bare in columns:
        return bare
    owners = [c for c in columns if name.startswith(f"{c}_")]
    return max(owners, key=len) if owners else None


def input_of_encoded(preprocessor: Any, schema: Schema) -> list[str]:
    """For each column the fitted ``ColumnTransformer`` ``preprocessor`` outputs, the input
    column it comes from. ValueError if one cannot be traced (a transformer without feature
    names), so that no contribution is ever given to the wrong column."""
    prepared = input_of_prepared(schema)
    width = sum(s.stop - s.start for s in preprocessor.output_indices_.values())
    owners: list[str | None] = [None] * width
    for name, transformer, columns in preprocessor.transformers_:
        part = preprocessor.output_indices_[name]
        if transformer == "drop" or part.stop == part.start:
            continue
        columns = list(columns)
        if transformer == "passthrough":
            names = columns
        else:
            names = [str(n) for n in transformer.get_feature_names_out(columns)]
        for i, feature in enumerate(names):
            owner = columns[0] if len(columns) == 1 else _owner(feature, columns)
            owners[part.start + i] = prepared.get(owner) if owner is not None else None
    missing = [i for i, o in enumerate(owners) if o is None]
    if missing:
        raise ValueError(f"The encoded model columns {missing} cannot be traced to an input.")
    return [o for o in owners if o is not None]


def grouping(sources: list[str], inputs: list[str]) -> np.ndarray:
    """A 0/1 matrix (len(sources), len(inputs)): ``values @ grouping`` sums each input's parts."""
    index = {c: j for j, c in enumerate(inputs)}
    out = np.zeros((len(sources), len(inputs)))
    out[np.arange(len(sources)), [index[s] for s in sources]] = 1.0
    return out
