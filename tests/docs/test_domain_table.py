"""docs/DOMAIN.md's table "rule → module → test" names code that exists: every module and test file is there and
defines the function, class, method or constant the row names."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = ROOT / "docs" / "DOMAIN.md"
NAMED = re.compile(r"`([\w./-]+\.py)::([\w.]+)`")


def table_rows() -> list[tuple[str, list[tuple[str, str]]]]:
    text = DOMAIN.read_text(encoding="utf-8")
    table = text.split("## Rule → module → test", 1)[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    return [(row.split("|")[1].strip(), NAMED.findall(row)) for row in rows]


def defines(path: Path, qualname: str) -> bool:
    """Whether the module at `path` defines `qualname` (a function, class or assigned name; `Class.method`)."""
    scope: list[ast.stmt] = ast.parse(path.read_text(encoding="utf-8")).body
    for part in qualname.split("."):
        found = next((node for node in scope if part in _names(node)), None)
        if found is None:
            return False
        scope = found.body if isinstance(found, ast.ClassDef) else []
    return True


def _names(node: ast.stmt) -> set[str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Assign):
        return {t.id for t in node.targets if isinstance(t, ast.Name)}
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return {node.target.id}
    return set()


def test_every_row_names_a_module_and_a_test_that_exist() -> None:
    rows = table_rows()
    assert len(rows) >= 30, "the table was not found, or lost its rows"
    missing = []
    for rule, named in rows:
        kinds = ["module" if not path.startswith("tests/") else "test" for path, _ in named]
        assert kinds == ["module", "test"], f"{rule!r}: a row names one module then one test, got {named}"
        for path, qualname in named:
            file = ROOT / path
            if not file.is_file() or not defines(file, qualname):
                missing.append(f"{rule}: {path}::{qualname}")
    assert not missing, "docs/DOMAIN.md names what does not exist:\n" + "\n".join(missing)


def test_a_name_that_does_not_exist_is_found_missing() -> None:
    calendar = ROOT / "services" / "calendar.py"
    assert defines(calendar, "WorkingCalendar.start_day")
    assert not defines(calendar, "WorkingCalendar.no_such_method")
    assert not defines(calendar, "no_such_function")
