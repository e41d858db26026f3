"""Free text as numbers: skrub's ``StringEncoder``, one per text column.

A column of reviews or posts becomes ``TEXT_COMPONENTS`` numbers per row: TF-IDF weights
of the character 3- and 4-grams inside words (robust to typos, inflections and words the
training rows never held), reduced by a truncated SVD (latent semantic analysis). Every
family reads those numbers like any other: trees split on them, linear models weigh them.
skrub is the library (scikit-learn's own TF-IDF and SVD underneath, both trusted in model
files); it is imported only where a table holds text.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TEXT_COMPONENTS", "text_encoder"]

TEXT_COMPONENTS = 30  # skrub's default: enough for a topic and tone, cheap to fit


def text_encoder() -> Any:
    """An unfitted encoder of one text column (a pandas Series of strings; missing values
    encode as zeros), seeded so the same rows encode the same way in every process."""
    from learnloop.core.extras import require

    skrub = require("skrub", "text", "Free-text columns")
    return skrub.StringEncoder(
        n_components=TEXT_COMPONENTS, analyzer="char_wb", ngram_range=(3, 4), random_state=0
    )
