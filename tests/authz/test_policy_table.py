"""The table of services/policy.py covers every operation of the gateway's OpenAPI document, the services'
`require(...)` dependencies let through the roles of its rows, and docs/AUTHORISATION.md is rendered from it."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi.routing import APIRoute
from gateway.main import build_app as build_gateway
from gateway.openapi import METHODS, merge

from services import policy
from services.identity import Role
from services.policy import Caller
from tests.harness import ROOT

SERVICES = {"catalogue": "catalogue", "dossiers": "intake", "routing": "routing", "payments": "payment",
            "stats": "stats", "deliveries": "connect"}


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


def _required_roles(dependant: Any) -> set[frozenset[Role]]:
    """The role sets of every `require(...)` among an endpoint's dependencies, nested ones included."""
    found = set()
    for dep in dependant.dependencies:
        roles = getattr(dep.call, "roles", None)
        if roles is not None:
            found.add(roles)
        found |= _required_roles(dep)
    return found


def _api_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, APIRoute]]:
    """(path prefix, route) of every public endpoint, through included routers."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            if route.include_in_schema:
                found.append((prefix, route))
        elif hasattr(route, "original_router"):  # FastAPI's included router
            found += _api_routes(route.original_router.routes, prefix + route.include_context.prefix)
    return found


def test_the_services_require_what_the_table_grants() -> None:
    rows = {(o.method, o.path): o for o in policy.OPERATIONS}
    checked = 0
    for family, name in SERVICES.items():
        app = importlib.import_module(f"{name}.main").build_app()
        for prefix, route in _api_routes(app.routes):
            for roles in _required_roles(route.dependant):
                for method in route.methods:
                    path = f"{prefix}{route.path}" if f"{prefix}{route.path}" != "/" else ""  # as the gateway maps it
                    row = rows[(method, f"/api/v1/{family}{path}")]
                    granted = {Role.PORTAL if c in (Caller.PORTAL, Caller.CITIZEN) else Role(c.value)
                               for c in row.grants}
                    assert set(roles) == granted, (method, route.path, sorted(roles), sorted(granted))
                    checked += 1
    assert checked >= 10, "the walk found no require(...) dependency"
