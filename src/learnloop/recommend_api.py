"""The recommender's HTTP endpoints: ``POST /recommend``, ``/similar`` and ``/audience``.

Bodies are checked by pydantic models that forbid unknown fields; a body that is not JSON
gets a 400 and a bad one a 422, whose ``detail`` holds one problem with a one-line
``message`` (as ``/predict``). A model that is not a recommender answers 404, an unknown
item or a user id of the wrong type 422. Ranking runs off the event loop, under the app's
thread limiter.
"""

# No ``from __future__ import annotations``: pydantic reads the annotations at run time.
from collections.abc import Callable
from typing import Annotated, Any

from learnloop.exceptions import LearnloopError

__all__ = ["add_recommend_routes", "MAX_K"]

MAX_K = 10_000


def _models() -> dict[str, Any]:
    from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

    Count = Annotated[StrictInt, Field(ge=1, le=MAX_K)]

    class RecommendRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        user: StrictStr | StrictInt
        k: Count = 10
        include_seen: StrictBool = False

    class SimilarRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        item: StrictStr | StrictInt
        k: Count = 10

    class AudienceRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        item: StrictStr | StrictInt
        k: Count = 100

    return {
        "/recommend": RecommendRequest,
        "/similar": SimilarRequest,
        "/audience": AudienceRequest,
    }


def _one_line(error: Any) -> dict[str, Any]:
    loc = [str(p) for p in error.get("loc", ()) if not str(p).startswith(("str", "int"))]
    field = loc[0] if loc else None
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
    return {"row": None, "column": field, "message": message}


def _answer(state: dict[str, Any], path: str, request: Any) -> dict[str, Any]:
    from learnloop.tasks.recommendation import recommender_of

    model = state["model"]
    task = recommender_of(model)
    if path == "/recommend":
        return task.recommend(
            model.pipeline, model.schema, request.user, request.k, request.include_seen
        )
    if path == "/similar":
        return task.similar(model.pipeline, model.schema, request.item, request.k)
    return task.audience(model.pipeline, model.schema, request.item, request.k)


def add_recommend_routes(
    app: Any, state: dict[str, Any], respond: Callable[..., Any], read_body: Callable[..., Any]
) -> None:
    """Add the three endpoints to ``app`` (``state`` holds the loaded model and limiter)."""
    import anyio
    from fastapi import Request
    from pydantic import ValidationError

    from learnloop.tasks.recommendation import Recommendation, a_or_an

    summaries = {
        "/recommend": "A user's top-k items (a recommender only)",
        "/similar": "The items most like an item (a recommender only)",
        "/audience": "The users most likely to want an item (a recommender only)",
    }

    def make(path: str, body_model: Any) -> Callable[..., Any]:
        async def endpoint(request: Request) -> Any:
            model = state.get("model")
            if model is None or state.get("validator") is None:
                return respond({"detail": "The model is not loaded yet."}, 503)
            if not isinstance(model.task_kind, Recommendation):
                message = (
                    f"The model is {a_or_an(model.task)} {model.task} model, not a recommender."
                )
                return respond({"detail": [{"row": None, "column": None, "message": message}]}, 404)
            try:
                raw = await read_body(request, 1 << 20)
                parsed = body_model.model_validate_json(raw)
                body = await anyio.to_thread.run_sync(
                    _answer, state, path, parsed, limiter=state["limiter"]
                )
            except ValidationError as e:
                error = e.errors(include_url=False)[0]
                status = 400 if error.get("type") == "json_invalid" else 422  # as /predict
                return respond({"detail": [_one_line(error)]}, status)
            except LearnloopError as e:
                problem = {"row": None, "column": None, "message": str(e)}
                return respond({"detail": [problem]}, 422)
            except Exception as e:  # the read_body's RequestProblem (413) and the like
                status = getattr(e, "status", 500)
                errors = getattr(e, "errors", [{"row": None, "column": None, "message": str(e)}])
                return respond({"detail": errors}, status)
            return respond(body)

        return endpoint

    for path, body_model in _models().items():
        app.add_api_route(
            path,
            make(path, body_model),
            methods=["POST"],
            summary=summaries[path],
            openapi_extra={
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": body_model.model_json_schema()}},
                }
            },
        )
