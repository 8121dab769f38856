"""The domain imports no database, web framework or broker: only the standard library, the contracts, the errors,
the identity types, the calendar and the pure provider protocol."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import payment.domain

ALLOWED = ("payment.domain", "payment.providers", "services.contracts", "services.errors", "services.identity",
           "services.events", "services.clock")  # fmt: skip


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_the_domain_imports_only_pure_modules() -> None:
    folder = Path(payment.domain.__file__).parent
    modules = sorted(folder.glob("*.py"))
    assert len(modules) >= 8
    for module in modules:
        for name in imports(module):
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "__future__" or name.startswith(ALLOWED), (module, name)
