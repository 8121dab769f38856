"""Helpers of the catalogue tests: a migrated catalogue-svc in-process, identities, sample data."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import httpx
from catalogue.main import build_app
from catalogue.settings import Settings

from services.clock import today_vn
from services.identity import HEADER, Identity, Role, mint
from services.topics import DOMAIN_TOPICS, ensure_topics
from tests.harness import migrate, serve

PROVINCE = "000.00.00.H57"
CITY = "000.00.31.H57"
WARD_A = "000.01.31.H57"
WARD_B = "000.02.31.H57"
JUSTICE_DEPT = "001.00.00.H57"  # Sở Tư pháp (demo id)
CITY_JUSTICE = "001.00.31.H57"  # Phòng Tư pháp thành phố (demo id)


def settings(url: str, bootstrap: str, prefix: str) -> Settings:
    return Settings(database_url=url, kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, log_json=False)


def headers(role: Role = Role.ADMIN, unit: str | None = None, s: Settings | None = None) -> dict[str, str]:
    secret = (s or Settings()).internal_token_secret.get_secret_value()
    return {HEADER: mint(Identity(subject=f"test-{role.value}", role=role, unit=unit), secret, ttl=3600)}


ADMIN = headers(Role.ADMIN)
PORTAL = headers(Role.PORTAL)
DESK = headers(Role.DESK_OFFICER, WARD_A)


@asynccontextmanager
async def catalogue(url: str, bootstrap: str, prefix: str) -> AsyncIterator[httpx.AsyncClient]:
    await migrate("catalogue-svc", url)
    await ensure_topics(bootstrap, prefix, DOMAIN_TOPICS)
    async with serve(build_app(settings(url, bootstrap, prefix))) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def today(offset: int = 0) -> str:
    return (today_vn() + timedelta(days=offset)).isoformat()


def unit(
    agency_id: str, name: str, level: str, rank: int, parent: str | None, kind: str = "administrative"
) -> dict[str, Any]:
    return {
        "agency_id": agency_id,
        "name": name,
        "kind": kind,
        "level": level,
        "level_rank": rank,
        "parent_id": parent,
        "valid_from": "2017-01-01",
    }


async def small_structure(client: httpx.AsyncClient) -> None:
    """Province → city → two wards, with a provincial and a city department; two fields."""
    for body in (
        unit(PROVINCE, "UBND tỉnh Thừa Thiên Huế", "province", 1, None),
        unit(JUSTICE_DEPT, "Sở Tư pháp", "province", 1, PROVINCE, "agency"),
        unit(CITY, "UBND thành phố Huế", "district", 2, PROVINCE),
        unit(CITY_JUSTICE, "Phòng Tư pháp thành phố Huế", "district", 2, CITY, "agency"),
        unit(WARD_A, "UBND phường Phú Hội", "commune", 3, CITY),
        unit(WARD_B, "UBND phường Phú Nhuận", "commune", 3, CITY),
    ):
        ok(await client.post("/units", json=body, headers=ADMIN), 201)
    ok(await client.post("/fields", json={"code": "G01-HT", "name": "Hộ tịch"}, headers=ADMIN), 201)
    ok(await client.post("/fields", json={"code": "G01-DD", "name": "Đất đai"}, headers=ADMIN), 201)


def content(name: str = "Đăng ký khai sinh", field: str = "G01-HT", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "field_code": field,
        "field_name": "",
        "levels": ["commune"],
        "competent_agency": "UBND cấp xã",
        "applicant_types": ["Công dân Việt Nam"],
        "processing_time": 3,
        "processing_unit": "working_days",
        "fees": [{"code": "LP1", "name": "Lệ phí đăng ký", "kind": "charge", "amount": 8000}],
        "components": [{"code": "TK", "name": "Tờ khai đăng ký khai sinh", "form": "Mẫu TK-KS"}],
        "result": "Giấy khai sinh",
        "online_level": "full",
        "postal": True,
    }
    body.update(over)
    return body


def decision(kind: str = "new", effective: int = 0, number: str = "100/QĐ-UBND", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": kind,
        "number": number,
        "signed_on": today(min(effective, 0) - 1),
        "effective_from": today(effective),
    }
    if kind != "abolished":
        body["content"] = content()
    body.update(over)
    return body


def as_date(s: str) -> date:
    return date.fromisoformat(s)
