"""The domain stays pure: no database, web framework, session, bus or log inside it."""

from __future__ import annotations

import ast
from pathlib import Path

import routing.domain

DOMAIN = Path(routing.domain.__file__).parent
#: what the rules may build on besides the standard library and each other
ALLOWED = ("routing.domain", "services.contracts", "services.calendar", "services.clock", "services.errors",
           "services.identity", "services.events", "services.policy")  # fmt: skip
STANDARD = ("__future__", "collections", "dataclasses", "datetime", "typing", "enum", "functools", "itertools")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_domain_imports_only_the_contracts_calendar_errors_and_identity() -> None:
    modules = sorted(DOMAIN.glob("*.py"))
    assert {p.stem for p in modules} >= {"model", "rules", "access", "status", "sla"}
    for path in modules:
        for name in imports(path):
            assert name.startswith(ALLOWED) or name.split(".")[0] in STANDARD, f"{path.name} imports {name}"
