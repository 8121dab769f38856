"""deploy/system-packages.sh, which `make run`, `make test` and .ci/run call: what it finds missing and what it does
then, as root, with sudo and with neither. Stand-ins on an otherwise empty PATH play the system's commands (the
script's logic alone: nothing is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.harness import ROOT

SCRIPT = ROOT / "deploy" / "system-packages.sh"
JAVA_17 = "    java.specification.version = 17"
JAVA_11 = "    java.specification.version = 11"


class Machine:
    """A PATH of stand-ins: each present command, and apt-get / sudo that write down how they were called."""

    def __init__(self, root: Path) -> None:
        self.bin = root / "bin"
        self.bin.mkdir()
        self.calls = root / "calls"
        self.postgresql = root / "postgresql"
        self.libs = root / "lib"
        self.fonts = root / "fonts"
        for tool in ("sed", "env"):  # what the script itself runs besides the commands it looks for
            (self.bin / tool).symlink_to(shutil.which(tool) or tool)
        self.command("id", 'echo "$FAKE_UID"')

    def command(self, name: str, body: str = "exit 0") -> None:
        path = self.bin / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)

    def debian(
        self, *, java: str | None = JAVA_17, tools: tuple[str, ...] = (), sudo: bool = False, pango: bool = True
    ) -> None:
        self.command("apt-get", f'echo "apt-get $*" >> {self.calls}')
        self.fonts.mkdir(exist_ok=True)
        (self.fonts / "DejaVuSans.ttf").touch()
        if pango:
            (self.libs / "x86_64-linux-gnu").mkdir(parents=True, exist_ok=True)
            (self.libs / "x86_64-linux-gnu" / "libpangoft2-1.0.so.0").touch()
        if java:
            self.command("java", f"echo '{java}' >&2")
        for tool in tools:
            self.command(tool)
        if sudo:
            self.command("sudo", f'echo "sudo" >> {self.calls}; exec "$@"')
        self.command("python3.11", "exit 0")

    def postgresql_installed(self) -> None:
        self.command("pg_lsclusters")
        server = self.postgresql / "15" / "bin" / "postgres"
        server.parent.mkdir(parents=True)
        server.touch()

    def run(self, profile: str, uid: int = 1000) -> tuple[int, str, list[str]]:
        env = {
            "PATH": str(self.bin),
            "FAKE_UID": str(uid),
            "POSTGRESQL_LIB_DIR": str(self.postgresql),
            "PANGO_LIB_GLOB": f"{self.libs}/*/libpangoft2-1.0.so.0",
            "PDF_FONT_GLOB": f"{self.fonts}/DejaVuSans.ttf",
        }
        done = subprocess.run(["/bin/bash", str(SCRIPT), profile], env=env, capture_output=True, text=True)
        calls = self.calls.read_text().splitlines() if self.calls.exists() else []
        return done.returncode, done.stdout + done.stderr, calls


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def test_nothing_missing_is_silent(machine: Machine) -> None:
    machine.debian(tools=("mvn", "chromium"))
    machine.postgresql_installed()
    for profile in ("run", "test", "ci"):
        assert machine.run(profile) == (0, "", [])


def test_pango_missing_is_installed_for_every_profile(machine: Machine) -> None:
    machine.debian(tools=("mvn", "chromium"), pango=False)
    machine.postgresql_installed()
    code, said, calls = machine.run("run", uid=0)
    assert code == 0, said
    assert calls == ["apt-get update -qq", "apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0"]
    assert "Pango" in said


def test_as_root_it_installs_what_is_missing(machine: Machine) -> None:
    machine.debian(java=None, tools=("mvn",))
    code, said, calls = machine.run("test", uid=0)
    assert code == 0, said
    assert calls == ["apt-get update -qq", "apt-get install -y -qq openjdk-17-jre-headless chromium"]
    assert "Java 17 or newer, Chromium" in said


def test_an_old_java_counts_as_missing(machine: Machine) -> None:
    machine.debian(java=JAVA_11, tools=("mvn", "chromium"))
    assert machine.run("run", uid=0)[2] == ["apt-get update -qq", "apt-get install -y -qq openjdk-17-jre-headless"]


def test_run_needs_no_browser_and_ci_needs_postgresql(machine: Machine) -> None:
    machine.debian(tools=("mvn",))
    assert machine.run("run", uid=0) == (0, "", [])
    code, _, calls = machine.run("ci", uid=0)
    assert code == 0 and calls[-1] == "apt-get install -y -qq chromium postgresql"


def test_without_root_it_installs_with_sudo(machine: Machine) -> None:
    machine.debian(java=None, sudo=True, tools=("chromium",))
    code, said, calls = machine.run("test")
    assert code == 0, said
    assert calls == [
        "sudo",
        "apt-get update -qq",
        "sudo",
        "apt-get install -y -qq openjdk-17-jre-headless maven",
    ]


def test_without_root_or_sudo_it_says_the_one_command_and_stops(machine: Machine) -> None:
    machine.debian(java=None)
    code, said, calls = machine.run("test")
    assert code == 1 and calls == []
    command = said.strip().splitlines()[-1].strip()
    assert command == (
        "su -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
        "openjdk-17-jre-headless maven chromium'"
    )
    assert "Java 17 or newer, Maven, Chromium" in said


def test_a_python_without_venv_needs_its_venv_package(machine: Machine) -> None:
    machine.debian(tools=("mvn",))
    machine.command("python3.11", "exit 1")  # `import ensurepip` fails: Debian's python3.11 without python3.11-venv
    assert machine.run("run", uid=0)[2][-1] == "apt-get install -y -qq python3.11-venv"


def test_without_apt_get_it_names_what_is_missing(machine: Machine) -> None:
    machine.command("python3.11")
    code, said, _ = machine.run("run", uid=0)
    assert code == 1 and "missing Java 17 or newer, Maven" in said


def test_make_run_and_make_test_check_the_packages_first() -> None:
    for target, profile in (("run", "run"), ("test", "test")):
        steps = subprocess.run(
            ["make", "--no-print-directory", "-n", "-B", target], cwd=ROOT, capture_output=True, text=True, check=True
        )
        commands = steps.stdout.splitlines()
        assert commands[0].endswith(f"deploy/system-packages.sh {profile}"), commands
        assert any(c.endswith("-m venv .venv") for c in commands[1:]), commands
    assert "deploy/system-packages.sh ci" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert os.access(SCRIPT, os.X_OK)
