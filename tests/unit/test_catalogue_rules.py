"""The catalogue's date rules (services/contracts): the version in force on a day and a unit valid on a day, in
Python and as SQL conditions, which must agree."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Column, Date, Integer, MetaData, Table, create_engine, insert, select

from services.contracts import catalogue_sql
from services.contracts.catalogue import ProcedureVersion, UnitChanged, UnitKind, VersionStatus, version_in_force

JAN, MAR, JUN = date(2024, 1, 1), date(2024, 3, 1), date(2024, 6, 1)


def _version(n: int, start: date, end: date | None, status: VersionStatus = VersionStatus.ACTIVE) -> ProcedureVersion:
    return ProcedureVersion.model_construct(
        code="1.0001", version=n, effective_from=start, effective_to=end, status=status
    )


VERSIONS = [_version(1, JAN, MAR), _version(2, MAR, JUN), _version(3, JUN, None, VersionStatus.ABOLISHED)]


def test_the_version_in_force_is_the_one_whose_interval_holds_the_day() -> None:
    assert version_in_force(VERSIONS, JAN - timedelta(days=1)) is None
    assert version_in_force(VERSIONS, JAN) is VERSIONS[0]
    assert version_in_force(VERSIONS, MAR - timedelta(days=1)) is VERSIONS[0]
    assert version_in_force(VERSIONS, MAR) is VERSIONS[1]  # the next version's first day is not the old one's
    found = version_in_force(VERSIONS, date(2030, 1, 1))
    assert found is VERSIONS[2] and not found.accepts_dossiers  # an abolition stays in force and takes nothing


def test_a_unit_is_valid_until_the_day_it_closes() -> None:
    unit = UnitChanged(
        agency_id="000.00.31.H57",
        revision=2,
        name="Phường A",
        kind=UnitKind.ADMINISTRATIVE,
        level="commune",
        level_rank=3,
        valid_from=JAN,
        valid_to=MAR,
    )
    assert [unit.valid_on(d) for d in (JAN - timedelta(days=1), JAN, MAR - timedelta(days=1), MAR)] == [
        False,
        True,
        True,
        False,
    ]


def test_the_sql_conditions_agree_with_the_python_rules() -> None:
    rows = Table(
        "spans", MetaData(), Column("id", Integer, primary_key=True), Column("start", Date), Column("end", Date)
    )
    spans = {1: (JAN, MAR), 2: (MAR, None), 3: (JUN, JUN + timedelta(days=1))}
    engine = create_engine("sqlite://")
    rows.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(rows), [{"id": i, "start": s, "end": e} for i, (s, e) in spans.items()])
        for day in (JAN - timedelta(days=1), JAN, MAR - timedelta(days=1), MAR, JUN, JUN + timedelta(days=1)):
            expected = {i for i, (s, e) in spans.items() if _version(i, s, e).in_force_on(day)}
            for rule in (catalogue_sql.in_force_on, catalogue_sql.valid_on):
                found = set(conn.scalars(select(rows.c.id).where(rule(rows.c.start, rows.c.end, day))))
                assert found == expected, (rule.__name__, day)
