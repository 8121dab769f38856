"""The simulation's ground truth, computed from what it did, and its comparison with stats-svc's reports."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from services.contracts.stats import II06A_KEYS
from sim.world import CITY, Days, Dossier


def level_of(unit: str) -> str:
    return "district" if unit == CITY else "commune"


def expected(dossiers: list[Dossier], days: Days, paid: set[int]) -> dict[str, Any]:
    """Every figure the reports must show for the period, scope: the city (its centre and its wards)."""
    start, end = days.start, days.end
    filed = [d for d in dossiers if d.id is not None and start <= days[d.day] <= end]
    fig: dict[str, Any] = {}
    fig["received.total"] = len(filed)
    fig["received.online"] = sum(d.channel == "online" for d in filed)
    for level in ("district", "commune"):
        mine = [d for d in filed if level_of(d.unit) == level]
        fig[f"received.{level}.total"] = len(mine)
        for channel in ("online", "in_person", "postal"):
            fig[f"received.{level}.{channel}"] = sum(d.channel == channel for d in mine)
    fig["accounts_assisted"] = sum(d.assisted for d in filed)
    rows: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(II06A_KEYS, 0))
    for d in filed:
        row = rows[d.procedure.field_code]
        row["received_online" if d.channel == "online" else "received_offline"] += 1
        row["received_total"] += 1
        appointment: date = d.extended_to or d.appointment  # type: ignore[assignment]
        if d.closed_on is not None and d.closed_on <= end:
            row["closed"] += 1
        elif d.processed_on is not None and d.processed_on <= end:
            row["resolved"] += 1
            kind = "early" if d.processed_on < appointment else "on_time" if d.processed_on == appointment else "late"
            row[f"resolved_{kind}"] += 1
        else:
            row["pending"] += 1
            row["pending_overdue" if appointment < end else "pending_within"] += 1
    for field_code, row in sorted(rows.items()):
        for key in II06A_KEYS:
            fig[f"II.06a {field_code} {key}"] = row[key]
    for key in II06A_KEYS:
        fig[f"II.06a total {key}"] = sum(r[key] for r in rows.values())
    fee = [d for d in filed if d.fee_bearing]
    fig["766 online payment: fee-bearing"] = len(fee)
    fig["766 online payment: paid online"] = sum(d.n in paid for d in fee)
    offered = [d for d in filed if d.procedure.online_offered]
    fig["766 online: dossiers of procedures offered online"] = len(offered)
    fig["766 online: of which online"] = sum(d.channel == "online" for d in offered)
    return fig


def reported(quarterly: dict[str, Any], ii06a: dict[str, Any], indicators: dict[str, Any]) -> dict[str, Any]:
    """The same figures as read from stats-svc's reports."""
    fig: dict[str, Any] = {}
    rec = quarterly["received"]
    fig["received.total"] = rec["total"]
    fig["received.online"] = rec["online"]
    levels = {row["level"]: row for row in rec["by_level"]}
    for level in ("district", "commune"):
        row = levels.get(level, {})
        fig[f"received.{level}.total"] = row.get("total", 0)
        for channel in ("online", "in_person", "postal"):
            fig[f"received.{level}.{channel}"] = row.get(channel, 0)
    for level in set(levels) - {"district", "commune"}:
        fig[f"received.{level}.total"] = levels[level]["total"]
    fig["accounts_assisted"] = quarterly["accounts_assisted"]
    for row in ii06a["rows"]:
        for key in II06A_KEYS:
            fig[f"II.06a {row['field_code']} {key}"] = row[key]
    for key in II06A_KEYS:
        fig[f"II.06a total {key}"] = ii06a["totals"][key]
    ind = {row["key"]: row for row in indicators["indicators"]}
    fig["766 online payment: fee-bearing"] = ind["online_payment"]["denominator"]
    fig["766 online payment: paid online"] = ind["online_payment"]["numerator"]
    fig["766 online: dossiers of procedures offered online"] = ind["online"]["denominator"]
    fig["766 online: of which online"] = ind["online"]["numerator"]
    return fig


def compare(truth: dict[str, Any], report: dict[str, Any]) -> tuple[list[str], int]:
    """Lines of a side-by-side table and the number of differences (a figure missing on one side differs too)."""
    keys = list(truth) + [k for k in report if k not in truth]
    width = max(len(k) for k in keys)
    lines = [f"{'figure':<{width}}  {'report':>8}  {'truth':>8}", "-" * (width + 22)]
    differences = 0
    for key in keys:
        got, want = report.get(key, "—"), truth.get(key, "—")
        same = got == want
        differences += not same
        lines.append(f"{key:<{width}}  {got!s:>8}  {want!s:>8}  {'' if same else '  ✗ DIFFERENT'}")
    return lines, differences
