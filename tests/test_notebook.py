"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient, ipykernel).

The kernel is this interpreter: a kernelspec written to a temporary folder (first on
``JUPYTER_PATH``) runs ``sys.executable -m ipykernel_launcher``, so the notebook imports the
learnloop under test, whatever kernels the machine has. The notebook writes its model file
and store in a temporary folder (its working directory).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")  # the notebook shows the report

NOTEBOOK = Path(__file__).parent.parent / "examples" / "quickstart.ipynb"
KERNEL = "learnloop-test"


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "learnloop test", "language": "python"})
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    src = str(Path(__file__).parent.parent / "src")  # the code under test, in the kernel too
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    return KERNEL


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return str(output.get("text", ""))
    data = output.get("data", {})
    return str(data.get("text/html", "")) + str(data.get("text/plain", ""))


def test_quickstart_notebook_runs_in_a_kernel(kernel: str, tmp_path: Path) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    work = tmp_path / "work"
    work.mkdir()
    client = nbclient.NotebookClient(
        nb, kernel_name=kernel, timeout=300, resources={"metadata": {"path": str(work)}}
    )
    client.execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert errors == [], [f"{e['ename']}: {e['evalue']}" for e in errors]
    shown = "\n".join(_text(o) for o in outputs)
    # the result's HTML: its verdict and certificate, read from the run the kernel made
    assert "Met: accuracy at least 0.9 asked; the test bound is" in shown
    assert "learnloop-certificate" in shown
    # the progress block, in its last state (updated in place, not printed line by line)
    progress = [o for o in outputs if "learnloop-progress" in _text(o)]
    assert len(progress) == 1
    assert "done in" in _text(progress[0]) and "test look 1" in _text(progress[0])
    # cross_val_score's three scores, the certificate of the pipeline's fitted estimator
    assert "array([" in shown and "(True, " in shown
    # the report inline, its page escaped inside the iframe's srcdoc
    assert "<iframe" in shown and "srcdoc=" in shown and "learnloop report: run" in shown
    assert (work / "quickstart-model.skops").is_file()
