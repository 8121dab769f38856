"""The national portal's integration API as its local adapters use it, simulated.

- `POST /api/login` `{username, password}` with the unit's code in the `madonvi` header → `{session, error_code: 0}`;
  a session lives `session_ttl` seconds.
- `POST /api/service` `{session, madonvi, service, isUpdating, data: [...]}` → `{error_code, message, data: [{MaHoSo,
  error_code, message}]}`, one result per record. Codes: 0 done, 1 error, 2 session not valid, 3 record invalid.
  `DongBoHoSoMC` keeps a dossier (`isUpdating` false: new or sent again; true: only for a dossier it holds),
  `CapNhatTienDoHoSoMC` appends a step to a dossier it holds, `TraCuuHoSo` answers what it holds of a dossier.
  Every record is checked against the field list below: unknown fields, missing required ones, codes out of range,
  dates not `yyyyMMddHHmmss` are refused (code 3) with a message naming the field.

The field list is written here on purpose, apart from connect-svc's own (connect.domain.records): the simulator
plays the other side, so that a field connect-svc misnames is caught.

Control (for tests and people; not the portal's): `GET /_control/state` (what it holds and the log of every record
taken, in order), `POST /_control/faults` (answer 5xx, hang, be slow, expire every session, reject a dossier's
records), `POST /_control/reset`.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

OK, ERROR, SESSION_INVALID, INVALID = 0, 1, 2, 3

_DATE = re.compile(r"^\d{14}$")


def _is_date(value: Any) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    try:
        datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        return False
    return True


def _text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 2000


def _code_in(*allowed: int) -> Any:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value in allowed


def _list_of(fields: dict[str, Any]) -> Any:
    def check(value: Any) -> bool:
        return isinstance(value, list) and all(
            isinstance(item, dict) and set(item) <= set(fields) and all(fields[k](v) for k, v in item.items())
            for item in value
        )

    return check


def _amount(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


_STATUS = _code_in(*range(1, 11))
#: field → check; the required ones of each service are below.
DOSSIER_FIELDS: dict[str, Any] = {
    "MaHoSo": _text,
    "MaTTHC": _text,
    "TenTTHC": _text,
    "MaLinhVuc": _text,
    "TenLinhVuc": _text,
    "SoBienNhan": _text,
    "ChuHoSo": _text,
    "LoaiDoiTuong": _code_in(1, 2),
    "MaDoiTuong": _text,
    "Email": _text,
    "SoDienThoai": _text,
    "NgayTiepNhan": _is_date,
    "NgayHenTra": _is_date,
    "NgayTra": _is_date,
    "NgayKetThucXuLy": _is_date,
    "TrangThaiHoSo": _STATUS,
    "KenhThucHien": _code_in(1, 2, 3),
    "HinhThuc": _text,
    "DonViXuLy": _text,
    "GhiChu": _text,
    "TaiLieuNop": _list_of({"MaThanhPhanHoSo": _text, "DuongDanTaiTepTin": _text}),
    "DanhSachLePhi": _list_of({"MaPhiLePhi": _text, "HinhThucThu": _text, "Gia": _amount, "LoaiPhiLePhi": _text}),
    "DanhSachHoSoBoSung": _list_of({"NgayHenTraTruoc": _is_date, "NgayHenTraMoi": _is_date}),
    "DanhSachGiayToKetQua": _list_of({"DuongDanTepTinKetQua": _text}),
}
DOSSIER_REQUIRED = (
    "MaHoSo",
    "MaTTHC",
    "MaLinhVuc",
    "KenhThucHien",
    "LoaiDoiTuong",
    "NgayTiepNhan",
    "NgayHenTra",
    "TrangThaiHoSo",
    "DonViXuLy",
)
STEP_FIELDS: dict[str, Any] = {
    "MaHoSo": _text,
    "NguoiXuLy": _text,
    "ChucDanh": _text,
    "ThoiDiemXuLy": _is_date,
    "PhongBanXuLy": _text,
    "NoiDungXuLy": _text,
    "TrangThai": _STATUS,
    "NgayBatDau": _is_date,
    "NgayKetThucTheoQuyDinh": _is_date,
}
STEP_REQUIRED = ("MaHoSo", "ThoiDiemXuLy", "NoiDungXuLy", "TrangThai")


def problems(record: Any, fields: dict[str, Any], required: tuple[str, ...]) -> list[str]:
    if not isinstance(record, dict):
        return ["a record must be an object"]
    found = [f"{name}: không có trong danh sách trường" for name in record if name not in fields]
    found += [f"{name}: bắt buộc" for name in required if name not in record]
    found += [
        f"{name}: giá trị không hợp lệ" for name, value in record.items() if name in fields and not fields[name](value)
    ]
    return found


@dataclass(frozen=True)
class Account:
    username: str = "motcua"
    password: str = "dev-dvcqg-password"
    unit_code: str = "000.00.00.H57"
    session_ttl: float = 3600.0


class Faults(BaseModel):
    """What the portal does wrong from now on (fields left out keep their current value)."""

    down: bool | None = None  # every request answered `status` until set false
    status: int | None = None  # the status of `down` and `fail_next` (default 503)
    fail_next: int | None = None  # the next n calls of /api/service answered `status`
    hang_next: int | None = None  # the next n calls taken, then answered only after `hang_seconds` (a lost answer)
    hang_seconds: float | None = None
    slow_seconds: float | None = None  # every answer this much later
    expire_sessions: bool = False  # every session given so far is no longer valid
    reject: dict[str, str] | None = None  # MaHoSo → message: that dossier's records refused as invalid
    accept: list[str] | None = None  # MaHoSo no longer rejected


@dataclass
class Portal:
    account: Account
    sessions: dict[str, float] = field(default_factory=dict)
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: every record taken, in order: {service, isUpdating, record}
    log: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0
    sign_ins: int = 0
    down: bool = False
    status: int = 503
    fail_next: int = 0
    hang_next: int = 0
    hang_seconds: float = 30.0
    slow_seconds: float = 0.0
    reject: dict[str, str] = field(default_factory=dict)

    def apply(self, faults: Faults) -> None:
        for name in ("down", "status", "fail_next", "hang_next", "hang_seconds", "slow_seconds"):
            value = getattr(faults, name)
            if value is not None:
                setattr(self, name, value)
        if faults.expire_sessions:
            self.sessions.clear()
        self.reject.update(faults.reject or {})
        for code in faults.accept or ():
            self.reject.pop(code, None)

    def state(self) -> dict[str, Any]:
        return {
            "dossiers": self.dossiers,
            "steps": self.steps,
            "log": self.log,
            "refused": self.refused,
            "calls": self.calls,
            "sign_ins": self.sign_ins,
        }

    def take(self, service: str, updating: bool, record: Any) -> tuple[int, str, dict[str, Any]]:
        if service == "DongBoHoSoMC":
            found = problems(record, DOSSIER_FIELDS, DOSSIER_REQUIRED)
        elif service == "CapNhatTienDoHoSoMC":
            found = problems(record, STEP_FIELDS, STEP_REQUIRED)
        else:
            found = problems(record, {"MaHoSo": _text}, ("MaHoSo",))
        code = record.get("MaHoSo") if isinstance(record, dict) else None
        if not found and code in self.reject:
            found = [self.reject[code]]
        if not found and service == "DongBoHoSoMC" and updating and code not in self.dossiers:
            found = ["isUpdating: hồ sơ chưa có trên Cổng"]
        if not found and service == "CapNhatTienDoHoSoMC" and code not in self.dossiers:
            found = ["MaHoSo: hồ sơ chưa được đồng bộ"]
        if found:
            self.refused.append({"service": service, "isUpdating": updating, "record": record, "problems": found})
            return INVALID, "; ".join(found), {}
        assert isinstance(code, str)
        if service == "TraCuuHoSo":
            held = self.dossiers.get(code)
            if held is None:
                return INVALID, "MaHoSo: không tìm thấy", {}
            return OK, "ok", {"HoSo": held, "TienDo": self.steps.get(code, [])}
        if service == "DongBoHoSoMC":
            self.dossiers[code] = record
        else:
            self.steps.setdefault(code, []).append(record)
        self.log.append({"service": service, "isUpdating": updating, "record": record})
        return OK, "Thành công", {}


def build_app(account: Account | None = None) -> FastAPI:
    portal = Portal(account or Account())
    app = FastAPI(title="National public service portal (simulated)", docs_url=None, redoc_url=None)
    app.state.portal = portal

    async def misbehave() -> JSONResponse | None:
        if portal.slow_seconds:
            await asyncio.sleep(portal.slow_seconds)
        if portal.down:
            return JSONResponse({"message": "unavailable"}, status_code=portal.status)
        return None

    @app.post("/api/login")
    async def login(request: Request) -> JSONResponse:
        if (answer := await misbehave()) is not None:
            return answer
        body = await request.json()
        a = portal.account
        if (
            not isinstance(body, dict)
            or body.get("username") != a.username
            or body.get("password") != a.password
            or request.headers.get("madonvi") != a.unit_code
        ):
            return JSONResponse({"error_code": ERROR, "message": "Sai tài khoản, mật khẩu hoặc mã đơn vị"})
        session = secrets.token_hex(16)
        portal.sessions[session] = time.monotonic() + a.session_ttl
        portal.sign_ins += 1
        return JSONResponse({"session": session, "error_code": OK})

    @app.post("/api/service")
    async def service(request: Request) -> JSONResponse:
        portal.calls += 1
        if (answer := await misbehave()) is not None:
            return answer
        if portal.fail_next > 0:
            portal.fail_next -= 1
            return JSONResponse({"message": "internal error"}, status_code=portal.status)
        hang = portal.hang_next > 0
        portal.hang_next -= 1 if hang else 0
        body = await request.json()
        if not isinstance(body, dict):
            return JSONResponse({"error_code": ERROR, "message": "body must be an object"})
        expires = portal.sessions.get(str(body.get("session")))
        if expires is None or expires < time.monotonic():
            portal.sessions.pop(str(body.get("session")), None)
            return JSONResponse({"error_code": SESSION_INVALID, "message": "Phiên làm việc hết hạn"})
        if body.get("madonvi") != portal.account.unit_code:
            return JSONResponse({"error_code": ERROR, "message": "madonvi không đúng"})
        service_name, data = body.get("service"), body.get("data")
        if service_name not in ("DongBoHoSoMC", "CapNhatTienDoHoSoMC", "TraCuuHoSo") or not isinstance(data, list):
            return JSONResponse({"error_code": ERROR, "message": "service hoặc data không hợp lệ"})
        updating = body.get("isUpdating") is True
        results = []
        for record in data:
            code, message, extra = portal.take(service_name, updating, record)
            key = record.get("MaHoSo") if isinstance(record, dict) else None
            results.append({"MaHoSo": key, "error_code": code, "message": message, **extra})
        if hang:
            await asyncio.sleep(portal.hang_seconds)
        return JSONResponse({"error_code": OK, "message": "Thành công", "data": results})

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/_control/state")
    async def state() -> dict[str, Any]:
        return portal.state()

    @app.post("/_control/faults")
    async def faults(body: Faults) -> dict[str, Any]:
        portal.apply(body)
        return {
            "down": portal.down,
            "fail_next": portal.fail_next,
            "hang_next": portal.hang_next,
            "slow_seconds": portal.slow_seconds,
            "reject": portal.reject,
        }

    @app.post("/_control/reset")
    async def reset() -> dict[str, str]:
        fresh = Portal(portal.account)
        for name in fresh.__dataclass_fields__:
            setattr(portal, name, getattr(fresh, name))
        return {"status": "reset"}

    return app
