"""Import of a national-database-style export (JSON, CSV, Excel): idempotent, validated row by row.

Record fields follow the national portal's procedure service (docs/DOMAIN.md, "Procedures and units"): MATTHC, TENTTHC,
MACOQUANCONGBO, TRANGTHAI, LINHVUCTHUCHIEN[MALINHVUC, TENLINHVUC], CACHTHUCTHUCHIEN[KENH, THOIGIAN[
THOIGIANGIAIQUYET, DONVITINH, MOTA, PHILEPHI[MAPHILEPHI, SOTIEN, DONVI, MOTA]]], THANHPHANHOSO[GIAYTO[MAGIAYTO,
TENGIAYTO, TENMAUDON, URL]], DOITUONGTHUCHIEN, YEUCAU, KETQUATHUCHIEN, CANCUPHAPLY[SOVANBAN, TENVANBAN],
COQUANTHUCHIEN[MADONVI, TENDONVI]; plus the fields a local catalogue needs that the export lacks:
CAPTHUCHIEN (levels), MUCDO (online level: full / partial / 2 / 3 / 4), QUYETDINH[SOQUYETDINH, NGAYBANHANH,
NGAYHIEULUC], LIENTHONG[THUTU, CAP, MADONVI, NHIEMVU, TYLE] (inter-level route), DONVITIEPNHAN[MADONVI, MUCDO,
BUUCHINH] (receiving units), DEMO.

CSV and Excel are flat, one procedure per row, with columns MATTHC, TENTTHC, MALINHVUC, TENLINHVUC, CAPTHUCHIEN,
THOIGIANGIAIQUYET, DONVITINH, PHILEPHI ("name=amount; …"), THANHPHANHOSO ("name; …"), DOITUONGTHUCHIEN,
KETQUATHUCHIEN, CANCUPHAPLY ("number|title; …"), COQUANTHUCHIEN, MUCDO, BUUCHINH, SOQUYETDINH, NGAYBANHANH,
NGAYHIEULUC, DONVITIEPNHAN ("agency id; …"), TRANGTHAI.

Idempotent: a row equal to the version in force is "unchanged"; a changed row publishes an amendment (effective
NGAYHIEULUC, which must be after the last version and not in the past); a new code is created (its first version
may be effective in the past). Each row is applied in its own savepoint: a rejected row writes nothing.

CLI with a progress bar::

    PYTHONPATH=.:catalogue-svc python -m catalogue.importer export.xlsx
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from catalogue import models as m
from catalogue import repository as repo
from catalogue import service as svc
from catalogue.schemas import CODE_PATTERN, DecisionIn, ImportReport, ImportRowReport
from services.clock import today_vn
from services.contracts import catalogue as c
from services.errors import Invalid, Problem
from services.text import fold, nfc, nfc_deep

_CODE = re.compile(CODE_PATTERN)
_LEVELS = {
    "cap tinh": "province",
    "tinh": "province",
    "province": "province",
    "cap huyen": "district",
    "huyen": "district",
    "district": "district",
    "cap xa": "commune",
    "xa": "commune",
    "commune": "commune",
}
Progress = Callable[[int], None]


class RowError(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def guess_format(content_type: str, name: str) -> str:
    lowered = name.lower()
    if "spreadsheet" in content_type or lowered.endswith(".xlsx"):
        return "xlsx"
    if "csv" in content_type or lowered.endswith(".csv"):
        return "csv"
    return "json"


# -- reading -----------------------------------------------------------------------------------------------------


def read_records(raw: bytes, fmt: str) -> list[tuple[int, dict[str, Any]]]:
    """(row number, nested record) pairs; raises Invalid when the file itself cannot be read."""
    if fmt == "json":
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Invalid(f"The file is not valid JSON: {exc}", code="bad-import-file") from exc
        if isinstance(data, dict):
            data = data.get("data", data.get("result", data.get("items")))
        if not isinstance(data, list):
            raise Invalid('A JSON export is a list of procedures (or {"data": [...]}).', code="bad-import-file")
        return [(i + 1, r if isinstance(r, dict) else {"_invalid": r}) for i, r in enumerate(data)]
    if fmt == "csv":
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise Invalid("A CSV export must be UTF-8.", code="bad-import-file") from exc
        reader = csv.DictReader(io.StringIO(text))
        return [(i + 2, flat_to_record(row)) for i, row in enumerate(reader)]
    if fmt == "xlsx":
        import openpyxl

        try:
            wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        except Exception as exc:
            raise Invalid(f"The file is not an Excel workbook: {exc}", code="bad-import-file") from exc
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        out = []
        for i, values in enumerate(rows):
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            out.append((i + 2, flat_to_record(dict(zip(header, values, strict=False)))))
        wb.close()
        return out
    raise Invalid(f"Unknown import format {fmt!r} (json, csv, xlsx).", field="query.format")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def flat_to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A CSV / Excel row → the nested record shape of the JSON export."""
    r = {str(k).strip().upper(): _cell(v) for k, v in row.items() if k is not None}
    fees = []
    for i, part in enumerate(_split(r.get("PHILEPHI", ""))):
        name, _, amount = part.rpartition("=")
        fees.append({"MAPHILEPHI": f"F{i + 1}", "MOTA": name.strip() or "Lệ phí", "SOTIEN": amount.strip()})
    channels = [
        {
            "KENH": 1,
            "THOIGIAN": [
                {
                    "THOIGIANGIAIQUYET": r.get("THOIGIANGIAIQUYET", ""),
                    "DONVITINH": r.get("DONVITINH", ""),
                    "PHILEPHI": fees,
                }
            ],
        }
    ]
    if r.get("MUCDO", "").strip() not in ("", "none", "2"):
        channels.append({"KENH": 2})
    if r.get("BUUCHINH", "") in ("1", "true", "True", "x", "có"):
        channels.append({"KENH": 3})
    record: dict[str, Any] = {
        "MATTHC": r.get("MATTHC", ""),
        "TENTTHC": r.get("TENTTHC", ""),
        "TRANGTHAI": r.get("TRANGTHAI") or "1",
        "LINHVUCTHUCHIEN": [{"MALINHVUC": r.get("MALINHVUC", ""), "TENLINHVUC": r.get("TENLINHVUC", "")}],
        "CAPTHUCHIEN": _split(r.get("CAPTHUCHIEN", "")),
        "CACHTHUCTHUCHIEN": channels,
        "THANHPHANHOSO": [
            {
                "GIAYTO": [
                    {"MAGIAYTO": f"GT{i + 1}", "TENGIAYTO": name}
                    for i, name in enumerate(_split(r.get("THANHPHANHOSO", "")))
                ]
            }
        ],
        "DOITUONGTHUCHIEN": _split(r.get("DOITUONGTHUCHIEN", "")),
        "KETQUATHUCHIEN": r.get("KETQUATHUCHIEN", ""),
        "CANCUPHAPLY": [
            {"SOVANBAN": p.partition("|")[0].strip(), "TENVANBAN": p.partition("|")[2].strip()}
            for p in _split(r.get("CANCUPHAPLY", ""))
        ],
        "COQUANTHUCHIEN": [{"TENDONVI": r.get("COQUANTHUCHIEN", "")}] if r.get("COQUANTHUCHIEN") else [],
        "MUCDO": r.get("MUCDO", ""),
        "QUYETDINH": {
            "SOQUYETDINH": r.get("SOQUYETDINH", ""),
            "NGAYBANHANH": r.get("NGAYBANHANH", ""),
            "NGAYHIEULUC": r.get("NGAYHIEULUC", ""),
        },
        "DONVITIEPNHAN": [{"MADONVI": u} for u in _split(r.get("DONVITIEPNHAN", ""))],
    }
    return record


# -- mapping -----------------------------------------------------------------------------------------------------


def _list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _names(value: Any, *keys: str) -> list[str]:
    out: list[str] = []
    for item in _list(value):
        if isinstance(item, dict):
            for k in keys:
                if item.get(k):
                    out.append(str(item[k]).strip())
                    break
        elif isinstance(item, str):
            out.extend(_split(item))
    return out


def _int(value: Any, what: str, errors: list[str]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        errors.append(f"{what}: not a number")
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip().replace(".", "").replace(",", "").replace(" ", "")
    try:
        return int(text)
    except ValueError:
        errors.append(f"{what}: {value!r} is not a whole number")
        return None


def _date(value: Any, what: str, errors: list[str]) -> date | None:
    if value in (None, ""):
        return None
    text = str(value).strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text[:10], fmt).date()
        except ValueError:
            continue
    errors.append(f"{what}: {value!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")
    return None


def _online(mucdo: Any, has_online_channel: bool) -> tuple[c.OnlineLevel, int | None]:
    text = fold(str(mucdo or ""))
    if text in ("4", "muc do 4"):
        return c.OnlineLevel.FULL, 4
    if text in ("3", "muc do 3"):
        return c.OnlineLevel.PARTIAL, 3
    if text in ("2", "muc do 2"):
        return c.OnlineLevel.NONE, 2
    if text in ("full", "toan trinh"):
        return c.OnlineLevel.FULL, None
    if text in ("partial", "mot phan"):
        return c.OnlineLevel.PARTIAL, None
    if text in ("none", "khong"):
        return c.OnlineLevel.NONE, None
    return (c.OnlineLevel.PARTIAL if has_online_channel else c.OnlineLevel.NONE), None


def map_record(record: dict[str, Any]) -> tuple[str, DecisionIn, dict[str, str]]:
    """A nested export record → (code, decision with content, {field code: field name}); raises RowError."""
    if "_invalid" in record:
        raise RowError(["the record is not an object"])
    record = nfc_deep(record)  # type: ignore[assignment]
    errors: list[str] = []
    code = str(record.get("MATTHC") or "").strip()
    if not code:
        errors.append("MATTHC: missing")
    elif not _CODE.match(code):
        errors.append(f"MATTHC: {code!r} is not a procedure code like 1.001234")
    name = str(record.get("TENTTHC") or "").strip()
    if not name:
        errors.append("TENTTHC: missing")
    status = str(record.get("TRANGTHAI") if record.get("TRANGTHAI") is not None else "1").strip()
    if status not in ("1", ""):
        errors.append(f"TRANGTHAI: {status} (only published procedures, TRANGTHAI = 1, are imported)")
    fields = [f for f in _list(record.get("LINHVUCTHUCHIEN")) if isinstance(f, dict)]
    field_code = str(fields[0].get("MALINHVUC") or "").strip() if fields else ""
    field_name = str(fields[0].get("TENLINHVUC") or "").strip() if fields else ""
    if not field_code:
        errors.append("LINHVUCTHUCHIEN.MALINHVUC: missing")
    levels = []
    for lv in _names(record.get("CAPTHUCHIEN"), "MACAP", "TENCAP"):
        mapped = _LEVELS.get(fold(lv))
        if mapped is None:
            errors.append(f"CAPTHUCHIEN: unknown level {lv!r}")
        elif mapped not in levels:
            levels.append(mapped)
    if not levels:
        errors.append("CAPTHUCHIEN: missing")

    channels = [ch for ch in _list(record.get("CACHTHUCTHUCHIEN")) if isinstance(ch, dict)]
    kenh = {str(ch.get("KENH")) for ch in channels}
    first = next((ch for ch in channels if str(ch.get("KENH")) == "1"), channels[0] if channels else {})
    times = [t for t in _list(first.get("THOIGIAN")) if isinstance(t, dict)]
    t0 = times[0] if times else {}
    processing_time = _int(t0.get("THOIGIANGIAIQUYET"), "THOIGIANGIAIQUYET", errors)
    unit_text = fold(str(t0.get("DONVITINH") or ""))
    if "tra ngay" in unit_text or "trong ngay" in unit_text:
        processing_unit = c.ProcessingUnit.ON_THE_SPOT
        processing_time = 0
    elif "lam viec" in unit_text or unit_text == "":
        processing_unit = c.ProcessingUnit.WORKING_DAYS
    elif "ngay" in unit_text:
        processing_unit = c.ProcessingUnit.CALENDAR_DAYS
    else:
        errors.append(f"DONVITINH: unknown unit {t0.get('DONVITINH')!r}")
        processing_unit = c.ProcessingUnit.WORKING_DAYS
    if processing_time is None and processing_unit is not c.ProcessingUnit.ON_THE_SPOT:
        errors.append("THOIGIANGIAIQUYET: missing")
    elif processing_time is not None and processing_time < 0:
        errors.append(f"THOIGIANGIAIQUYET: {processing_time} is negative")
    fees = []
    for i, fee in enumerate(x for t in times for x in _list(t.get("PHILEPHI")) if isinstance(x, dict)):
        amount = _int(fee.get("SOTIEN"), f"PHILEPHI[{i}].SOTIEN", errors)
        if amount is None:
            continue
        if amount < 0:
            errors.append(f"PHILEPHI[{i}].SOTIEN: {amount} is negative")
            continue
        desc = str(fee.get("MOTA") or fee.get("TENPHILEPHI") or "Lệ phí").strip()
        fees.append(
            {
                "code": str(fee.get("MAPHILEPHI") or f"F{i + 1}"),
                "name": desc,
                "kind": "fee" if fold(desc).startswith("phi") else "charge",
                "amount": amount,
            }
        )
    components = []
    for group in _list(record.get("THANHPHANHOSO")):
        docs = group.get("GIAYTO") if isinstance(group, dict) and "GIAYTO" in group else [group]
        for d in _list(docs):
            if isinstance(d, dict) and d.get("TENGIAYTO"):
                components.append(
                    {
                        "code": str(d.get("MAGIAYTO") or f"GT{len(components) + 1}"),
                        "name": str(d["TENGIAYTO"]).strip(),
                        "form": str(d["TENMAUDON"]).strip() if d.get("TENMAUDON") else None,
                        "originals": _int(d.get("SOBANCHINH"), "SOBANCHINH", errors) or 1,
                        "copies": _int(d.get("SOBANSAO"), "SOBANSAO", errors) or 0,
                        "mandatory": str(d.get("BATBUOC", "1")) not in ("0", "false", "False"),
                    }
                )
    online_level, legacy = _online(record.get("MUCDO"), "2" in kenh)
    agencies = _names(record.get("COQUANTHUCHIEN"), "TENDONVI", "MADONVI")
    route = []
    for i, step in enumerate(x for x in _list(record.get("LIENTHONG")) if isinstance(x, dict)):
        route.append(
            {
                "order": _int(step.get("THUTU"), f"LIENTHONG[{i}].THUTU", errors) or i + 1,
                "level": _LEVELS.get(fold(str(step.get("CAP") or "")), str(step.get("CAP") or "")),
                "agency_id": step.get("MADONVI") or None,
                "task": str(step.get("NHIEMVU") or ""),
                "share_percent": _int(step.get("TYLE"), f"LIENTHONG[{i}].TYLE", errors) or 0,
            }
        )
    units = []
    for i, u in enumerate(x for x in _list(record.get("DONVITIEPNHAN")) if isinstance(x, dict)):
        if not u.get("MADONVI"):
            errors.append(f"DONVITIEPNHAN[{i}].MADONVI: missing")
            continue
        level_u = _online(u.get("MUCDO"), False)[0] if u.get("MUCDO") else online_level
        units.append(
            {
                "agency_id": str(u["MADONVI"]).strip(),
                "online_level": level_u.value,
                "postal": bool(u.get("BUUCHINH", "3" in kenh)),
            }
        )
    qd = record.get("QUYETDINH") if isinstance(record.get("QUYETDINH"), dict) else {}
    assert isinstance(qd, dict)
    effective = _date(qd.get("NGAYHIEULUC"), "NGAYHIEULUC", errors) or today_vn()
    signed = _date(qd.get("NGAYBANHANH"), "NGAYBANHANH", errors) or effective
    if errors:
        raise RowError(errors)
    try:
        decision = DecisionIn.model_validate(
            {
                "kind": "new",
                "number": str(qd.get("SOQUYETDINH") or "").strip() or "national-import",
                "signed_on": signed,
                "effective_from": effective,
                "agency_id": record.get("MACOQUANCONGBO") or None,
                "units": units if record.get("DONVITIEPNHAN") is not None else None,
                "content": {
                    "name": name,
                    "field_code": field_code,
                    "field_name": field_name or field_code,
                    "levels": levels,
                    "competent_agency": "; ".join(agencies),
                    "applicant_types": _names(record.get("DOITUONGTHUCHIEN"), "TENDOITUONG"),
                    "processing_time": processing_time or 0,
                    "processing_unit": processing_unit.value,
                    "processing_note": str(t0.get("MOTA") or "").strip() or None,
                    "fees": fees,
                    "components": components,
                    "result": "; ".join(_names(record.get("KETQUATHUCHIEN"), "TENKETQUA", "TENGIAYTO")),
                    "conditions": str(record.get("YEUCAU") or "").strip() or None,
                    "legal_basis": [
                        {"number": str(b.get("SOVANBAN") or ""), "title": str(b.get("TENVANBAN") or "")}
                        for b in _list(record.get("CANCUPHAPLY"))
                        if isinstance(b, dict)
                    ],
                    "online_level": online_level.value,
                    "legacy_online_level": legacy,
                    "postal": "3" in kenh,
                    "route": route,
                    "demo": bool(record.get("DEMO", False)),
                },
            }
        )
    except ValidationError as exc:
        raise RowError(
            [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        ) from exc
    return code, decision, {field_code: field_name}


# -- applying ----------------------------------------------------------------------------------------------------


async def _apply(session: AsyncSession, prefix: str, code: str, decision: DecisionIn, field: dict[str, str]) -> str:
    assert decision.content is not None
    for fcode, fname in field.items():
        if await repo.field(session, fcode) is None:
            if not fname or fname == fcode:
                raise Invalid(f"LINHVUCTHUCHIEN: unknown field {fcode} (and no TENLINHVUC to create it)")
            await svc.add_field(session, fcode, nfc(fname))
    proc = await repo.procedure(session, code)
    if proc is None:
        await svc.publish_decision(session, prefix, code, decision, allow_past=True)
        return "created"
    rows = await repo.versions(session, code)
    content = await svc.validate_content(session, decision.content, "content")
    changed_units = False
    if decision.units is not None:
        current = {(o.agency_id, o.online_level, o.postal) for o in await repo.offerings(session, code)}
        wanted = {(u.agency_id, u.online_level.value, u.postal) for u in decision.units}
        changed_units = current != wanted
    if rows[-1].content_hash == svc.content_hash(content):
        if changed_units:
            assert decision.units is not None
            await svc.configure_units(session, prefix, code, decision.units)
            return "amended"
        return "unchanged"
    amended = decision.model_copy(update={"kind": c.DecisionKind.AMENDED})
    await svc.publish_decision(session, prefix, code, amended)
    return "amended"


async def import_records(
    session: AsyncSession,
    prefix: str,
    records: Iterable[tuple[int, dict[str, Any]]],
    *,
    source_name: str,
    fmt: str,
    sha256: str,
    progress: Progress | None = None,
) -> ImportReport:
    rows: list[ImportRowReport] = []
    seen: dict[str, str] = {}
    for number, record in records:
        code_hint = str(record.get("MATTHC") or "").strip() or None
        try:
            code, decision, field = map_record(record)
            assert decision.content is not None
            digest = svc.content_hash(decision.content) + json.dumps(
                [u.model_dump(mode="json") for u in decision.units or []], sort_keys=True
            )
            if code in seen:
                if seen[code] != digest:
                    raise RowError([f"MATTHC: {code} appears twice in this file with different content"])
                rows.append(ImportRowReport(row=number, code=code, outcome="unchanged"))
                continue
            seen[code] = digest
            async with session.begin_nested():
                outcome = await _apply(session, prefix, code, decision, field)
            rows.append(ImportRowReport(row=number, code=code, outcome=outcome))  # type: ignore[arg-type]
        except RowError as exc:
            rows.append(ImportRowReport(row=number, code=code_hint, outcome="rejected", errors=exc.errors))
        except Problem as exc:
            rows.append(ImportRowReport(row=number, code=code_hint, outcome="rejected", errors=[exc.detail]))
        if progress is not None:
            progress(1)
    counts = {k: sum(1 for r in rows if r.outcome == k) for k in ("created", "amended", "unchanged", "rejected")}
    run_id = str(uuid.uuid4())
    report = ImportReport(id=run_id, source_name=source_name, format=fmt, total=len(rows), rows=rows, **counts)
    session.add(
        m.ImportRun(
            id=run_id,
            source_name=source_name,
            format=fmt,
            sha256=sha256,
            summary=report.model_dump(mode="json", exclude={"rows"}),
            rows=[r.model_dump(mode="json") for r in rows],
        )
    )
    await session.flush()
    return report


async def import_bytes(
    session: AsyncSession, prefix: str, raw: bytes, fmt: str, source_name: str, progress: Progress | None = None
) -> ImportReport:
    records = read_records(raw, fmt)
    return await import_records(
        session,
        prefix,
        records,
        source_name=source_name,
        fmt=fmt,
        sha256=hashlib.sha256(raw).hexdigest(),
        progress=progress,
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m catalogue.importer FILE [--format json|csv|xlsx]`: import into CATALOGUE_DATABASE_URL."""
    import argparse
    import asyncio
    from pathlib import Path

    from tqdm import tqdm

    from catalogue.settings import Settings
    from services.db import Database

    parser = argparse.ArgumentParser(prog="python -m catalogue.importer")
    parser.add_argument("file", type=Path)
    parser.add_argument("--format", choices=["json", "csv", "xlsx"])
    args = parser.parse_args(argv)
    raw = args.file.read_bytes()
    fmt = args.format or guess_format("", args.file.name)

    async def run() -> ImportReport:
        settings = Settings()
        db = Database(settings.database_url, service=settings.service_name)
        try:
            records = read_records(raw, fmt)
            with tqdm(total=len(records), desc=f"import {args.file.name}", unit="row") as bar:
                async with db.sessionmaker() as session, session.begin():
                    return await import_records(
                        session,
                        settings.topic_prefix,
                        records,
                        source_name=args.file.name,
                        fmt=fmt,
                        sha256=hashlib.sha256(raw).hexdigest(),
                        progress=bar.update,
                    )
        finally:
            await db.dispose()

    report = asyncio.run(run())
    print(
        f"{report.total} rows: {report.created} created, {report.amended} amended, "
        f"{report.unchanged} unchanged, {report.rejected} rejected"
    )
    for r in report.rows:
        if r.outcome == "rejected":
            print(f"  row {r.row} ({r.code}): {'; '.join(r.errors)}", file=sys.stderr)


if __name__ == "__main__":
    main()
