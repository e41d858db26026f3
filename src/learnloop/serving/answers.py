"""What the other protocols (MLflow's ``/invocations``, the Open Inference Protocol) share
with ``/predict``: rows checked by the same :class:`RowValidator`, then answered.

Each protocol turns its body into a list of row objects; :func:`answer_rows` checks their
number, validates them against the training schema (the same 422 naming row and column as
``/predict``) and asks the model. :func:`run_checked` is the request's one trip to a worker
thread with the refusals every endpoint writes alike. The answer's predictions are left in
the request's scope (``PREDICTIONS``) for the metrics middleware, so it need not parse the
response.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pandas as pd

from learnloop.serving.problems import MODEL_REFUSALS, RequestProblem, problem
from learnloop.serving.rows import RowValidator
from learnloop.serving.state import Serving
from learnloop.store.model_files import LoadedModel
from learnloop.tasks import Answer

__all__ = ["PREDICTIONS", "answer_rows", "check_table_model", "json_payload", "run_checked"]

PREDICTIONS = "learnloop.predictions"  # scope key: the predictions a request was answered
_log = logging.getLogger("learnloop.serve")


def json_payload(body: bytes) -> Any:
    """The body parsed as JSON (as ``/predict`` parses it), or RequestProblem(400)."""
    import pydantic_core

    try:
        return pydantic_core.from_json(body, allow_inf_nan=True)
    except ValueError as e:
        raise RequestProblem(400, [problem(f"The body is not valid JSON: {e}")]) from None


def answer_rows(
    validator: RowValidator, model: LoadedModel, rows: list[Any]
) -> tuple[Answer, pd.DataFrame]:
    """The model's answer on ``rows`` (JSON objects, one per row) and the checked frame it
    was given; RequestProblem (413, 422) names what is wrong, as on ``/predict``."""
    validator._check_size(len(rows))
    frame = validator.frame(validator.validate(rows))
    return model.answer(frame), frame


def check_table_model(serving: Serving, protocol: str) -> None:
    """RequestProblem(422) unless the model answers rows of a table (not pictures, not a
    recommender's users)."""
    if serving.takes_pictures:
        raise RequestProblem.one(
            422, f"This model takes pictures, which {protocol} cannot carry; use POST /predict."
        )
    if serving.recommends:
        raise RequestProblem.one(
            422, f"A recommender answers POST /recommend, /similar and /audience, not {protocol}."
        )


async def run_checked(serving: Serving, work: Callable[[], Any]) -> Any:
    """``work()`` in a worker thread under the app's limiter; a refusal it raises comes
    back as a RequestProblem, a value the model cannot take as a 422 (never a 500)."""
    import anyio

    try:
        return await anyio.to_thread.run_sync(work, limiter=serving.limiter)
    except RequestProblem:
        raise
    except MODEL_REFUSALS as e:
        # Rows passed validation, so this is data the model cannot take; say so.
        _log.warning("prediction refused: %s: %s", type(e).__name__, e)
        raise RequestProblem(422, [problem(f"The model cannot predict: {e}")]) from None
