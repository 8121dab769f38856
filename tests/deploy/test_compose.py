"""deploy/compose.yaml: valid Compose, only the gateway published, every service migrated, healthy and configured
with variables its settings really read."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from compose_spec import PyCompose
from sqlalchemy.engine import make_url

from tests.deploy.manifests import (
    NON_SETTINGS_ENV,
    ROOT,
    Service,
    compose,
    compose_env,
    compose_raw,
    compose_text,
    consumer_groups,
    interpolate,
    required_placeholder,
    service_by_image,
    services,
    variables,
)

SERVICES = services()


def definitions() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose()["services"]
    return result


def ours() -> dict[str, tuple[Service, dict[str, Any]]]:
    """Compose services that run one of our images, with the service whose image it is."""
    found = {}
    for name, definition in definitions().items():
        service = service_by_image(definition.get("image", ""))
        if service is not None:
            found[name] = (service, definition)
    return found


def api(service: Service) -> tuple[str, dict[str, Any]]:
    """The compose service that builds and serves this service's image."""
    (match,) = [(name, d) for name, (s, d) in ours().items() if s == service and "build" in d]
    return match


def test_the_file_is_valid_compose() -> None:
    # The validator reads no YAML merge keys (<<): it gets the document as Compose sees it, merges resolved.
    assert "<<" in compose_text()
    parsed = PyCompose.from_yaml(yaml.safe_dump(compose()))
    assert set(parsed.service_names()) == set(definitions())


def test_the_checks_reject_what_compose_would_reject() -> None:
    with pytest.raises(ValueError):
        PyCompose.from_yaml("services:\n  web:\n    image: x\n    depends_on: {db: {condition: started}}\n")
    with pytest.raises(ValueError):
        interpolate("image: ${TAG}")


def test_only_the_gateway_is_published() -> None:
    published = [name for name, d in definitions().items() if d.get("ports")]
    assert published == ["gateway"]
    backend = compose()["networks"]["backend"]
    assert backend.get("internal") is True


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_every_service_is_built_from_its_dockerfile_and_waits_for_its_migrations(service: Service) -> None:
    name, definition = api(service)
    assert definition["build"] == {"context": "..", "dockerfile": f"{service.directory}/Dockerfile"}
    assert (ROOT / service.directory / "Dockerfile").is_file()
    migrate = f"{name}-migrate"
    assert definitions()[migrate]["command"] == ["alembic", "-c", f"{service.directory}/alembic.ini", "upgrade", "head"]
    assert definition["depends_on"][migrate] == {"condition": "service_completed_successfully"}
    needs = ("postgres",) if service.directory == "gateway" else ("postgres", "kafka", "topics")
    for dependency in needs:
        expected = "service_completed_successfully" if dependency == "topics" else "service_healthy"
        assert definition["depends_on"][dependency] == {"condition": expected}


def test_long_running_containers_have_healthchecks_and_dependencies_have_conditions() -> None:
    for name, definition in definitions().items():
        if definition.get("restart") != "no" and not definition.get("profiles"):
            assert "healthcheck" in definition or name == "wallet", f"{name} has no healthcheck"
        for dependency, condition in (definition.get("depends_on") or {}).items():
            assert dependency in definitions(), f"{name} depends on unknown {dependency}"
            assert condition.get("condition") in {"service_healthy", "service_completed_successfully"}, name
    # The wallet simulator answers no probe of its own: it is a client of payment-svc.
    assert definitions()["wallet"]["depends_on"] == {"payment": {"condition": "service_healthy"}}


def test_the_gateway_reaches_every_service_through_compose_dns() -> None:
    env = compose_env(definitions()["gateway"])
    upstreams = {"catalogue-svc": "CATALOGUE", "intake-svc": "INTAKE", "routing-svc": "ROUTING",
                 "payment-svc": "PAYMENT", "stats-svc": "STATS"}
    for directory, key in upstreams.items():
        (service,) = [s for s in SERVICES if s.directory == directory]
        name, _ = api(service)
        assert env[f"GATEWAY_{key}_URL"] == f"http://{name}:8080"
        assert definitions()["gateway"]["depends_on"][name] == {"condition": "service_healthy"}


def test_each_service_has_a_database_of_its_own() -> None:
    databases: dict[str, str] = {}
    for name, (service, definition) in ours().items():
        for key, value in compose_env(definition).items():
            if key.endswith("_DATABASE_URL"):
                assert key == f"{service.env_prefix}DATABASE_URL", f"{name}: {key}"
                url = make_url(value)
                assert url.drivername == "postgresql+asyncpg" and url.host == "postgres"
                assert databases.setdefault(service.directory, url.database or "") == url.database
    assert len(set(databases.values())) == len(SERVICES)
    script = (ROOT / "deploy" / "compose" / "create-databases.sh").read_text(encoding="utf-8")
    (loop,) = [line for line in script.splitlines() if line.startswith("for svc in ")]
    created = loop.removeprefix("for svc in ").removesuffix("; do").split()
    assert sorted(created) == sorted(databases.values())


def test_the_topics_job_creates_the_dead_letter_topics_of_every_consumer_group() -> None:
    env = compose_env(definitions()["topics"])
    assert definitions()["topics"]["command"] == ["python", "-m", "services.topics"]
    assert sorted(env["MOTCUA_CONSUMER_GROUPS"].split()) == consumer_groups()


def test_every_variable_is_a_setting_of_the_service_whose_image_runs() -> None:
    for name, (service, definition) in ours().items():
        unknown = set(compose_env(definition)) - service.env_names() - NON_SETTINGS_ENV
        assert not unknown, f"compose service {name} ({service.directory}) sets variables no setting reads: {unknown}"


SECRET_NAME = re.compile(r"(SECRET|PASSWORD|PEPPER|KEY\d*)$")


def test_every_secret_is_required_with_no_built_in_value() -> None:
    forms = variables(compose_raw())
    secrets = {name for name in forms if SECRET_NAME.search(name)}
    expected = {name for service in SERVICES for names in service.secret_env_names() for name in names} & set(forms)
    assert expected <= secrets and {"POSTGRES_PASSWORD", "MOTCUA_DB_PASSWORD"} <= secrets
    for name in sorted(secrets):
        assert forms[name] == {":?"}, f"${{{name}}} must be required (${{{name}:?message}}), not have a fallback"
    for name, definition in definitions().items():
        assert not [k for k in compose_env(definition) if k.endswith("DEV_MODE")], f"{name} sets a development mode"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_every_service_gets_its_secrets_and_would_start_outside_development_mode(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, definition = api(service)
    env = compose_env(definition)
    for names in service.secret_env_names():
        given = names & set(env)
        assert given, f"compose service {name} sets none of {sorted(names)}"
        assert all(env[var].startswith("required-") for var in given), f"{name}: {given} not from the operator"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    service.settings_class(dev_mode=False).require_real_secrets()


def test_a_required_variable_reads_as_set() -> None:
    assert interpolate("a: ${GATEWAY_JWT_SECRET:?set it}") == f"a: {required_placeholder('GATEWAY_JWT_SECRET')}"
