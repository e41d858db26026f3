"""Explanations of a saved model: per-row contributions of each input column (exact for
LightGBM, sampled Shapley values otherwise) and global permutation importance with an
interval. ``learnloop explain`` and ``LoadedModel.explain`` call :func:`explain`; the report
draws its importance with :func:`permutation_importance`.
"""

from learnloop.explanations._columns import input_of_encoded, input_of_prepared
from learnloop.explanations._explanation import (
    EXACT,
    SAMPLED,
    Explanation,
    check_explainable,
    explain,
)
from learnloop.explanations._importance import Importance, permutation_importance
from learnloop.explanations._shapley import sampled_contributions

__all__ = [
    "EXACT",
    "SAMPLED",
    "Explanation",
    "Importance",
    "check_explainable",
    "explain",
    "input_of_encoded",
    "input_of_prepared",
    "permutation_importance",
    "sampled_contributions",
]
