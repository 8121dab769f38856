"""The answers of stats-svc's report endpoints. Fields are declared in the order the answers list them; a count
that can be a whole number or a fraction (a sum of points) is `int | float` so that it keeps the type it was
computed with."""

from __future__ import annotations

from pydantic import BaseModel, Field, create_model

from services.contracts.stats import II06A_KEYS


class PeriodOut(BaseModel):
    from_: str = Field(alias="from")
    to: str


class ScopeOut(BaseModel):
    unit: str | None
    name: str
    level: str | None


class LevelCounts(BaseModel):
    level: str
    level_name: str
    total: int
    online: int
    in_person: int
    postal: int
    online_share: float | None
    in_person_share: float | None
    postal_share: float | None


class ReceivedSummary(BaseModel):
    total: int
    online: int
    offline: int
    online_share: float | None
    by_level: list[LevelCounts]


class ProcedureChanges(BaseModel):
    published: int
    updated: int
    abolished: int
    online_at_end: int


class Figures(BaseModel):
    received: int
    online: int
    accounts_assisted: int


class EarlierPeriod(BaseModel):
    period: PeriodOut
    received: int
    online: int
    accounts_assisted: int
    online_share: float | None
    change: Figures


class QuarterlyReport(BaseModel):
    report: str
    period: PeriodOut
    scope: ScopeOut
    received: ReceivedSummary
    accounts_assisted: int
    procedures: ProcedureChanges
    earlier_periods: list[EarlierPeriod]


class Column(BaseModel):
    key: str
    title: str


II06aCounts = create_model("II06aCounts", **{key: (int, ...) for key in II06A_KEYS})  # type: ignore[call-overload]
II06aRow = create_model(  # type: ignore[call-overload]
    "II06aRow", field_code=(str, ...), field_name=(str, ...), **{key: (int, ...) for key in II06A_KEYS}
)


class II06aReport(BaseModel):
    report: str
    period: PeriodOut
    scope: ScopeOut
    columns: list[Column]
    rows: list[II06aRow]  # type: ignore[valid-type]
    totals: II06aCounts  # type: ignore[valid-type]


class Indicator(BaseModel):
    key: str
    title: str
    numerator: int
    denominator: int
    rate: float | None
    target: int | float
    max_points: int | float
    score: int | float | None
    formula: str


class IndicatorsReport(BaseModel):
    report: str
    period: PeriodOut
    scope: ScopeOut
    indicators: list[Indicator]
    score_total: int | float
    score_max: int | float
