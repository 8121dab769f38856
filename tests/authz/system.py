"""The whole system for the authorisation matrix: the gateway and the six services, each on a real socket in the
test's event loop, on the real broker and fresh databases of one backend; the Huế units (and Thanh Hóa's) from the
catalogue's seed, one inter-level procedure with a fee, and staff of four units of one chain plus another province.

    async with running_system(databases, broker, topic_prefix, tmp_path) as system:
        r = await system.client.get("/api/v1/...", headers=system.creds["desk@ward"])
"""

from __future__ import annotations

import asyncio
import importlib
import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from catalogue.tools.seed import seed_calendar, seed_units
from fastapi import FastAPI
from gateway.auth import create_staff

from services.calendar import VN_TZ
from services.db import Database
from services.identity import Role
from services.topics import DOMAIN_TOPICS, ensure_topics
from tests.conftest import Broker, DatabaseFactory
from tests.gateway.support import PASSWORD, Running, run_gateway
from tests.harness import migrate
from tests.support import wait_for

PROVINCE = "000.00.00.H57"
CITY = "000.00.31.H57"
WARD = "000.01.31.H57"  # UBND phường An Cựu, in the city
CITY_JUSTICE = "001.00.31.H57"  # Phòng Tư pháp thành phố
PROVINCE_JUSTICE = "001.00.00.H57"  # Sở Tư pháp
OTHER_PROVINCE = "000.00.00.H56"  # Thanh Hóa
PROCEDURE = "1.990001"
CITIZEN_A = "046090001234"
CITIZEN_B = "046095000123"
PHONE_A = "0905123456"

#: The units whose staff call: a unit (the city), its child (the ward where the dossier is), its parent (the
#: province) and a unit of another province.
STAFF_UNITS = {"city": CITY, "ward": WARD, "province": PROVINCE, "other": OTHER_PROVINCE}
STAFF_ROLES = {"desk": Role.DESK_OFFICER, "specialist": Role.SPECIALIST, "leader": Role.LEADER}

SERVICES = {  # family: (folder, package)
    "catalogue": ("catalogue-svc", "catalogue"),
    "dossiers": ("intake-svc", "intake"),
    "routing": ("routing-svc", "routing"),
    "payments": ("payment-svc", "payment"),
    "stats": ("stats-svc", "stats"),
    "deliveries": ("connect-svc", "connect"),
}


@dataclass
class System:
    gateway: Running
    client: httpx.AsyncClient
    apps: dict[str, FastAPI]
    creds: dict[str, dict[str, str]] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # credential name → its unit


@asynccontextmanager
async def on_socket(app: FastAPI) -> AsyncIterator[str]:
    """Serves `app` with uvicorn (lifespan included) on a free local port; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def _settings(package: str, url: str, broker: Broker, prefix: str, tmp: Path) -> Any:
    settings_class = importlib.import_module(f"{package}.settings").Settings
    extra: dict[str, Any] = {
        "intake": {"storage_dir": str(tmp / "files")},
        "routing": {"sweep_enabled": False},
        "payment": {"expiry_sweep_interval": 0},
        "connect": {"delivery_enabled": False},  # no national portal here
    }.get(package, {})
    return settings_class(
        database_url=url, kafka_bootstrap_servers=broker.bootstrap, topic_prefix=prefix, log_json=True,
        log_level="WARNING", relay_poll_interval=0.1, consumer_retry_backoff=0.05, **extra,
    )


@asynccontextmanager
async def running_system(
    databases: DatabaseFactory, broker: Broker, prefix: str, tmp: Path
) -> AsyncIterator[System]:
    await ensure_topics(broker.bootstrap, prefix, DOMAIN_TOPICS)
    async with AsyncExitStack() as stack:
        urls: dict[str, str] = {}
        apps: dict[str, FastAPI] = {}
        for family, (folder, package) in SERVICES.items():
            url = await databases.new(package)
            await migrate(folder, url)
            app = importlib.import_module(f"{package}.main").build_app(_settings(package, url, broker, prefix, tmp))
            apps[family] = app
            urls[family] = await stack.enter_async_context(on_socket(app))
        gateway = await stack.enter_async_context(
            run_gateway(await databases.new("gateway"), urls, rate_limit_unauthenticated="100000/minute",
                        rate_limit_login="1000/minute", connect_url=urls["deliveries"])
        )
        # Idle connections are dropped before uvicorn's keep-alive timeout (5 s) could close one being reused.
        client = await stack.enter_async_context(
            httpx.AsyncClient(base_url=gateway.url, timeout=30, limits=httpx.Limits(keepalive_expiry=1))
        )
        system = System(gateway=gateway, client=client, apps=apps)
        await _seed(system, prefix)
        yield system


async def _seed(system: System, prefix: str) -> None:
    async with system.apps["catalogue"].state.db.sessionmaker() as session:
        await seed_units(session, prefix)
        await seed_calendar(session, prefix)
        await session.commit()
    gw = system.gateway
    async with gw.app.state.db.sessionmaker() as session:
        for place, unit in STAFF_UNITS.items():
            for kind, role in STAFF_ROLES.items():
                await create_staff(session, username=f"{kind}.{place}", password=PASSWORD, role=role, unit=unit)
        await create_staff(session, username="gone", password=PASSWORD, role=Role.DESK_OFFICER, unit=WARD)
        await session.commit()
    system.creds.update({k: v for k, v in gw.creds.items() if k in ("portal", "wallet", "integration", "admin")})
    for place, unit in STAFF_UNITS.items():
        for kind in STAFF_ROLES:
            name = f"{kind}@{place}"
            system.creds[name] = await _login(system, f"{kind}.{place}")
            system.units[name] = unit
    system.creds["citizen A"] = {**gw.creds["portal"], "X-Citizen-Id": CITIZEN_A}
    system.creds["citizen B"] = {**gw.creds["portal"], "X-Citizen-Id": CITIZEN_B}
    system.creds["deactivated"] = await _login(system, "gone")
    admin = gw.creds["admin"]
    r = await system.client.post("/api/v1/auth/staff/gone/deactivate", headers=admin)
    assert r.status_code == 200, r.text

    ok = await system.client.post("/api/v1/catalogue/fields", json={"code": "G01-HT", "name": "Hộ tịch"},
                                  headers=admin)
    assert ok.status_code == 201, ok.text
    today = datetime.now(VN_TZ).date()
    decision = {
        "kind": "new", "number": "1/QĐ-UBND", "signed_on": today.isoformat(), "effective_from": today.isoformat(),
        "units": [{"agency_id": WARD, "online_level": "full", "postal": True}],
        "content": {
            "name": "Đăng ký khai sinh (liên thông)", "field_code": "G01-HT", "field_name": "", "levels": ["commune"],
            "competent_agency": "UBND cấp xã", "processing_time": 10, "processing_unit": "working_days",
            "fees": [{"code": "LP1", "name": "Lệ phí", "kind": "charge", "amount": 8000}],
            "components": [{"code": "TK", "name": "Tờ khai", "form": "Mẫu TK"}], "online_level": "full",
            "postal": True,
            "route": [
                {"order": 1, "level": "commune", "share_percent": 20},
                {"order": 2, "level": "district", "agency_id": CITY_JUSTICE, "share_percent": 30},
                {"order": 3, "level": "province", "agency_id": PROVINCE_JUSTICE, "share_percent": 50},
            ],
        },
    }
    ok = await system.client.post(f"/api/v1/catalogue/procedures/{PROCEDURE}/decisions", json=decision, headers=admin)
    assert ok.status_code == 201, ok.text
    await _wait_for_replicas(system)


async def _wait_for_replicas(system: System, timeout: float = 60) -> None:
    for family in ("dossiers", "routing"):
        fed = partial(_replica_fed, system.apps[family].state.db)
        await wait_for(fed, timeout, what=f"the catalogue replica of {family} was not fed")


async def _replica_fed(db: Database) -> bool:
    from services import catalogue_replica

    async with db.sessionmaker() as session:
        version = await catalogue_replica.version_in_force(session, PROCEDURE, datetime.now(VN_TZ).date())
        ward = await catalogue_replica.unit(session, WARD)
        other = await catalogue_replica.unit(session, OTHER_PROVINCE)
    return version is not None and ward is not None and other is not None


async def _login(system: System, username: str) -> dict[str, str]:
    r = await system.client.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}
