"""HTTP prediction service: a model file becomes a FastAPI app served by uvicorn.

Endpoints:

- ``POST /predict``  ``{"records": [{col: value}, ...]}`` or MLflow's
  ``{"dataframe_split": {"columns": [...], "data": [[...]]}}`` (``rows``); pictures as
  ``multipart/form-data`` for a picture model (``uploads``). Answers
  ``{"predictions": [...]}`` (plus ``classes`` and ``probabilities`` for classifiers).
- ``POST /recommend``, ``/similar``, ``/audience`` on a recommender (``recommend``).
- ``GET /health`` (alive), ``GET /ready`` (model loaded), ``GET /metadata``, ``GET /docs``.
- ``POST /admin/reload``, ``GET /admin/model``: swap the served model without dropping a
  request (``swap``); every answer's ``X-Model-Version`` header names the version answering.
- The protocols other tools speak (``protocols``): MLflow's ``POST /invocations``
  (``invocations``), the Open Inference Protocol ``/v2/...`` (``kserve``, ``tensors``), Prometheus'
  ``GET /metrics`` (``metrics``), all checking rows as ``/predict`` does (``answers``).

With a token every path except the probes (``auth.OPEN_PATHS``) needs
``Authorization: Bearer``. On SIGTERM the server drains and exits 0 (``shutdown``).
The modules, from the bottom: ``problems`` (how a refusal is written), ``rows``,
``compiled`` (the fast path built at load time, falling back to ``rows``), ``body``
(reading under bounds), ``auth``, ``state``, ``swap``, ``recording``; the routers ``probes``,
``predict``, ``recommend`` (with ``uploads``), ``feedback``, ``monitor``, ``admin``;
``openapi``; ``app`` (the routers put together); ``runner`` (uvicorn). FastAPI, uvicorn and
pydantic come from the ``serve`` extra and are imported only when an app is built.
"""

from learnloop.serving.app import DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ROWS, create_app
from learnloop.serving.auth import read_token
from learnloop.serving.body import BodyLimits
from learnloop.serving.deps import require_serve_extra
from learnloop.serving.problems import RequestProblem
from learnloop.serving.rows import RowValidator, answer_body, predict_rows
from learnloop.serving.runner import app_from_env, run_server

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_ROWS",
    "BodyLimits",
    "RequestProblem",
    "RowValidator",
    "answer_body",
    "app_from_env",
    "create_app",
    "predict_rows",
    "read_token",
    "require_serve_extra",
    "run_server",
]
