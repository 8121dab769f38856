"""The national-portal simulator checks what it receives against the portal's field list and fails when told."""

from __future__ import annotations

from typing import Any

import httpx
from dvcqg_sim.portal import build_app

GOOD = {
    "MaHoSo": "H57-1",
    "MaTTHC": "1.000001",
    "MaLinhVuc": "G01",
    "KenhThucHien": 2,
    "LoaiDoiTuong": 1,
    "NgayTiepNhan": "20260302090000",
    "NgayHenTra": "20260312090000",
    "TrangThaiHoSo": 2,
    "DonViXuLy": "X",
}


async def call(client: httpx.AsyncClient, session: str, service: str, data: list[Any], updating: bool = False) -> Any:
    body = {"session": session, "madonvi": "000.00.00.H57", "service": service, "isUpdating": updating, "data": data}
    return (await client.post("/api/service", json=body)).json()


async def sign_in(client: httpx.AsyncClient) -> str:
    r = await client.post(
        "/api/login",
        json={"username": "motcua", "password": "dev-dvcqg-password"},
        headers={"madonvi": "000.00.00.H57"},
    )
    return str(r.json()["session"])


async def test_records_are_checked_against_the_field_list() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app()), base_url="http://portal") as client:
        wrong = await client.post(
            "/api/login", json={"username": "motcua", "password": "x"}, headers={"madonvi": "000.00.00.H57"}
        )
        assert wrong.json()["error_code"] != 0
        session = await sign_in(client)
        bad = [
            {**GOOD, "MaHoSo": "H57-2", "Ten": "x"},
            {**GOOD, "MaHoSo": "H57-3", "NgayTiepNhan": "2026-03-02"},
            {**GOOD, "MaHoSo": "H57-4", "KenhThucHien": 4},
            {k: v for k, v in GOOD.items() if k != "MaTTHC"},
        ]
        answer = await call(client, session, "DongBoHoSoMC", [GOOD, *bad])
        assert [r["error_code"] for r in answer["data"]] == [0, 3, 3, 3, 3]
        assert "Ten" in answer["data"][1]["message"] and "NgayTiepNhan" in answer["data"][2]["message"]
        step = {"MaHoSo": "H57-9", "ThoiDiemXuLy": "20260302100000", "NoiDungXuLy": "x", "TrangThai": 4}
        orphan = await call(client, session, "CapNhatTienDoHoSoMC", [step])
        assert orphan["data"][0]["error_code"] == 3  # no step before its dossier
        update = await call(client, session, "DongBoHoSoMC", [{**GOOD, "MaHoSo": "H57-9"}], updating=True)
        assert update["data"][0]["error_code"] == 3  # no update of a dossier it does not hold
        held = await call(client, session, "TraCuuHoSo", [{"MaHoSo": "H57-1"}])
        assert held["data"][0]["HoSo"] == GOOD
        state = (await client.get("/_control/state")).json()
        assert [e["record"]["MaHoSo"] for e in state["log"]] == ["H57-1"] and len(state["refused"]) == 6


async def test_it_fails_when_told() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app()), base_url="http://portal") as client:
        session = await sign_in(client)
        await client.post("/_control/faults", json={"fail_next": 1, "status": 502})
        assert (await client.post("/api/service", json={})).status_code == 502
        await client.post("/_control/faults", json={"expire_sessions": True})
        assert (await call(client, session, "DongBoHoSoMC", [GOOD]))["error_code"] == 2
        session = await sign_in(client)
        await client.post("/_control/faults", json={"reject": {"H57-1": "MaTTHC: không có"}})
        assert (await call(client, session, "DongBoHoSoMC", [GOOD]))["data"][0]["message"] == "MaTTHC: không có"
        await client.post("/_control/faults", json={"accept": ["H57-1"], "down": True, "status": 503})
        assert (await client.post("/api/login", json={})).status_code == 503
