"""Free text: telling a column of sentences from identifiers, codes and categories.

A column of reviews, descriptions or posts holds a different value in most rows, like an
identifier, and strings, like a category; neither reading serves it. It is *text* when

- it has more distinct values than one-hot encoding keeps (``TEXT_MIN_DISTINCT``), so it is
  no low-cardinality category ("New York City" repeated is a category),
- its typical row holds several words (``TEXT_MIN_WORDS``, split at white space), so it is
  no code or identifier (``B000J0LSBG``, a UUID, an e-mail address hold none), and
- its typical row is long-ish (``TEXT_MIN_CHARS``), so a two-word name or a short
  address stays what it was.

The typical row is the median of a seeded sample of rows, so a few long notes in a column
of codes do not make it text. How text becomes numbers is the preprocessing's business
(``data/features.py`` with ``estimators/text.py``); here a column is only recognised, and
typed the same way at training and at prediction (:func:`to_free_text`).
"""

from __future__ import annotations

import pandas as pd

__all__ = ["TEXT_DTYPE", "looks_like_free_text", "to_free_text"]

TEXT_MIN_DISTINCT = 30  # more distinct values than a one-hot encoding keeps
TEXT_MIN_WORDS = 3
TEXT_MIN_CHARS = 20
_SAMPLE_ROWS = 2000

# prepared text columns carry pandas' nullable string type; categories are plain objects:
# the preprocessing tells the two apart by it (``data.features``)
TEXT_DTYPE = pd.StringDtype("python")


def looks_like_free_text(text: pd.Series, nunique: int) -> bool:
    """Whether the non-missing values ``text`` (as strings; ``nunique`` distinct) are free
    text by the rules in this module's docstring."""
    if nunique <= TEXT_MIN_DISTINCT:
        return False
    sample = text.sample(min(len(text), _SAMPLE_ROWS), random_state=0) if len(text) else text
    words = sample.str.split().str.len()
    return bool(words.median() >= TEXT_MIN_WORDS and sample.str.len().median() >= TEXT_MIN_CHARS)


def to_free_text(col: pd.Series) -> pd.Series:
    """The column as text of :data:`TEXT_DTYPE`; a missing value is the empty text (no
    words), at training and at prediction alike."""
    text = col.astype(object).where(col.notna(), "")
    return text.astype(str).astype(TEXT_DTYPE).rename(col.name)
