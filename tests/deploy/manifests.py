"""What the deployment checks read: the services as the code defines them, and the Dockerfiles, Compose file and
Kubernetes manifests as written in the repository."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from services.settings import SHARED_ENV_PREFIX, ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "deploy" / "compose.yaml"
K8S_DIR = ROOT / "deploy" / "k8s"

#: Variables the containers may set that are not settings of ours: uvicorn's trusted proxies, and the list of
#: consumer groups that `python -m services.topics` creates dead-letter topics for.
NON_SETTINGS_ENV = {"FORWARDED_ALLOW_IPS", "MOTCUA_CONSUMER_GROUPS"}


@dataclass(frozen=True)
class Service:
    directory: str  # "catalogue-svc", "gateway": the folder, the image name and the Kubernetes name
    package: str  # "catalogue": the Python package inside the folder

    @property
    def image(self) -> str:
        return f"motcua/{self.directory}"

    @property
    def settings_class(self) -> type[ServiceSettings]:
        cls: type[ServiceSettings] = importlib.import_module(f"{self.package}.settings").Settings
        return cls

    @property
    def env_prefix(self) -> str:
        return str(self.settings_class.model_config["env_prefix"])

    def secret_env_names(self) -> list[set[str]]:
        """For each secret setting with a development default (refused outside development mode): the variables
        that set it (its own prefix, the shared one)."""
        fields = self.settings_class(dev_mode=True).development_secrets()
        return [{f"{prefix}{name.upper()}" for prefix in (self.env_prefix, SHARED_ENV_PREFIX)} for name in fields]

    def env_names(self) -> set[str]:
        """Every environment variable this service's settings read: its own prefix, then the shared one."""
        fields = [name.upper() for name in self.settings_class.model_fields]
        return {f"{prefix}{name}" for name in fields for prefix in (self.env_prefix, SHARED_ENV_PREFIX)}

    def subscriptions(self) -> list[Any]:
        """Its consumer groups as the code defines them: names before the deployment's prefix, topics under it."""
        try:
            consumers = importlib.import_module(f"{self.package}.consumers")
        except ModuleNotFoundError:
            return []
        return list(consumers.subscriptions(self.settings_class()))

    def consumer_groups(self) -> list[str]:
        return [sub.name for sub in self.subscriptions()]


def services() -> list[Service]:
    """Each top-level folder with its own Alembic history is a deployable service."""
    found = []
    for ini in sorted(ROOT.glob("*/alembic.ini")):
        folder = ini.parent
        package = next(p.parent.name for p in folder.glob("*/settings.py"))
        found.append(Service(folder.name, package))
    return found


def service_by_image(image: str) -> Service | None:
    name = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.split("/")[-1] else image
    return next((s for s in services() if s.image == name), None)


def consumer_groups() -> list[str]:
    return sorted(group for service in services() for group in service.consumer_groups())


# --- Compose -------------------------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}")


def variables(text: str) -> dict[str, set[str]]:
    """Each variable the text interpolates → the forms it is written in (``:-`` with a default, ``:?`` required)."""
    found: dict[str, set[str]] = {}
    for match in _VARIABLE.finditer(text):
        found.setdefault(match["name"], set()).add(match["op"] or "")
    return found


def required_placeholder(name: str) -> str:
    return f"required-{name.lower().replace('_', '-')}"


def interpolate(text: str) -> str:
    """Compose's `${NAME:-default}` with nothing set in the environment: the file must work on its defaults. A
    required variable (`${NAME:?message}`) becomes a placeholder, as if the operator had set it."""
    def default(match: re.Match[str]) -> str:
        if match["op"] is None:
            raise ValueError(f"{match[0]} has no default; write ${{{match['name']}:-…}} or ${{{match['name']}:?…}}")
        if match["op"].endswith("?"):
            return required_placeholder(match["name"])
        return match["default"]

    result = _VARIABLE.sub(default, text)
    if "${" in result or re.search(r"\$[A-Za-z_]", result):
        raise ValueError("a variable form that the checks do not understand is left after interpolation")
    return result


@cache
def compose_raw() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@cache
def compose_text() -> str:
    return interpolate(compose_raw())


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(compose_text())
    return data


def compose_env(definition: dict[str, Any]) -> dict[str, str]:
    env = definition.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


# --- Kubernetes ----------------------------------------------------------------------------------------------------


@cache
def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((K8S_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    return data


@cache
def resources() -> tuple[dict[str, Any], ...]:
    """Every object of the kustomization, in order (plain YAML files: no generators or patches to apply)."""
    found: list[dict[str, Any]] = []
    for entry in kustomization()["resources"]:
        with (K8S_DIR / entry).open(encoding="utf-8") as f:
            found += [doc for doc in yaml.safe_load_all(f) if doc]
    return tuple(found)


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [r for r in resources() if r["kind"] == kind]


def named(kind: str, name: str) -> dict[str, Any]:
    matches = [r for r in of_kind(kind) if r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name!r}, found {len(matches)}"
    return matches[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def container_env_names(container: dict[str, Any]) -> set[str]:
    """The variables a container gets: its `env` and every key of the ConfigMaps and Secrets in its `envFrom`."""
    names = {item["name"] for item in container.get("env", [])}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            names |= set(named("ConfigMap", source["configMapRef"]["name"]).get("data", {}))
        if "secretRef" in source:
            secret = named("Secret", source["secretRef"]["name"])
            names |= set(secret.get("stringData", {})) | set(secret.get("data", {}))
    return names


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels, and matchExpressions with In / NotIn / Exists)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True
