"""Search (diacritics, typos, filters, listing) on the seeded demo catalogue; imports JSON / CSV / Excel."""

from __future__ import annotations

import csv
import io
import json

import openpyxl
import pytest
from catalogue.settings import Settings
from catalogue.tools.seed import seed

from services.db import Database
from tests.catalogue.support import ADMIN, PORTAL, WARD_A, catalogue, ok, small_structure, today
from tests.conftest import Broker, DatabaseFactory

pytestmark = pytest.mark.kafka
CITY = "000.00.31.H57"


async def test_seeded_catalogue_search_and_listing(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    url = await databases.new("cat")
    async with catalogue(url, broker.bootstrap, topic_prefix) as client:
        db = Database(url, service="catalogue")
        try:
            report = await seed(db, topic_prefix, progress=False)
            assert (report.created, report.rejected) == (335, 0)
            again = await seed(db, topic_prefix, progress=False)  # idempotent
            assert (again.created, again.amended, again.unchanged) == (0, 0, 335)
        finally:
            await db.dispose()

        async def search(**params: object) -> dict:  # type: ignore[type-arg]
            return ok(await client.get("/procedures", params=params, headers=PORTAL))  # type: ignore[arg-type]

        plain = await search(q="ho tich", size=200)
        accented = await search(q="hộ tịch", size=200)
        assert plain["total"] == accented["total"] > 0
        assert all("tịch" in h["name"].lower() for h in plain["items"])
        d_fold = await search(q="dang ky khai sinh")
        assert d_fold["items"][0]["name"] == "Đăng ký khai sinh"
        typo = await search(q="giay phep xay dugn")
        assert typo["total"] > 0 and all("xây dựng" in h["name"] for h in typo["items"])
        assert (await search(q="1.001193"))["items"][0]["code"] == "1.001193"

        by_field = await search(field="G09-DD", size=5, page=2)
        assert by_field["total"] == 36 and len(by_field["items"]) == 5 and by_field["page"] == 2
        inter = await search(level="province", size=200)
        assert inter["total"] == 46 and all(h["inter_level"] for h in inter["items"])
        ward_full = await search(unit="000.01.31.H57", online_level="partial", size=200)
        assert ward_full["total"] > 0
        assert (await search(online_level="none", field="G09-HT"))["total"] <= 30

        city = ok(await client.get(f"/listing/{CITY}", headers=PORTAL))
        assert city["total"] == 319 and len(city["by_field"]) == 14
        assert city["by_level"]["province"] == 46
        assert city["by_online_level"].get("none", 0) == 319 - 294
        ward = ok(await client.get("/listing/000.13.31.H57", headers=PORTAL))
        assert ward["total"] == 46 + 16 and ward["unit_name"] == "UBND phường Phú Hội"
        two_tier = ok(await client.get("/units/000.40.00.H56", headers=PORTAL))["unit"]
        assert (
            two_tier["predecessor_ids"] == ["000.01.01.H56", "000.02.01.H56"]
            and two_tier["parent_id"] == "000.00.00.H56"
        )


def _national(code: str, name: str, fee: object = 8000, **extra: object) -> dict:  # type: ignore[type-arg]
    rec = {
        "MATTHC": code,
        "TENTTHC": name,
        "TRANGTHAI": 1,
        "LINHVUCTHUCHIEN": [{"MALINHVUC": "G01-HT", "TENLINHVUC": "Hộ tịch"}],
        "CAPTHUCHIEN": ["Cấp Xã"],
        "CACHTHUCTHUCHIEN": [
            {"KENH": 1, "THOIGIAN": [{"THOIGIANGIAIQUYET": 3, "DONVITINH": "Ngày làm việc",
                                      "PHILEPHI": [{"MAPHILEPHI": "LP", "SOTIEN": fee, "MOTA": "Lệ phí"}]}]},
            {"KENH": 2},
        ],
        "THANHPHANHOSO": [{"GIAYTO": [{"MAGIAYTO": "TK", "TENGIAYTO": "Tờ khai", "TENMAUDON": "Mẫu 01"}]}],
        "DOITUONGTHUCHIEN": "Công dân Việt Nam",
        "KETQUATHUCHIEN": [{"TENKETQUA": "Giấy xác nhận"}],
        "CANCUPHAPLY": [{"SOVANBAN": "123/2015/NĐ-CP", "TENVANBAN": "Nghị định hộ tịch"}],
        "COQUANTHUCHIEN": [{"MADONVI": "x", "TENDONVI": "UBND cấp xã"}],
        "MUCDO": "4",
        "DONVITIEPNHAN": [{"MADONVI": WARD_A}],
        "QUYETDINH": {"SOQUYETDINH": "1/QĐ", "NGAYBANHANH": "2019-12-01", "NGAYHIEULUC": "2020-01-01"},
    }  # fmt: skip
    rec.update(extra)
    return rec


async def test_imports_are_idempotent_and_report_rejected_rows(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with catalogue(await databases.new("cat"), broker.bootstrap, topic_prefix) as client:
        await small_structure(client)
        records = [
            _national("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân"),
            _national("1.004884", "Đăng ký lại khai sinh", fee=-5),
            _national("1.004837", "Đăng ký nhận cha, mẹ, con", CAPTHUCHIEN=["Cấp Thôn"]),
            _national("12345", "Mã sai"),
            _national("1.001022", ""),
            _national("1.000656", "Đăng ký khai tử", DONVITIEPNHAN=[{"MADONVI": "999.99.99.H57"}]),
            _national("1.000657", "Lĩnh vực lạ", LINHVUCTHUCHIEN=[{"MALINHVUC": "G77-XX"}]),
            _national("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân (khác)"),
            "not an object",
        ]
        raw = json.dumps(records, ensure_ascii=False).encode()

        async def run(body: bytes, fmt: str) -> dict:  # type: ignore[type-arg]
            return ok(
                await client.post("/imports", params={"format": fmt, "name": f"x.{fmt}"}, content=body, headers=ADMIN)
            )

        first = await run(raw, "json")
        assert (first["created"], first["rejected"], first["total"]) == (1, 8, 9)
        why = {r["row"]: " ".join(r["errors"]) for r in first["rows"] if r["outcome"] == "rejected"}
        assert "negative" in why[2] and "CAPTHUCHIEN" in why[3] and "MATTHC" in why[4] and "TENTTHC" in why[5]
        assert "999.99.99.H57" in why[6] and "G77-XX" in why[7] and "twice" in why[8] and "not an object" in why[9]
        second = await run(raw, "json")
        assert (second["created"], second["unchanged"], second["rejected"]) == (0, 1, 8)
        stored = ok(await client.get(f"/imports/{second['id']}", headers=ADMIN))
        assert stored["rows"] == second["rows"]
        made = ok(await client.get("/procedures/1.004873", headers=PORTAL))
        v = made["in_force"]
        assert v["content"]["online_level"] == "full" and v["content"]["legacy_online_level"] == 4
        assert v["content"]["fees"][0]["amount"] == 8000 and v["effective_from"] == "2020-01-01"
        assert made["units"][0]["agency_id"] == WARD_A

        # An amended row (new fee, effective later) becomes version 2; the old version stays.
        changed = [_national("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", fee=10000,
                             QUYETDINH={"SOQUYETDINH": "2/QĐ", "NGAYHIEULUC": today(5)})]  # fmt: skip
        amended = await run(json.dumps(changed).encode(), "json")
        assert amended["amended"] == 1
        assert len(ok(await client.get("/procedures/1.004873/versions", headers=PORTAL))) == 2
        assert (await run(json.dumps(changed).encode(), "json"))["unchanged"] == 1

        # CSV and Excel: flat rows.
        header = ["MATTHC", "TENTTHC", "MALINHVUC", "TENLINHVUC", "CAPTHUCHIEN", "THOIGIANGIAIQUYET", "DONVITINH",
                  "PHILEPHI", "THANHPHANHOSO", "MUCDO", "DONVITIEPNHAN", "NGAYHIEULUC"]  # fmt: skip
        rows = [
            ["2.000815", "Chứng thực bản sao từ bản chính", "G01-CT", "Chứng thực", "Cấp Xã", "0", "Trả ngay",
             "Phí chứng thực=2000", "Bản chính; Bản sao", "3", WARD_A, "2020-01-01"],
            ["2.000884", "Chứng thực chữ ký", "G01-CT", "Chứng thực", "Cấp Xã", "abc", "Ngày làm việc", "", "", "", "", ""],  # noqa: E501
        ]  # fmt: skip
        buf = io.StringIO()
        csv.writer(buf).writerows([header, *rows])
        c1 = await run(buf.getvalue().encode("utf-8-sig"), "csv")
        assert (c1["created"], c1["rejected"]) == (1, 1) and "THOIGIANGIAIQUYET" in c1["rows"][1]["errors"][0]
        assert (await run(buf.getvalue().encode(), "csv"))["unchanged"] == 1
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.append(header)
        ws.append(["2.001035", "Chứng thực hợp đồng, giao dịch", "G01-CT", "Chứng thực", "Cấp Xã", 2, "Ngày làm việc",
                   "Lệ phí=50000", "Hợp đồng", "4", WARD_A, "2020-01-01"])  # fmt: skip
        out = io.BytesIO()
        wb.save(out)
        x1 = await run(out.getvalue(), "xlsx")
        assert x1["created"] == 1, x1
        assert (await run(out.getvalue(), "xlsx"))["unchanged"] == 1
        hit = ok(await client.get("/procedures", params={"q": "chung thuc hop dong"}, headers=PORTAL))
        assert hit["items"][0]["code"] == "2.001035"
        bad = await client.post("/imports", params={"format": "json"}, content=b"{oops", headers=ADMIN)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        assert (await client.post("/imports", content=raw, headers=PORTAL)).status_code == 403
        _ = Settings
