"""The table of services/policy.py covers every operation of the gateway's OpenAPI document, and
docs/AUTHORISATION.md is rendered from it."""

from __future__ import annotations

import importlib
from typing import Any

from gateway.main import build_app as build_gateway
from gateway.openapi import METHODS, merge

from services import policy
from tests.harness import ROOT

SERVICES = {"catalogue": "catalogue", "dossiers": "intake", "routing": "routing", "payments": "payment",
            "stats": "stats"}


def published_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def test_every_operation_of_the_openapi_document_has_a_row() -> None:
    specs = {family: importlib.import_module(f"{name}.main").build_app().openapi() for family, name in SERVICES.items()}
    document = merge(build_gateway().openapi(), specs, strip_prefix=True, unavailable=[])
    published = published_operations(document)
    rows = {(o.method, o.path) for o in policy.OPERATIONS}
    assert published - rows == set(), "operations without a row in services/policy.py"
    assert rows - published == set(), "rows of services/policy.py for operations that do not exist"
    assert len(rows) == len(policy.OPERATIONS), "an operation has two rows"


def test_rows_match_their_own_paths_and_no_other() -> None:
    for row in policy.OPERATIONS:
        concrete = "/".join("x1" if part.startswith("{") else part for part in row.path.split("/"))
        assert policy.operation(row.method, concrete) == row, row.path


def test_the_document_is_current() -> None:
    committed = (ROOT / "docs" / "AUTHORISATION.md").read_text(encoding="utf-8")
    assert committed == policy.render(), "regenerate: python -m services.policy > docs/AUTHORISATION.md"
