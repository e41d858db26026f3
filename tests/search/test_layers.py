"""The search package is one layer: it imports nothing above it and has no import circle.

Read from the code's own imports (grimp, import-linter's graph), type-checking imports left
out: the search may import the layers below it (families, tasks, metrics, certify, data,
estimators, pictures, core, exceptions), never the runs, the store, the server, the report or
the command line. (import-linter's layers contract says the same for every layer; this test
also finds circles inside the search package.)
"""

from __future__ import annotations

import pytest

grimp = pytest.importorskip("grimp")

ABOVE = ("runs", "store", "serving", "report", "cli")


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("learnloop", exclude_type_checking_imports=True)


def _search_modules(graph) -> list[str]:
    return sorted(m for m in graph.modules if m.startswith("learnloop.search"))


def test_the_search_imports_nothing_above_it(graph) -> None:
    upward = [
        (module, imported)
        for module in _search_modules(graph)
        for imported in graph.find_modules_directly_imported_by(module)
        if imported == "learnloop" or imported.split(".")[1] in ABOVE
    ]
    assert upward == []


def test_the_search_has_no_import_circle(graph) -> None:
    modules = _search_modules(graph)
    circles = [
        (a, b)
        for a in modules
        for b in graph.find_modules_directly_imported_by(a)
        if b in modules and graph.chain_exists(importer=b, imported=a)
    ]
    assert circles == []
