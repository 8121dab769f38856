"""Outside development mode, every service and the gateway refuse to start while a secret setting still holds its
public development default, and say which variable to set; with real secrets, or in development mode, they start."""

from __future__ import annotations

import asyncio
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.settings import DevelopmentSecretError, ServiceSettings
from tests.conftest import Broker, DatabaseFactory
from tests.harness import ROOT, migrate, serve

#: Service package → the variables its refusal must name (one per secret setting with a development default).
SECRETS = {
    "catalogue": ["CATALOGUE_INTERNAL_TOKEN_SECRET or MOTCUA_INTERNAL_TOKEN_SECRET"],
    "intake": ["INTAKE_INTERNAL_TOKEN_SECRET or MOTCUA_INTERNAL_TOKEN_SECRET",
               "INTAKE_OWNER_REF_SECRET or MOTCUA_OWNER_REF_SECRET"],
    "routing": ["ROUTING_INTERNAL_TOKEN_SECRET or MOTCUA_INTERNAL_TOKEN_SECRET"],
    "stats": ["STATS_INTERNAL_TOKEN_SECRET or MOTCUA_INTERNAL_TOKEN_SECRET"],
    "payment": ["PAYMENT_INTERNAL_TOKEN_SECRET or MOTCUA_INTERNAL_TOKEN_SECRET",
                "PAYMENT_OWNER_REF_SECRET or MOTCUA_OWNER_REF_SECRET", "PAYMENT_PAYOS_CHECKSUM_KEY",
                "PAYMENT_VNPAY_HASH_SECRET", "PAYMENT_MOMO_ACCESS_KEY", "PAYMENT_MOMO_SECRET_KEY",
                "PAYMENT_ZALOPAY_KEY2"],
    "gateway": ["GATEWAY_INTERNAL_TOKEN_SECRET or MOTCUA_INTERNAL_TOKEN_SECRET", "GATEWAY_JWT_SECRET",
                "GATEWAY_API_KEY_PEPPER"],
}
APP_DIRS = {"catalogue": "catalogue-svc", "intake": "intake-svc", "routing": "routing-svc", "payment": "payment-svc",
            "stats": "stats-svc", "gateway": "gateway"}  # fmt: skip


def _settings_class(package: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = importlib.import_module(f"{package}.settings").Settings
    return cls


def _real_secrets(package: str) -> dict[str, str]:
    cls = _settings_class(package)
    return {name: f"a-real-{name}-nobody-else-knows-0123456789" for name in cls().development_secrets()}


@pytest.mark.parametrize("package", SECRETS)
def test_every_service_refuses_its_development_secrets_by_name(package: str) -> None:
    module = importlib.import_module(f"{package}.main")
    with pytest.raises(DevelopmentSecretError) as refused:
        module.build_app(module.Settings(dev_mode=False))
    message = str(refused.value)
    for variables in SECRETS[package]:
        assert variables in message, message
    assert "MOTCUA_DEV_MODE=true" in message
    # A secret that only some services read is refused only by those (intake and payment-svc: the owner reference).
    assert ("OWNER_REF_SECRET" in message) == (package in ("intake", "payment"))
    # One secret left at its default is enough to refuse; the message names only that one.
    secrets = _real_secrets(package)
    left = sorted(secrets)[0]
    with pytest.raises(DevelopmentSecretError) as refused:
        module.build_app(module.Settings(dev_mode=False, **{k: v for k, v in secrets.items() if k != left}))
    assert left.upper() in str(refused.value)
    assert all(other.upper() not in str(refused.value) for other in secrets if other != left)
    # Real secrets, or development mode: the app is built.
    module.build_app(module.Settings(dev_mode=False, **secrets))
    module.build_app(module.Settings(dev_mode=True))


@pytest.mark.parametrize("package", ["catalogue", "gateway"])
async def test_a_service_process_without_development_mode_exits_naming_the_setting(package: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("DEV_MODE")}
    env["PYTHONPATH"] = str(ROOT)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "uvicorn", f"{package}.main:app", "--app-dir", APP_DIRS[package], "--port", "0"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode != 0
    assert "DevelopmentSecretError" in done.stderr
    assert SECRETS[package][0] in done.stderr


async def test_a_service_with_real_secrets_starts_outside_development_mode(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    from catalogue.main import build_app
    from catalogue.settings import Settings

    url = await databases.new("catalogue")
    await migrate("catalogue-svc", url)
    settings = Settings(dev_mode=False, database_url=url, kafka_bootstrap_servers=broker.bootstrap,
                        topic_prefix=topic_prefix, internal_token_secret="a-real-internal-secret-0123456789abcdef")
    async with serve(build_app(settings)) as client:
        assert (await client.get("/readyz")).status_code == 200


def test_the_ways_to_run_on_a_laptop_set_development_mode(tmp_path: Path) -> None:
    from sim.system import System

    run_sh = (ROOT / "deploy" / "run.sh").read_text(encoding="utf-8")
    assert 'export MOTCUA_DEV_MODE="${MOTCUA_DEV_MODE:-true}"' in run_sh
    assert System(var=tmp_path).env()["MOTCUA_DEV_MODE"] == "true"
    env = {k: v for k, v in os.environ.items() if not k.endswith("DEV_MODE")}
    bench = subprocess.run([sys.executable, "-c", "import bench, os; print(os.environ['MOTCUA_DEV_MODE'])"],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=True)  # fmt: skip
    assert bench.stdout.strip() == "true"
