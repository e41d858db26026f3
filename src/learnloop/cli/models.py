"""``learnloop models ...``: the versions and aliases of named models in the store.

``list`` (names, or one model's versions), ``register`` (a model file as a new version),
``alias`` (point champion or challenger at a version). Errors: one line, exit 2.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from learnloop.cli._common import json_errors, run_guarded

__all__ = ["models_app"]

models_app = typer.Typer(
    no_args_is_help=True,
    help="Versions of named models and their aliases (champion, challenger) in the store.",
)

StoreOpt = Annotated[
    str | None, typer.Option(help="Experiment store URL or SQLite path ($LEARNLOOP_STORE).")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _registry(url: str | None) -> Any:
    from learnloop.store import open_store
    from learnloop.store.versions import Registry

    return run_guarded(lambda: Registry(open_store(url)))


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}" if isinstance(x, float) else str(x)


@models_app.command("list")
def list_models(
    name: Annotated[str | None, typer.Argument(help="A model's name: list its versions.")] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The named models (or NAME's versions, newest first, with their aliases)."""
    json_errors(json_out)
    registry = _registry(store)
    if name is None:
        names = run_guarded(registry.names)
        if json_out:
            typer.echo(json.dumps({"models": [{"name": n} for n in names]}))
        else:
            typer.echo("\n".join(names) if names else "No registered models.")
        return
    versions = run_guarded(registry.versions, name)
    if json_out:
        typer.echo(json.dumps({"name": name, "versions": versions}, default=str))
        return
    for v in versions:
        cert = v.get("certificate") or {}
        aliases = f" [{', '.join(v['aliases'])}]" if v["aliases"] else ""
        typer.echo(
            f"v{v['version']}{aliases}  {v['status']}  {v['metric']} bound "
            f"{_fmt(cert.get('test_bound'))} (threshold {_fmt(v['threshold'])})  "
            f"parent {_fmt(v['parent'])}  {v['created']}  {v['path']}"
        )


@models_app.command("register")
def register(
    model: Annotated[str, typer.Argument(help="Model file written by `learnloop train`.")],
    name: Annotated[
        str | None, typer.Option(help="The model's name (default: the file's stem).")
    ] = None,
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Register MODEL (checked: it must load) as a new version; the first certified one
    becomes champion."""
    json_errors(json_out)
    from learnloop.core.files import model_file

    registry = _registry(store)
    run_guarded(model_file, model)  # a wrong path fails before the heavy imports below
    from learnloop.runs.retrain import register_model

    chosen, version = run_guarded(register_model, registry, model, name=name)
    champion = run_guarded(registry.alias, chosen, "champion")
    out = {"name": chosen, "version": version, "champion": champion}
    typer.echo(json.dumps(out) if json_out else f"{chosen} v{version} (champion: v{champion})")


@models_app.command("alias")
def alias(
    name: Annotated[str, typer.Argument(help="The model's name.")],
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS", help="champion or challenger.")],
    version: Annotated[int, typer.Argument(help="The version it is to name.")],
    store: StoreOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Point ALIAS of NAME at VERSION (a server following the champion swaps to it)."""
    json_errors(json_out)
    registry = _registry(store)
    before = run_guarded(registry.set_alias, name, alias_name, version)
    out = {"name": name, "alias": alias_name, "version": version, "previous": before}
    typer.echo(
        json.dumps(out) if json_out else f"{name} {alias_name}: v{_fmt(before)} -> v{version}"
    )
