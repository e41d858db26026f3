"""Small scikit-learn-compatible estimators that learnloop's families produce.

They exist so that every model file holds only scikit-learn, LightGBM and these types,
which the artifact loader trusts by name. One module per kind: :mod:`.boosting`,
:mod:`.ensemble`, :mod:`.clustering`, :mod:`.recommendation` (and :mod:`.item_weights`,
EASE's form), :mod:`.pictures`, and :mod:`.common` for what they share. They import only
:mod:`learnloop.exceptions` (and the pictures module :mod:`learnloop.pictures.vision`,
inside the methods that read pictures).

Every class is re-exported here: model files saved before the split name them
``learnloop.estimators.<Class>`` and keep loading; files saved since name the module that
defines them (``learnloop.estimators.boosting.BoosterClassifier``).
"""

from __future__ import annotations

from learnloop.estimators.boosting import ONE_THREAD_ROWS, BoosterClassifier, BoosterRegressor
from learnloop.estimators.clustering import HDBSCANClusterer
from learnloop.estimators.common import PassThrough, ScaledTargetRegressor, full_proba
from learnloop.estimators.ensemble import EnsembleClassifier, EnsembleRegressor, weighted_mean
from learnloop.estimators.item_weights import ItemWeightsRecommender
from learnloop.estimators.pictures import FaceEmbedding, ImageFeatures, OpenSetIdentifier
from learnloop.estimators.recommendation import (
    InteractionEncoder,
    InteractionMatrix,
    Recommender,
    has_leading_zeros,
    id_keys,
    interaction_matrix,
    item_values,
)

__all__ = [
    "ONE_THREAD_ROWS",
    "BoosterClassifier",
    "BoosterRegressor",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "FaceEmbedding",
    "HDBSCANClusterer",
    "ImageFeatures",
    "InteractionEncoder",
    "InteractionMatrix",
    "interaction_matrix",
    "ItemWeightsRecommender",
    "OpenSetIdentifier",
    "PassThrough",
    "Recommender",
    "ScaledTargetRegressor",
    "full_proba",
    "has_leading_zeros",
    "id_keys",
    "item_values",
    "weighted_mean",
]
