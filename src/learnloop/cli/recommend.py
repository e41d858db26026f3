"""``learnloop recommend``: a recommender's three decisions, one at a time.

``--user U`` ranks items for a user (items they already had are left out unless
``--include-seen``; an unknown user gets the popular items, and is told so),
``--similar-to ITEM`` lists the items most like one item, and ``--audience ITEM`` the users
most likely to want it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from learnloop.cli._common import fail, json_errors, run_guarded

__all__ = ["recommend"]


def recommend(
    model: Annotated[str, typer.Argument(help="A recommender written by `learnloop train`.")],
    user: Annotated[str | None, typer.Option(help="Rank items for this user.")] = None,
    similar_to: Annotated[
        str | None, typer.Option("--similar-to", help="List the items most like this item.")
    ] = None,
    audience: Annotated[
        str | None, typer.Option(help="List the users most likely to want this item.")
    ] = None,
    k: Annotated[
        int | None,
        typer.Option("-k", "--k", help="How many items or users (default 10; audience 100)."),
    ] = None,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Keep items the user already had.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recommend items for a user, items like an item, or the audience for an item."""
    json_errors(json_out)
    from learnloop.store.model_files import load_model
    from learnloop.tasks.recommendation import recommender_of

    modes = [m for m in (user, similar_to, audience) if m is not None]
    if len(modes) != 1:
        fail("Give exactly one of --user, --similar-to or --audience.")
    if k is not None and k < 1:
        fail(f"-k must be a positive whole number; got {k}.")
    loaded = run_guarded(load_model, model)
    task = run_guarded(recommender_of, loaded)
    pipeline, schema = loaded.pipeline, loaded.schema
    if user is not None:
        body = run_guarded(task.recommend, pipeline, schema, user, k or 10, include_seen)
    elif similar_to is not None:
        body = run_guarded(task.similar, pipeline, schema, similar_to, k or 10)
    else:
        body = run_guarded(task.audience, pipeline, schema, audience, k or 100)
    if json_out:
        typer.echo(json.dumps(body))
        return
    _print(body)


def _print(body: dict[str, Any]) -> None:
    if "note" in body:
        typer.echo(body["note"])
    if "users" in body:
        typer.echo(f"Users most likely to want item {body['item']}:")
        rows = body["users"]
    elif "user" in body:
        typer.echo(f"Recommended for user {body['user']}:")
        rows = body["items"]
    else:
        typer.echo(f"Items like item {body['item']}:")
        rows = body["items"]
    for rank, (value, score) in enumerate(zip(rows, body["scores"], strict=True), start=1):
        typer.echo(f"{rank:>4}. {value}  ({score:.4g})")
