"""Downloads for officials (CSV, Excel) and the printable HTML page with server-side SVG charts."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from services.contracts.stats import II06A_HEADERS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def ii06a_csv(form: dict[str, Any]) -> str:
    """UTF-8 with BOM (Excel opens Vietnamese text correctly), one row per field, then the totals."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([title for _, title in II06A_HEADERS])
    for row in form["rows"]:
        writer.writerow([row[key] for key, _ in II06A_HEADERS])
    writer.writerow(["", "Tổng cộng", *(form["totals"][key] for key, _ in II06A_HEADERS[2:])])
    return out.getvalue()


def _sheet_title(ws: Any, title: str, subtitle: str, width: int) -> None:
    ws.append([title])
    ws.append([subtitle])
    ws["A1"].font = Font(bold=True, size=13)
    ws.append([])
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 40
    for col in range(3, width + 1):
        ws.column_dimensions[ws.cell(row=1, column=col).column_letter].width = 14


def workbook(quarterly: dict[str, Any], form: dict[str, Any], indicators: dict[str, Any]) -> bytes:
    """One workbook: sheet "II.06a" (header on row 4, fields from row 5, totals last), "Quý", "766"."""
    wb = Workbook()
    ws = wb.active
    ws.title = "II.06a"
    p = form["period"]
    scope_name = form["scope"]["name"]
    _sheet_title(ws, "Biểu II.06a: tình hình giải quyết hồ sơ TTHC", f"{scope_name}, {p['from']} – {p['to']}",
                 len(II06A_HEADERS))  # fmt: skip
    ws.append([title for _, title in II06A_HEADERS])
    for cell in ws[4]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in form["rows"]:
        ws.append([row[key] for key, _ in II06A_HEADERS])
    ws.append(["", "Tổng cộng", *(form["totals"][key] for key, _ in II06A_HEADERS[2:])])
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    ws.freeze_panes = "C5"

    q = wb.create_sheet("Quý")
    _sheet_title(q, "Báo cáo kết quả tiếp nhận hồ sơ", f"{scope_name}, {p['from']} – {p['to']}", 6)
    r = quarterly["received"]
    q.append(["Chỉ tiêu", "Giá trị", "Tỷ lệ"])
    q.append(["Tổng hồ sơ tiếp nhận", r["total"], None])
    q.append(["Tiếp nhận trực tuyến", r["online"], r["online_share"]])
    q.append(["Tài khoản DVC được hỗ trợ tạo", quarterly["accounts_assisted"], None])
    procs = quarterly["procedures"]
    q.append(["TTHC công bố mới", procs["published"], None])
    q.append(["TTHC sửa đổi, thay thế", procs["updated"], None])
    q.append(["TTHC bãi bỏ", procs["abolished"], None])
    q.append(["TTHC trực tuyến (cuối kỳ)", procs["online_at_end"], None])
    q.append([])
    q.append(["Cấp tiếp nhận", "Tổng", "Trực tuyến", "Tỷ lệ trực tuyến", "Trực tiếp", "Bưu chính"])
    for lv in r["by_level"]:
        q.append([lv["level_name"], lv["total"], lv["online"], lv["online_share"], lv["in_person"], lv["postal"]])
    q.append([])
    q.append(["Kỳ trước", "Tổng", "Trực tuyến", "Chênh lệch tổng", "Chênh lệch trực tuyến"])
    for e in quarterly["earlier_periods"]:
        q.append([f"{e['period']['from']} – {e['period']['to']}", e["received"], e["online"],
                  e["change"]["received"], e["change"]["online"]])  # fmt: skip

    k = wb.create_sheet("766")
    _sheet_title(k, "Chỉ số theo Quyết định 766/QĐ-TTg", f"{scope_name}, {p['from']} – {p['to']}", 7)
    k.append(["Chỉ số", "Tử số", "Mẫu số", "Tỷ lệ", "Mục tiêu", "Điểm tối đa", "Điểm"])
    for row in indicators["indicators"]:
        k.append([row["title"], row["numerator"], row["denominator"], row["rate"], row["target"],
                  row["max_points"], row["score"]])  # fmt: skip
    k.append(["Tổng điểm", None, None, None, None, indicators["score_max"], indicators["score_total"]])

    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------- HTML and charts

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=select_autoescape(["html"]),
)


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.2f}".replace(".", ",") + " %"


def _num(value: int | float | None) -> str:
    return "–" if value is None else f"{value:,}".replace(",", ".")


_env.filters["pct"] = _pct
_env.filters["num"] = _num


def trend_chart(periods: list[dict[str, Any]]) -> dict[str, Any]:
    """Grouped bars (total, online) per period, oldest first; geometry for a 640×240 SVG."""
    width, height, left, bottom, top = 640, 240, 50, 40, 20
    peak = max([p["received"] for p in periods] + [1])
    slot = (width - left - 10) / max(len(periods), 1)
    bars = []
    for i, p in enumerate(periods):
        x = left + i * slot + slot * 0.15
        bw = slot * 0.33
        for j, (key, css) in enumerate((("received", "total"), ("online", "online"))):
            h = (height - bottom - top) * p[key] / peak
            bars.append({"x": round(x + j * bw, 1), "y": round(height - bottom - h, 1), "w": round(bw, 1),
                         "h": round(h, 1), "css": css, "value": p[key]})  # fmt: skip
        bars.append({"label": p["label"], "x": round(x + bw, 1), "y": height - bottom + 16})
    return {"width": width, "height": height, "bars": bars, "axis_y": height - bottom, "left": left}


def share_chart(received: dict[str, Any]) -> dict[str, Any]:
    """One 100 % stacked bar per level: online / in person / postal."""
    rows = []
    for i, lv in enumerate(received["by_level"]):
        x = 0.0
        parts = []
        for key, css in (("online", "online"), ("in_person", "inperson"), ("postal", "postal")):
            w = 460 * lv[key] / lv["total"] if lv["total"] else 0
            parts.append({"x": round(160 + x, 1), "w": round(w, 1), "css": css, "value": lv[key]})
            x += w
        rows.append({"label": lv["level_name"], "y": 10 + i * 40, "parts": parts,
                     "online_share": lv["online_share"]})  # fmt: skip
    return {"width": 640, "height": 20 + 40 * max(len(rows), 1), "rows": rows}


def ontime_chart(form: dict[str, Any]) -> dict[str, Any]:
    """On-time rate ((early + on time) ÷ resolved) per field, as horizontal bars."""
    rows = []
    for i, r in enumerate(form["rows"]):
        rate = (r["resolved_early"] + r["resolved_on_time"]) / r["resolved"] if r["resolved"] else None
        rows.append({"label": r["field_name"][:40], "y": 10 + i * 28, "w": round(360 * (rate or 0), 1),
                     "rate": rate})  # fmt: skip
    return {"width": 640, "height": 20 + 28 * max(len(rows), 1), "rows": rows}


def html_page(quarterly: dict[str, Any], form: dict[str, Any], indicators: dict[str, Any]) -> str:
    periods = [
        {"label": f"{e['period']['from'][5:]}…{e['period']['to'][5:]}", "received": e["received"],
         "online": e["online"]}
        for e in reversed(quarterly["earlier_periods"])
    ]  # fmt: skip
    periods.append({"label": "Kỳ này", "received": quarterly["received"]["total"],
                    "online": quarterly["received"]["online"]})  # fmt: skip
    return _env.get_template("report.html").render(
        q=quarterly,
        form=form,
        ind=indicators,
        trend=trend_chart(periods),
        shares=share_chart(quarterly["received"]),
        ontime=ontime_chart(form),
    )
