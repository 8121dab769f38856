"""Each README lists the settings its code reads: every field of a service's Settings class is named in the
service's README, every variable a README names with the service's prefix (or in its settings section) is a field,
and the kernel's settings (services/settings.py, and services/documents/settings.py's) are the root README's
configuration table."""

from __future__ import annotations

import importlib
import re
import sys

import pytest

from services.documents.settings import DocumentSettings
from services.settings import ServiceSettings
from tests.harness import ROOT

SERVICES = {
    "catalogue": "catalogue-svc",
    "intake": "intake-svc",
    "routing": "routing-svc",
    "payment": "payment-svc",
    "stats": "stats-svc",
    "connect": "connect-svc",
    "gateway": "gateway",
}
_VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]*[A-Z0-9])`")
_KERNEL = set(ServiceSettings.model_fields)
#: The electronic documents' settings (MOTCUA_DOCUMENTS_*), in the same table.
_DOCUMENTS = {f"documents_{name}" for name in DocumentSettings.model_fields}


def _section(text: str, heading: str) -> str:
    found = re.search(rf"^## {heading}\b[^\n]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert found, f"no '## {heading}' section"
    return found.group(1)


def _settings_class(package: str, folder: str) -> type[ServiceSettings]:
    path = str(ROOT / folder)
    if path not in sys.path:
        sys.path.insert(0, path)
    settings_class: type[ServiceSettings] = importlib.import_module(f"{package}.settings").Settings
    return settings_class


@pytest.mark.parametrize("package", SERVICES)
def test_a_service_readme_lists_exactly_the_settings_its_code_reads(package: str) -> None:
    folder = SERVICES[package]
    settings = _settings_class(package, folder)
    prefix = str(settings.model_config.get("env_prefix"))
    readme = (ROOT / folder / "README.md").read_text(encoding="utf-8")
    heading = "Settings" if re.search(r"^## Settings\b", readme, re.M) else "Configuration"

    def field(variable: str) -> str:
        return variable.removeprefix(prefix).removeprefix("MOTCUA_").lower()

    named = {field(v) for v in _VARIABLE.findall(readme)}
    unlisted = sorted(set(settings.model_fields) - _KERNEL - named)
    assert not unlisted, f"{folder}/README.md does not list {[prefix + name.upper() for name in unlisted]}"

    listed = {v for v in _VARIABLE.findall(_section(readme, heading)) if v not in (prefix[:-1], "MOTCUA")}
    listed |= {v for v in _VARIABLE.findall(readme) if v.startswith(prefix)}
    unknown = sorted(v for v in listed if field(v) not in settings.model_fields)
    assert not unknown, f"{folder}/README.md lists {unknown}, which {package}/settings.py does not read"


def test_the_root_readme_lists_exactly_the_kernel_settings() -> None:
    table = _section((ROOT / "README.md").read_text(encoding="utf-8"), "Configuration")
    rows = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    listed = {v.lower() for row in rows for v in _VARIABLE.findall(row)}
    read = _KERNEL | _DOCUMENTS
    assert not sorted(read - listed), f"README.md's configuration table lacks {sorted(read - listed)}"
    assert not sorted(listed - read), f"README.md's configuration table lists {sorted(listed - read)}"
