"""``learnloop export MODEL --onnx FILE``: a model file in a format other tools run.

Heavy imports stay inside the command, so ``learnloop --help`` does not pay for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from learnloop.cli._common import fail, json_errors, run_guarded

__all__ = ["export"]


def export(
    model: Annotated[Path, typer.Argument(help="The learnloop model file.")],
    onnx: Annotated[
        Path | None, typer.Option("--onnx", help="Write the model as ONNX to this file.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object at the end.")
    ] = False,
) -> None:
    """Export a model file as ONNX (preprocessing and certificate included).

    --onnx FILE writes the whole pipeline as one ONNX graph, the certificate in its
    metadata; exit 2 for a family no converter covers, with nothing written."""
    json_errors(as_json)
    if onnx is None:
        fail("Say what to export to: --onnx FILE.")

    def run() -> dict[str, object]:
        from learnloop.store.model_files import load_model
        from learnloop.store.onnx_export import export_onnx

        assert onnx is not None
        return export_onnx(load_model(model), onnx)

    written = run_guarded(run)
    if as_json:
        typer.echo(json.dumps(written))
    else:
        typer.echo(f"wrote {written['onnx_path']}", err=True)
