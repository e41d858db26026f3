"""The MLflow pyfunc of a learnloop model, logged as code ("models from code").

MLflow runs this file when it loads the model (``mlflow.pyfunc.load_model``, ``mlflow
models serve``); learnloop never imports it. Logged as code, nothing is pickled: the model
itself is the skops file among the artifacts, loaded by learnloop's checked loader (trusted
types, seal, signature where ``LEARNLOOP_MODEL_KEY`` is set).
"""

from __future__ import annotations

from typing import Any

import mlflow
from mlflow.pyfunc import PythonModel


class LearnloopModel(PythonModel):
    """``predict`` is :meth:`learnloop.store.model_files.LoadedModel.predict`."""

    def load_context(self, context: Any) -> None:
        from learnloop.store.model_files import load_model

        self.model = load_model(context.artifacts["model"])

    # no type hints: MLflow reads them as the input schema, and the signature is logged
    def predict(self, context, model_input, params=None):
        """One row per input row: ``prediction`` and ``proba_<class>`` columns."""
        return self.model.predict(model_input)


mlflow.models.set_model(LearnloopModel())
