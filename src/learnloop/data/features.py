"""Preprocessing pipelines: the two ways candidates want their features encoded.

``tree`` keeps numbers as they are (missing values stay NaN for the trees to route) and
codes categories as integers; ``dense`` imputes, adds missing-value indicators, scales
numbers and one-hot encodes categories, for linear models, k-NN and neural networks;
``cluster`` is the space clusters are found and scored in: numbers median-imputed and
standardized, categories one-hot (0/1), and no missing-value indicators (a rare indicator
scaled to unit variance would sit far from every row and be "found" as a cluster).

Free text (columns of pandas' string dtype, ``freetext.TEXT_DTYPE``) is encoded alike in
every kind, after the numbers and categories (so the category positions the trees are told
about stay put): TF-IDF of character n-grams reduced by an SVD (``estimators/text.py``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from learnloop.estimators.text import text_encoder

__all__ = ["build_preprocessor", "categorical_indices"]

MAX_ONE_HOT_CATEGORIES = 30


def _split_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The numeric and the categorical columns (free text is neither: :func:`_text_columns`)."""
    text = set(_text_columns(frame))
    categorical = [c for c in frame.columns if frame[c].dtype == object]
    numeric = [c for c in frame.columns if c not in set(categorical) | text]
    return numeric, categorical


def _text_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if isinstance(frame[c].dtype, pd.StringDtype)]


def _text_steps(frame: pd.DataFrame) -> list[tuple[str, Any, Any]]:
    """One encoder per free-text column, given the column itself (a Series), last."""
    return [(f"text{i}", text_encoder(), c) for i, c in enumerate(_text_columns(frame))]


def _one_hot() -> Pipeline:
    """Categories one-hot (0/1), a missing value as a category of its own, rare ones pooled."""
    return make_pipeline(
        SimpleImputer(strategy="constant", fill_value="__missing__"),
        OneHotEncoder(
            handle_unknown="infrequent_if_exist",
            max_categories=MAX_ONE_HOT_CATEGORIES,
            sparse_output=False,
            dtype=np.float64,
        ),
    )


def build_preprocessor(kind: str, frame: pd.DataFrame) -> Any:
    """An unfitted preprocessor of the given ``kind`` (tree, dense, cluster, interactions).

    ``interactions`` (recommendation) is an :class:`~learnloop.estimators.InteractionEncoder`:
    training interactions in, a user-item matrix out; users in, their row indices out.
    """
    if kind == "interactions":
        from learnloop.estimators import InteractionEncoder

        return InteractionEncoder()
    numeric, categorical = _split_columns(frame)
    if kind == "tree":
        steps = [
            ("num", "passthrough", numeric),
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    dtype=np.float64,
                ),
                categorical,
            ),
        ]
    elif kind == "dense":
        steps = [
            (
                "num",
                make_pipeline(
                    SimpleImputer(strategy="median", add_indicator=True), StandardScaler()
                ),
                numeric,
            ),
            ("cat", _one_hot(), categorical),
        ]
    elif kind == "cluster":
        steps = [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", _one_hot(), categorical),
        ]
    else:
        raise ValueError(f"Unknown preprocessing kind {kind!r}.")
    steps = [s for s in steps if s[2]]
    steps += _text_steps(frame)
    return ColumnTransformer(steps, sparse_threshold=0.0, verbose_feature_names_out=False)


def categorical_indices(kind: str, frame: pd.DataFrame) -> list[int]:
    """Positions of the categorical columns in a fitted ``tree`` preprocessor's output."""
    if kind != "tree":
        return []
    numeric, categorical = _split_columns(frame)
    return list(range(len(numeric), len(numeric) + len(categorical)))
