"""scikit-learn estimators whose ``fit`` is a learnloop run: ``Classifier``, ``Regressor``,
``Clusterer``.

They take the run's settings (metric, threshold, budget, confidence, seed, candidates,
store) as keyword parameters, fit inside a ``Pipeline``, ``cross_val_score`` or a grid
search, and carry the run's certificate once fitted (``certificate_``, ``run_id_``,
``result_``). Runs go to a temporary store unless ``store=`` names one; no model file is
written (see :mod:`learnloop.sklearn._inputs`)."""

from learnloop.sklearn._base import LearnloopEstimator
from learnloop.sklearn._estimators import Classifier, Clusterer, Regressor

__all__ = ["Classifier", "Regressor", "Clusterer", "LearnloopEstimator"]
