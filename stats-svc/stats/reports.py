"""Reports over any date range [from, to] (inclusive Asia/Ho_Chi_Minh business dates) and any unit subtree.

Rules (form II.06a, Circular 01/2018 as used by the one-stop centres):

- *received in the period*: received date (the receipt, form 01) within [from, to]; *online* = channel online,
  *in person or postal* = the rest.
- *carried over*: received before `from` and still open at its start (not resolved, not withdrawn/refused before
  `from`). The form's *received total* = online + in person/postal + carried over (the period's workload), so
  resolved + pending + closed = total.
- *resolved*: resolved date within the period; the resolved date is when processing ended (routing's
  `journey.processed`, or intake's result returned when there was no processing step: see projections.py).
  *early* / *on time* / *late*: resolved date before / on / after the (possibly restarted or extended) appointment
  date.
- *pending*: not resolved and not closed by the end of `to`; *overdue* = appointment date before `to` (a dossier due
  on `to` itself can still be on time at the cut-off), *within time* = the rest.
- *closed*: withdrawn by the applicant or refused at the desk after receipt (not one of the 13 columns, shown so
  that the row adds up).
- An inter-level dossier is one dossier: facts are keyed by dossier id; hops never add rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services import periods, policy
from services.contracts.stats import II06A_HEADERS, II06A_KEYS
from services.identity import Identity
from services.periods import Period
from stats import repository as repo
from stats.settings import Settings

LEVEL_NAMES = {
    "province": "Cấp tỉnh",
    "district": "Cấp huyện / thành phố",
    "city": "Cấp thành phố",
    "commune": "Cấp xã / phường",
    "ward": "Cấp phường",
    "unknown": "Chưa rõ",
}


def period(start: date | None, end: date | None, settings: Settings) -> Period:
    return periods.period(start, end, max_days=settings.max_range_days)


@dataclass(frozen=True)
class Scope:
    """The unit subtree a report covers; `units is None` means every unit (an administrator's whole system)."""

    root: repo.UnitRow | None
    units: frozenset[str] | None
    all_units: dict[str, repo.UnitRow]

    def as_dict(self) -> dict[str, Any]:
        if self.root is None:
            return {"unit": None, "name": "Toàn hệ thống", "level": None}
        return {"unit": self.root.agency_id, "name": self.root.name, "level": self.root.level}


async def scope(session: AsyncSession, who: Identity, unit: str | None) -> Scope:
    """Who may read what: an administrator any unit (or all); a leader their own unit's subtree only."""
    all_units = await repo.units(session)
    parents = {u.agency_id: u.parent_id for u in all_units.values()}
    found = policy.unit_scope(parents, who, unit, reading="reports")
    return Scope(None if found.root is None else all_units[found.root], found.units, all_units)


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def received_summary(session: AsyncSession, p: Period, sc: Scope) -> dict[str, Any]:
    rows = await repo.received_by_unit_channel(session, p.start, p.end, sc.units)
    levels: dict[str, dict[str, Any]] = {}
    total = online = 0
    for unit, channel, n in rows:
        info = sc.all_units.get(unit or "")
        level = info.level if info else "unknown"
        rank = info.level_rank if info else 99
        row = levels.setdefault(
            level,
            {"level": level, "level_name": LEVEL_NAMES.get(level, level), "rank": rank,
             "total": 0, "online": 0, "in_person": 0, "postal": 0},
        )  # fmt: skip
        row["total"] += n
        row[channel if channel in ("online", "in_person", "postal") else "in_person"] += n
        total += n
        online += n if channel == "online" else 0
    by_level = sorted(levels.values(), key=lambda r: (r["rank"], r["level"]))
    for row in by_level:
        row["online_share"] = share(row["online"], row["total"])
        row["in_person_share"] = share(row["in_person"], row["total"])
        row["postal_share"] = share(row["postal"], row["total"])
        del row["rank"]
    return {
        "total": total,
        "online": online,
        "offline": total - online,
        "online_share": share(online, total),
        "by_level": by_level,
    }


async def quarterly(session: AsyncSession, p: Period, sc: Scope, settings: Settings, compare: int) -> dict[str, Any]:
    """The seed's quarterly report for one period, compared with the `compare` periods of equal length before."""
    await repo.plan_for_values(session)
    received = await received_summary(session, p, sc)
    changes = await repo.procedure_changes(session, p.start, p.end, sc.units)
    current = {
        "received": received["total"],
        "online": received["online"],
        "accounts_assisted": await repo.accounts_assisted(session, p.start, p.end, sc.units),
    }
    earlier = []
    for k in range(1, compare + 1):
        q = p.shifted(k)
        r = await received_summary(session, q, sc)
        figures = {
            "received": r["total"],
            "online": r["online"],
            "accounts_assisted": await repo.accounts_assisted(session, q.start, q.end, sc.units),
        }
        earlier.append(
            {
                "period": q.as_dict(),
                **figures,
                "online_share": r["online_share"],
                "change": {key: current[key] - figures[key] for key in figures},
            }
        )
    return {
        "report": "quarterly",
        "period": p.as_dict(),
        "scope": sc.as_dict(),
        "received": received,
        "accounts_assisted": current["accounts_assisted"],
        "procedures": {
            "published": changes.get("new", 0),
            "updated": changes.get("amended", 0) + changes.get("replaced", 0),
            "abolished": changes.get("abolished", 0),
            "online_at_end": await repo.procedures_online(session, p.end, sc.units),
        },
        "earlier_periods": earlier,
    }


def _ii06a_row(counts: dict[str, int]) -> dict[str, int]:
    row = dict(counts)
    row["received_total"] = counts["received_online"] + counts["received_offline"] + counts["carried_over"]
    row["pending_within"] = counts["pending"] - counts["pending_overdue"]
    return row


async def ii06a(session: AsyncSession, p: Period, sc: Scope) -> dict[str, Any]:
    await repo.plan_for_values(session)
    counts = await repo.ii06a_by_field(session, p.start, p.end, sc.units)
    names = await repo.field_names(session)
    rows = []
    totals = dict.fromkeys(II06A_KEYS, 0)
    for field_code in sorted(counts):
        row = _ii06a_row(counts[field_code])
        rows.append({"field_code": field_code, "field_name": names.get(field_code, field_code), **row})
        for key in totals:
            totals[key] += row[key]
    ordered = [{key: r[key] for key, _ in II06A_HEADERS} for r in rows]
    return {
        "report": "II.06a",
        "period": p.as_dict(),
        "scope": sc.as_dict(),
        "columns": [{"key": k, "title": t} for k, t in II06A_HEADERS],
        "rows": ordered,
        "totals": totals,
    }


def score(num: int, den: int, target: float, maximum: float) -> float | None:
    """766: full points when the rate reaches the target, else rate × max ÷ target; none without a denominator."""
    if not den:
        return None
    rate = num / den
    return round(maximum if rate >= target else rate * maximum / target, 2)


async def indicators(session: AsyncSession, p: Period, sc: Scope, settings: Settings) -> dict[str, Any]:
    form = await ii06a(session, p, sc)
    t = form["totals"]
    inputs = await repo.payment_and_online(session, p.start, p.end, sc.units)
    progress_num = t["resolved_early"] + t["resolved_on_time"] + t["pending_within"]
    rows = []

    def add(key: str, title: str, num: int, den: int, target: float, maximum: float, formula: str) -> None:
        rate = share(num, den)
        rows.append(
            {
                "key": key,
                "title": title,
                "numerator": num,
                "denominator": den,
                "rate": rate,
                "target": target,
                "max_points": maximum,
                "score": score(num, den, target, maximum),
                "formula": formula,
            }
        )

    add(
        "progress", "Tiến độ giải quyết", progress_num, t["received_total"],
        settings.indicator_progress_target, settings.indicator_progress_max,
        "(đã giải quyết trước hạn + đúng hạn + đang giải quyết trong hạn) ÷ tổng số tiếp nhận",
    )  # fmt: skip
    add(
        "online", "Dịch vụ trực tuyến", inputs["online_of_online_procedures"], inputs["of_online_procedures"],
        settings.indicator_online_target, settings.indicator_online_max,
        "hồ sơ nộp trực tuyến ÷ hồ sơ của các TTHC có cung cấp dịch vụ công trực tuyến",
    )  # fmt: skip
    add(
        "online_payment", "Thanh toán trực tuyến", inputs["paid_online"], inputs["fee_bearing"],
        settings.indicator_online_payment_target, settings.indicator_online_payment_max,
        "hồ sơ thanh toán trực tuyến ÷ hồ sơ có phí, lệ phí",
    )  # fmt: skip
    scored = [r for r in rows if r["score"] is not None]
    return {
        "report": "766",
        "period": p.as_dict(),
        "scope": sc.as_dict(),
        "indicators": rows,
        "score_total": round(sum(r["score"] for r in scored), 2),
        "score_max": round(sum(r["max_points"] for r in scored), 2),
    }
