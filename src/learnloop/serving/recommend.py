"""The recommender's endpoints: ``POST /recommend``, ``/similar`` and ``/audience``.

Bodies are checked by pydantic models that forbid unknown fields; a body that is not
JSON gets a 400 and a bad one a 422, whose ``detail`` holds one problem with a one-line
``message`` (as ``/predict``). A model that is not a recommender answers 404 (and its
OpenAPI document leaves these paths out); an unknown item or a user id of the wrong type
gets a 422. Ranking runs off the event loop, under the app's thread limiter.
"""

# No ``from __future__ import annotations``: pydantic reads the annotations at run time.
from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Request
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
)

from learnloop.serving.body import ClientGone, read_body, require_json
from learnloop.serving.problems import (
    MODEL_REFUSALS,
    RequestProblem,
    client_text,
    problem,
    refuse,
    respond,
)
from learnloop.serving.state import Serving

__all__ = ["BODIES", "MAX_K", "SUMMARIES", "recommend_router"]

MAX_K = 10_000
_MAX_BODY = 1 << 20


def _whole_float(value: Any) -> Any:
    """10.0 as 10: JSON has one kind of number, and JSON Schema calls 10.0 an integer."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Count = Annotated[int, Strict(), Field(ge=1, le=MAX_K), BeforeValidator(_whole_float)]
Id = Annotated[StrictStr | StrictInt, BeforeValidator(_whole_float)]


class RecommendRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: Id
    k: Count = 10
    include_seen: StrictBool = False


class SimilarRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: Id
    k: Count = 10


class AudienceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    item: Id
    k: Count = 100


BODIES: dict[str, type[BaseModel]] = {
    "/recommend": RecommendRequest,
    "/similar": SimilarRequest,
    "/audience": AudienceRequest,
}
SUMMARIES = {
    "/recommend": "A user's top-k items (a recommender only)",
    "/similar": "The items most like an item (a recommender only)",
    "/audience": "The users most likely to want an item (a recommender only)",
}


def _one_line(error: Any) -> dict[str, Any]:
    loc = [str(p) for p in error.get("loc", ()) if not str(p).startswith(("str", "int"))]
    field = client_text(loc[0]) if loc else None
    kind = error.get("type", "")
    if kind == "json_invalid":
        message = f"The body is not valid JSON: {error.get('ctx', {}).get('error', 'malformed')}."
    elif kind == "extra_forbidden":
        message = f"The field '{field}' is not one this endpoint takes."
    elif field in ("user", "item") and kind.endswith("_type"):
        message = (
            f"The field '{field}': the {field} id must be a whole number or text, as in the "
            "training data."
        )
    elif kind == "missing":
        message = f"The field '{field}' is missing."
    elif field is None:
        message = "The body must be a JSON object."
    else:
        message = f"The field '{field}': {error.get('msg', 'is not valid')}."
    return problem(message, column=field)


def _answer(serving: Serving, path: str, request: Any) -> dict[str, Any]:
    from learnloop.tasks.recommendation import recommender_of

    model = serving.model
    assert model is not None
    task = recommender_of(model)
    if path == "/recommend":
        return task.recommend(
            model.pipeline, model.schema, request.user, request.k, request.include_seen
        )
    if path == "/similar":
        return task.similar(model.pipeline, model.schema, request.item, request.k)
    return task.audience(model.pipeline, model.schema, request.item, request.k)


def _endpoint(serving: Serving, path: str, body_model: type[BaseModel]) -> Callable[..., Any]:
    from pydantic import ValidationError

    from learnloop.tasks.recommendation import a_or_an

    async def endpoint(request: Request) -> Any:
        model = serving.model
        if model is None or not serving.ready:
            return respond({"detail": "The model is not loaded yet."}, 503)
        if not serving.recommends:
            message = f"The model is {a_or_an(model.task)} {model.task} model, not a recommender."
            return respond({"detail": [problem(message)]}, 404)
        try:
            require_json(request)
            raw = await read_body(request, _limits(serving))
            parsed = body_model.model_validate_json(raw)
            body = await anyio.to_thread.run_sync(
                _answer, serving, path, parsed, limiter=serving.limiter
            )
        except ValidationError as e:
            error = e.errors(include_url=False)[0]
            status = 400 if error.get("type") == "json_invalid" else 422  # as /predict
            return respond({"detail": [_one_line(error)]}, status)
        except RequestProblem as p:
            return refuse(p)
        except ClientGone:
            return respond({"detail": "The client went away."}, 400)
        except MODEL_REFUSALS as e:
            # an id the model cannot take (the body was valid JSON of the right shape)
            return respond({"detail": [problem(str(e))]}, 422)
        return respond(body)

    return endpoint


def _limits(serving: Serving) -> Any:
    from dataclasses import replace

    return replace(serving.body, max_bytes=min(serving.body.max_bytes, _MAX_BODY))


def recommend_router(serving: Serving) -> APIRouter:
    """The three endpoints (their request bodies are documented by ``serving.openapi``)."""
    router = APIRouter()
    for path, body_model in BODIES.items():
        router.add_api_route(
            path, _endpoint(serving, path, body_model), methods=["POST"], summary=SUMMARIES[path]
        )
    return router
