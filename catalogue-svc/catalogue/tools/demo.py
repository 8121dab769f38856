"""DEMO DATA generator: a catalogue shaped like the Huế 2020 seed report. NOT an official record.

319 city-level procedures in 14 fields (46 inter-level ward → city → province, 294 online at level 3/4) and the
ward-level procedures listed at the 27 ward desks. Names and fields are real where known; codes of the form
``1.9xxxxx`` / ``2.9xxxxx``, fees, deadlines and decision numbers are plausible inventions. Every record carries
``"DEMO": true``.

    PYTHONPATH=.:catalogue-svc python -m catalogue.tools.demo > catalogue-svc/data/demo-procedures.json
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

PROVINCE = "000.00.00.H57"
CITY = "000.00.31.H57"
WARDS = [
    "An Cựu", "An Đông", "An Hòa", "An Tây", "Hương Long", "Hương Sơ", "Kim Long", "Phú Bình", "Phú Cát",
    "Phú Hậu", "Phú Hiệp", "Phú Hòa", "Phú Hội", "Phú Nhuận", "Phú Thuận", "Phước Vĩnh", "Phường Đúc", "Tây Lộc",
    "Thuận Hòa", "Thuận Lộc", "Thuận Thành", "Thủy Biều", "Thủy Xuân", "Trường An", "Vĩnh Ninh", "Vỹ Dạ",
    "Xuân Phú",
]  # fmt: skip
WARD_IDS = [f"000.{i + 1:02d}.31.H57" for i in range(len(WARDS))]

# field code, name, city-level count, inter-level count, city department (demo id), province department (demo id)
CITY_FIELDS: list[tuple[str, str, int, int, str, str]] = [
    ("G09-HT", "Hộ tịch", 30, 6, "001.00.31.H57", "001.00.00.H57"),
    ("G09-CT", "Chứng thực", 12, 0, "001.00.31.H57", "001.00.00.H57"),
    ("G09-DD", "Đất đai", 35, 15, "002.00.31.H57", "002.00.00.H57"),
    ("G09-XD", "Xây dựng", 20, 5, "003.00.31.H57", "003.00.00.H57"),
    ("G09-HKD", "Thành lập và hoạt động của hộ kinh doanh", 10, 0, "004.00.31.H57", "004.00.00.H57"),
    ("G09-HTX", "Thành lập và hoạt động của hợp tác xã", 8, 0, "004.00.31.H57", "004.00.00.H57"),
    ("G09-GD", "Giáo dục và Đào tạo", 30, 0, "005.00.31.H57", "005.00.00.H57"),
    ("G09-BTXH", "Bảo trợ xã hội", 25, 5, "006.00.31.H57", "006.00.00.H57"),
    ("G09-NCC", "Người có công", 30, 15, "006.00.31.H57", "006.00.00.H57"),
    ("G09-VH", "Văn hóa", 20, 0, "007.00.31.H57", "007.00.00.H57"),
    ("G09-YT", "Y tế", 10, 0, "008.00.31.H57", "008.00.00.H57"),
    ("G09-MT", "Môi trường", 15, 0, "002.00.31.H57", "002.00.00.H57"),
    ("G09-NV", "Nội vụ, thi đua khen thưởng và tôn giáo", 34, 0, "009.00.31.H57", "009.00.00.H57"),
    ("G09-LTHH", "Lưu thông hàng hóa trong nước", 40, 0, "004.00.31.H57", "004.00.00.H57"),
]

KNOWN: dict[str, list[str]] = {
    "G09-HT": [
        "Đăng ký khai sinh có yếu tố nước ngoài", "Đăng ký kết hôn có yếu tố nước ngoài",
        "Đăng ký khai tử có yếu tố nước ngoài", "Đăng ký nhận cha, mẹ, con có yếu tố nước ngoài",
        "Thay đổi, cải chính, bổ sung thông tin hộ tịch, xác định lại dân tộc",
        "Ghi vào Sổ hộ tịch việc kết hôn của công dân Việt Nam đã được giải quyết tại cơ quan có thẩm quyền của nước ngoài",  # noqa: E501
        "Ghi vào Sổ hộ tịch việc ly hôn, hủy việc kết hôn của công dân Việt Nam đã được giải quyết tại cơ quan có thẩm quyền của nước ngoài",  # noqa: E501
        "Đăng ký giám hộ có yếu tố nước ngoài", "Đăng ký lại khai sinh có yếu tố nước ngoài",
    ],
    "G09-CT": [
        "Chứng thực bản sao từ bản chính giấy tờ, văn bản do cơ quan tổ chức có thẩm quyền của nước ngoài cấp",
        "Chứng thực chữ ký người dịch mà người dịch là cộng tác viên dịch thuật",
        "Chứng thực hợp đồng, giao dịch liên quan đến tài sản là động sản",
        "Chứng thực việc sửa đổi, bổ sung, hủy bỏ hợp đồng, giao dịch",
    ],
    "G09-DD": [
        "Đăng ký, cấp Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác gắn liền với đất lần đầu",
        "Đăng ký biến động quyền sử dụng đất, quyền sở hữu tài sản gắn liền với đất",
        "Chuyển mục đích sử dụng đất phải được phép của cơ quan nhà nước có thẩm quyền",
        "Tách thửa hoặc hợp thửa đất", "Cấp lại Giấy chứng nhận do bị mất", "Giao đất, cho thuê đất",
        "Gia hạn sử dụng đất ngoài khu công nghệ cao, khu kinh tế",
        "Xóa đăng ký cho thuê, cho thuê lại, góp vốn bằng quyền sử dụng đất",
    ],
    "G09-XD": [
        "Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ", "Cấp giấy phép sửa chữa, cải tạo đối với nhà ở riêng lẻ",
        "Cấp giấy phép di dời đối với nhà ở riêng lẻ", "Điều chỉnh giấy phép xây dựng đối với nhà ở riêng lẻ",
        "Gia hạn giấy phép xây dựng", "Cấp lại giấy phép xây dựng",
        "Thẩm định báo cáo kinh tế - kỹ thuật đầu tư xây dựng",
    ],
    "G09-HKD": [
        "Đăng ký thành lập hộ kinh doanh", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh",
        "Tạm ngừng hoạt động hộ kinh doanh", "Chấm dứt hoạt động hộ kinh doanh",
        "Cấp lại Giấy chứng nhận đăng ký hộ kinh doanh",
    ],
    "G09-HTX": [
        "Đăng ký thành lập hợp tác xã", "Đăng ký thay đổi tên, địa chỉ trụ sở chính của hợp tác xã",
        "Giải thể tự nguyện hợp tác xã", "Đăng ký thành lập chi nhánh, văn phòng đại diện của hợp tác xã",
    ],
    "G09-GD": [
        "Thành lập trường mầm non, trường mẫu giáo, nhà trẻ công lập",
        "Cho phép trường mầm non, trường mẫu giáo, nhà trẻ hoạt động giáo dục",
        "Thành lập trường tiểu học công lập", "Thành lập trường trung học cơ sở công lập",
        "Chuyển trường đối với học sinh trung học cơ sở", "Cấp bản sao văn bằng, chứng chỉ từ sổ gốc",
        "Công nhận xã đạt chuẩn phổ cập giáo dục, xóa mù chữ",
    ],
    "G09-BTXH": [
        "Thực hiện, điều chỉnh, thôi hưởng trợ cấp xã hội hàng tháng, hỗ trợ kinh phí chăm sóc, nuôi dưỡng hàng tháng",
        "Tiếp nhận đối tượng bảo trợ xã hội có hoàn cảnh đặc biệt khó khăn vào cơ sở trợ giúp xã hội",
        "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội", "Đăng ký thành lập cơ sở trợ giúp xã hội ngoài công lập",  # noqa: E501
    ],
    "G09-NCC": [
        "Giải quyết chế độ trợ cấp thờ cúng liệt sĩ", "Giải quyết chế độ ưu đãi đối với Bà mẹ Việt Nam anh hùng",
        "Hỗ trợ người có công đi làm phương tiện, dụng cụ chỉnh hình",
        "Giải quyết trợ cấp một lần đối với người có thành tích tham gia kháng chiến",
        "Thăm viếng mộ liệt sĩ", "Di chuyển hài cốt liệt sĩ",
    ],
    "G09-VH": [
        "Cấp giấy phép kinh doanh karaoke", "Cấp giấy phép tổ chức lễ hội",
        "Công nhận lần đầu Cơ quan đạt chuẩn văn hóa", "Thông báo tổ chức lễ hội",
    ],
    "G09-YT": [
        "Cấp giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
        "Cấp Giấy xác nhận kiến thức về an toàn thực phẩm", "Xác nhận bảng công bố sản phẩm",
    ],
    "G09-MT": [
        "Xác nhận đăng ký kế hoạch bảo vệ môi trường", "Đăng ký khai thác nước dưới đất",
        "Tham vấn ý kiến trong quá trình đánh giá tác động môi trường",
    ],
    "G09-NV": [
        "Tặng Giấy khen của Chủ tịch UBND cấp huyện về thành tích thực hiện nhiệm vụ chính trị",
        "Tặng danh hiệu Lao động tiên tiến", "Tặng danh hiệu Chiến sĩ thi đua cơ sở",
        "Thông báo tổ chức quyên góp trong địa bàn một huyện của cơ sở tín ngưỡng, tổ chức tôn giáo",
        "Đề nghị tổ chức đại hội của tổ chức tôn giáo cơ sở", "Thành lập hội có phạm vi hoạt động trong huyện",
    ],
    "G09-LTHH": [
        "Cấp Giấy phép bán lẻ sản phẩm thuốc lá", "Cấp lại Giấy phép bán lẻ sản phẩm thuốc lá",
        "Cấp Giấy phép bán lẻ rượu", "Cấp Giấy phép sản xuất rượu thủ công nhằm mục đích kinh doanh",
        "Cấp Giấy chứng nhận đủ điều kiện cửa hàng bán lẻ LPG chai",
    ],
}  # fmt: skip

VARIANTS = ["Cấp lại", "Điều chỉnh", "Gia hạn", "Cấp đổi", "Thu hồi", "Xác nhận", "Đính chính"]

WARD_PROCEDURES: list[tuple[str, str, str, int, int]] = [
    # (code, name, field, working days, fee)
    ("1.001193", "Đăng ký khai sinh", "G09-HT", 0, 0),
    ("1.000894", "Đăng ký kết hôn", "G09-HT", 0, 0),
    ("1.000656", "Đăng ký khai tử", "G09-HT", 0, 0),
    ("1.004837", "Đăng ký nhận cha, mẹ, con", "G09-HT", 3, 0),
    ("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", "G09-HT", 3, 3000),
    ("1.004884", "Đăng ký lại khai sinh", "G09-HT", 5, 5000),
    ("1.001022", "Đăng ký giám hộ", "G09-HT", 3, 5000),
    ("1.004859", "Đăng ký khai sinh kết hợp đăng ký nhận cha, mẹ, con", "G09-HT", 3, 0),
    ("2.000815", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", "G09-CT", 0, 2000),
    ("2.000884", "Chứng thực chữ ký trong các giấy tờ, văn bản", "G09-CT", 0, 10000),
    ("2.001035", "Chứng thực hợp đồng, giao dịch liên quan đến tài sản là động sản, quyền sử dụng đất", "G09-CT", 2, 50000),  # noqa: E501
    ("1.001776", "Thực hiện trợ cấp xã hội hàng tháng khi đối tượng thay đổi nơi cư trú", "G09-BTXH", 10, 0),
    ("1.001731", "Xác nhận hộ gia đình làm nông nghiệp có mức sống trung bình", "G09-BTXH", 7, 0),
    ("1.003545", "Đăng ký hoạt động tín ngưỡng", "G09-NV", 15, 0),
    ("1.000775", "Công nhận hộ gia đình văn hóa", "G09-VH", 5, 0),
    ("1.003622", "Hòa giải tranh chấp đất đai", "G09-DD", 45, 0),
]  # fmt: skip

ROUTE = [
    {"THUTU": 1, "CAP": "commune", "NHIEMVU": "Tiếp nhận, xác nhận hồ sơ", "TYLE": 20},
    {"THUTU": 2, "CAP": "district", "NHIEMVU": "Thẩm định, trình", "TYLE": 40},
    {"THUTU": 3, "CAP": "province", "NHIEMVU": "Quyết định, trả kết quả", "TYLE": 40},
]


def _names(field: str, n: int, rng: random.Random) -> list[str]:
    base = KNOWN[field]
    names = list(base)
    i = 0
    while len(names) < n:
        variant = VARIANTS[(i // len(base)) % len(VARIANTS)]
        target = base[i % len(base)]
        candidate = f"{variant} {target[0].lower()}{target[1:]}"
        if (i // len(base)) >= len(VARIANTS):
            candidate = f"{candidate} (trường hợp {i // (len(base) * len(VARIANTS)) + 1})"
        if candidate not in names:
            names.append(candidate)
        i += 1
    return names[:n]


def _fee(field: str, rng: random.Random) -> int:
    table = {"G09-HT": [0, 5000, 8000], "G09-CT": [2000, 10000, 50000], "G09-DD": [25000, 50000, 100000],
             "G09-XD": [75000, 100000], "G09-HKD": [100000], "G09-HTX": [100000], "G09-VH": [0, 500000]}  # fmt: skip
    return rng.choice(table.get(field, [0]))


def _record(code: str, name: str, field: str, field_name: str, levels: list[str], days: int, fee: int,
            agency: str, mucdo: str, units: list[dict[str, Any]], route: list[dict[str, Any]] | None) -> dict[str, Any]:  # fmt: skip  # noqa: E501
    time: dict[str, Any] = {
        "THOIGIANGIAIQUYET": days,
        "DONVITINH": "Ngày làm việc" if days else "Trả ngay",
        "PHILEPHI": [{"MAPHILEPHI": "LP1", "SOTIEN": fee, "DONVI": "VNĐ", "MOTA": "Lệ phí"}] if fee else [],
    }
    channels: list[dict[str, Any]] = [{"KENH": 1, "THOIGIAN": [time]}]
    if mucdo in ("3", "4"):
        channels.append({"KENH": 2, "THOIGIAN": [time]})
    channels.append({"KENH": 3, "THOIGIAN": [time]})
    rec: dict[str, Any] = {
        "MATTHC": code,
        "TENTTHC": name,
        "MACOQUANCONGBO": PROVINCE,
        "TRANGTHAI": 1,
        "LINHVUCTHUCHIEN": [{"MALINHVUC": field, "TENLINHVUC": field_name}],
        "CAPTHUCHIEN": levels,
        "CACHTHUCTHUCHIEN": channels,
        "THANHPHANHOSO": [
            {
                "GIAYTO": [
                    {"MAGIAYTO": "TK", "TENGIAYTO": "Tờ khai / đơn đề nghị theo mẫu", "TENMAUDON": "Mẫu 01"},
                    {"MAGIAYTO": "CCCD", "TENGIAYTO": "Căn cước công dân (bản sao)", "SOBANCHINH": 0, "SOBANSAO": 1},
                ]
            }
        ],
        "DOITUONGTHUCHIEN": ["Công dân Việt Nam", "Tổ chức"]
        if field in ("G09-XD", "G09-DD")
        else ["Công dân Việt Nam"],
        "KETQUATHUCHIEN": [{"TENKETQUA": "Văn bản / giấy tờ kết quả giải quyết"}],
        "CANCUPHAPLY": [{"SOVANBAN": "61/2018/NĐ-CP", "TENVANBAN": "Nghị định về thực hiện cơ chế một cửa"}],
        "COQUANTHUCHIEN": [{"TENDONVI": agency}],
        "MUCDO": mucdo,
        "QUYETDINH": {"SOQUYETDINH": "1234/QĐ-UBND (demo)", "NGAYBANHANH": "2020-05-20", "NGAYHIEULUC": "2020-06-01"},
        "DONVITIEPNHAN": units,
        "DEMO": True,
    }
    if route:
        rec["LIENTHONG"] = route
    return rec


def build_records() -> list[dict[str, Any]]:
    rng = random.Random(2020)
    records: list[dict[str, Any]] = []
    # 294 of the 319 city-level procedures online; the 25 offline ones spread over the fields.
    offline = set(rng.sample(range(319), 25))
    n = 0
    for field, field_name, count, inter, city_dept, prov_dept in CITY_FIELDS:
        for i, name in enumerate(_names(field, count, rng)):
            code = f"1.9{n + 1:05d}"
            mucdo = "2" if n in offline else ("4" if rng.random() < 0.35 else "3")
            online = {"2": "none", "3": "partial", "4": "full"}[mucdo]
            units = [{"MADONVI": CITY, "MUCDO": online, "BUUCHINH": True}]
            route = None
            levels = ["district"]
            if i < inter:  # inter-level: received at the ward desks, processed at city then province
                route = [dict(s) for s in ROUTE]
                route[1]["MADONVI"] = city_dept
                route[2]["MADONVI"] = prov_dept
                levels = ["commune", "district", "province"]
                units += [{"MADONVI": w, "MUCDO": online} for w in WARD_IDS]
            days = rng.choice([3, 5, 7, 10, 15, 20]) if field not in ("G09-CT",) else rng.choice([0, 1, 2])
            records.append(
                _record(
                    code,
                    name,
                    field,
                    field_name,
                    levels,
                    days,
                    _fee(field, rng),
                    f"UBND thành phố Huế ({field_name})",
                    mucdo,
                    units,
                    route,
                )
            )
            n += 1
    names = {f: fn for f, fn, *_ in CITY_FIELDS}
    for code, name, field, days, fee in WARD_PROCEDURES:
        units = [{"MADONVI": w, "MUCDO": "partial", "BUUCHINH": True} for w in WARD_IDS]
        records.append(
            _record(code, name, field, names[field], ["commune"], days, fee, "UBND cấp xã", "3", units, None)
        )
    return records


def main() -> None:
    json.dump(build_records(), sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
