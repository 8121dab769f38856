"""Seed the catalogue with DEMO DATA, idempotently, publishing events through the outbox.

    cd /work/main && PYTHONPATH=.:catalogue-svc python -m catalogue.tools.seed     (uses CATALOGUE_DATABASE_URL)

Loads:
- the 2020 three-level structure of the seed report: UBND tỉnh Thừa Thiên Huế (000.00.00.H57) with provincial
  departments → UBND thành phố Huế (000.00.31.H57) with city departments → its 27 wards (000.01.31.H57 …);
- a two-tier example (since 1 Jul 2025: province → commune, the district level gone): a demo district of Thanh Hóa
  (H56) whose two wards were merged on 1 Jul 2025 into one ward directly under the province; the old units stay with
  `valid_to` and `successor_id`;
- the calendar rules (`services.calendar.default_rules_vn`) as the administrator's table;
- the demo procedures of `data/demo-procedures.json` (see `catalogue.tools.demo`) through the importer.

Departments' agency ids are demo values in the official format. Running it twice changes nothing.
"""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession
from tqdm import tqdm

from catalogue import importer
from catalogue import repository as repo
from catalogue import service as svc
from catalogue.schemas import ImportReport, MergeIn, UnitIn
from catalogue.settings import Settings
from catalogue.tools.demo import CITY, PROVINCE, WARD_IDS, WARDS
from services.calendar import default_rules_vn
from services.contracts.catalogue import CalendarDay, UnitKind
from services.db import Database

DATA = Path(__file__).resolve().parents[2] / "data" / "demo-procedures.json"
SINCE = date(2008, 8, 1)

DEPARTMENTS = [  # (number, provincial department, city department)
    ("001", "Sở Tư pháp", "Phòng Tư pháp"),
    ("002", "Sở Tài nguyên và Môi trường", "Phòng Tài nguyên và Môi trường"),
    ("003", "Sở Xây dựng", "Phòng Quản lý đô thị"),
    ("004", "Sở Công Thương", "Phòng Kinh tế"),
    ("005", "Sở Giáo dục và Đào tạo", "Phòng Giáo dục và Đào tạo"),
    ("006", "Sở Lao động - Thương binh và Xã hội", "Phòng Lao động - Thương binh và Xã hội"),
    ("007", "Sở Văn hóa và Thể thao", "Phòng Văn hóa và Thông tin"),
    ("008", "Sở Y tế", "Phòng Y tế"),
    ("009", "Sở Nội vụ", "Phòng Nội vụ"),
]


def _u(
    agency_id: str, name: str, kind: UnitKind, level: str, rank: int, parent: str | None, since: date = SINCE
) -> UnitIn:
    return UnitIn(
        agency_id=agency_id,
        name=name,
        kind=kind,
        level=level,
        level_rank=rank,
        parent_id=parent,
        valid_from=since,
        demo=True,
    )


def hue_2020() -> list[UnitIn]:
    adm, agency = UnitKind.ADMINISTRATIVE, UnitKind.AGENCY
    units = [_u(PROVINCE, "UBND tỉnh Thừa Thiên Huế", adm, "province", 1, None)]
    units += [_u(f"{n}.00.00.H57", dept, agency, "province", 1, PROVINCE) for n, dept, _ in DEPARTMENTS]
    units.append(_u(CITY, "UBND thành phố Huế", adm, "district", 2, PROVINCE))
    units.append(
        _u("010.00.31.H57", "Trung tâm Hành chính công thành phố Huế", agency, "district", 2, CITY, date(2017, 3, 21))
    )
    units += [_u(f"{n}.00.31.H57", f"{dept} thành phố Huế", agency, "district", 2, CITY) for n, _, dept in DEPARTMENTS]
    units += [
        _u(wid, f"UBND phường {name}", adm, "commune", 3, CITY) for wid, name in zip(WARD_IDS, WARDS, strict=True)
    ]
    return units


def two_tier() -> tuple[list[UnitIn], MergeIn]:
    adm = UnitKind.ADMINISTRATIVE
    units = [
        _u("000.00.00.H56", "UBND tỉnh Thanh Hóa (ví dụ hai cấp)", adm, "province", 1, None),
        _u("000.00.01.H56", "UBND thành phố Thanh Hóa (đến 30/6/2025)", adm, "district", 2, "000.00.00.H56"),
        _u("000.01.01.H56", "UBND phường Điện Biên (đến 30/6/2025)", adm, "commune", 3, "000.00.01.H56"),
        _u("000.02.01.H56", "UBND phường Lam Sơn (đến 30/6/2025)", adm, "commune", 3, "000.00.01.H56"),
    ]
    merge = MergeIn(
        sources=["000.01.01.H56", "000.02.01.H56"],
        new_unit=_u("000.40.00.H56", "UBND phường Hạc Thành", adm, "commune", 2, "000.00.00.H56", date(2025, 7, 1)),
        effective_from=date(2025, 7, 1),
    )
    return units, merge


async def seed_units(session: AsyncSession, prefix: str) -> int:
    created = 0
    units, merge = two_tier()
    for body in [*hue_2020(), *units]:
        if await repo.unit(session, body.agency_id) is None:
            await svc.create_unit(session, prefix, body)
            created += 1
    first = await repo.unit(session, merge.sources[0])
    if first is not None and first.valid_to is None:
        await svc.merge_units(session, prefix, merge, allow_past=True)
        # The district level is gone too: close it (no successor: its tasks moved to province and communes).
        district = await repo.unit(session, "000.00.01.H56")
        assert district is not None
        district.valid_to = merge.effective_from
        district.revision += 1
        await session.flush()
        await svc._publish_unit(session, prefix, district)
    return created


async def seed_calendar(session: AsyncSession, prefix: str) -> None:
    rules = default_rules_vn()
    years = sorted({d.year for d in rules.extra_days_off | rules.extra_working_days})
    for year in years:
        if await repo.calendar_year(session, year) is not None:
            continue
        days = [CalendarDay(day=d, kind="off", note="demo: nghỉ bù") for d in rules.extra_days_off if d.year == year]
        days += [
            CalendarDay(day=d, kind="work", note="demo: làm bù") for d in rules.extra_working_days if d.year == year
        ]
        await svc.set_calendar_year(session, prefix, year, days)


async def seed(db: Database, prefix: str, *, data: Path = DATA, progress: bool = True) -> ImportReport:
    async with db.sessionmaker() as session, session.begin():
        await seed_units(session, prefix)
        await seed_calendar(session, prefix)
    raw = await asyncio.to_thread(data.read_bytes)
    records = importer.read_records(raw, "json")
    bar = tqdm(total=len(records), desc="demo procedures", unit="row", disable=not progress)
    try:
        async with db.sessionmaker() as session, session.begin():
            return await importer.import_records(
                session, prefix, records, source_name=data.name, fmt="json", sha256="seed", progress=bar.update
            )
    finally:
        bar.close()


def main() -> None:
    settings = Settings()

    async def run() -> ImportReport:
        db = Database(settings.database_url, service=settings.service_name)
        try:
            return await seed(db, settings.topic_prefix)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    print(
        f"catalogue seeded (demo data): {report.created} created, {report.amended} amended, "
        f"{report.unchanged} unchanged, {report.rejected} rejected"
    )
    if report.rejected:
        for r in report.rows:
            if r.outcome == "rejected":
                print(f"  row {r.row} ({r.code}): {'; '.join(r.errors)}")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
