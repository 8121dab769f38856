"""What the simulation knows of the world before it starts: the catalogue (read through the public API as the
portal reads it), the units, the working days, and the population of dossiers it will file."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from services.calendar import WorkingCalendar, default_rules_vn

CITY = "000.00.31.H57"  # UBND thành phố Huế: the centre's desk receives for it
WARDS = [f"000.{i:02d}.31.H57" for i in range(1, 28)]
#: The probe ward: only the latency prober files and processes dossiers there, so it can tell when its own action
#: shows in the report.
PROBE_WARD = WARDS[-1]

#: The seed's period (16 May – 15 Aug 2020): centre 11,841 dossiers (1,322 online), ward desks 9,621 (86 online),
#: 1,395 accounts created with help at the desk.
SEED_CENTRE, SEED_CENTRE_ONLINE = 11_841, 1_322
SEED_WARDS, SEED_WARDS_ONLINE = 9_621, 86
SEED_ASSISTED = 1_395
SEED_SIZE = SEED_CENTRE + SEED_WARDS

SURNAMES = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Ngọc", "Minh", "Thanh", "Quang", "Xuân"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hòa", "Hương", "Khánh", "Lan", "Long", "Mai", "Nam", "Phúc", "Quý",
         "Sơn", "Tâm", "Thảo", "Trí", "Uyên", "Vy", "Yến"]  # fmt: skip
STREETS = ["Lê Lợi", "Hùng Vương", "Trần Hưng Đạo", "Nguyễn Huệ", "Bà Triệu", "Điện Biên Phủ", "Phan Đình Phùng"]
PROVIDERS = ["payos", "vnpay", "momo", "zalopay"]


@dataclass(frozen=True)
class Procedure:
    code: str
    field_code: str
    inter_level: bool
    online_offered: bool  # the version's online level is not "none" (Decision 766's denominator)
    processing_days: int
    fee: int
    mandatory: tuple[str, ...]
    #: unit → (online level at that unit, postal accepted)
    offers: dict[str, tuple[str, bool]]


def procedures_from_api(records: list[dict[str, Any]]) -> list[Procedure]:
    out = []
    for r in records:
        v = r.get("in_force")
        if not v or v["status"] != "active":
            continue
        c = v["content"]
        out.append(
            Procedure(
                code=r["code"],
                field_code=c["field_code"],
                inter_level=bool(c.get("route")) and len(c["route"]) > 1,
                online_offered=c["online_level"] != "none",
                processing_days=c["processing_time"] if c["processing_unit"] == "working_days" else 0,
                fee=sum(f["amount"] for f in c.get("fees", [])),
                mandatory=tuple(x["code"] for x in c["components"] if x["mandatory"]),
                offers={u["agency_id"]: (u.get("online_level") or "none", bool(u.get("postal"))) for u in r["units"]},
            )
        )
    return out


@dataclass
class Mix:
    centre: int
    centre_online: int
    wards: int
    wards_online: int
    assisted: int
    postal_share: float = 0.02  # of the centre's paper dossiers, where the procedure accepts post

    @classmethod
    def seed_shaped(cls, size: int) -> Mix:
        k = size / SEED_SIZE
        centre = round(SEED_CENTRE * k)
        wards = size - centre
        return cls(centre, round(SEED_CENTRE_ONLINE * k), wards, round(SEED_WARDS_ONLINE * k), round(SEED_ASSISTED * k))


@dataclass
class Dossier:
    n: int
    unit: str
    channel: str
    procedure: Procedure
    day: int  # index of the working day of receipt
    fate: str  # early | on_time | late | extend | withdraw
    assisted: bool
    pays: bool
    provider: str
    duplicates: int
    reorder: bool
    #: the provider's callback never reaches the centre: only its status query finds the payment
    lose_callback: bool
    citizen_id: str
    phone: str
    name: str
    address: str
    # filled in as the quarter runs
    id: str | None = None
    code: str | None = None
    appointment: date | None = None
    schedule: dict[int, list[str]] = field(default_factory=dict)  # working day index → actions
    holder: str | None = None
    pending_hop: int | None = None
    processed_on: date | None = None
    closed_on: date | None = None
    extended_to: date | None = None
    returned: bool = False
    processed_mono: float = 0.0  # when the API answered the completing step (for the latency probes)

    @property
    def fee_bearing(self) -> bool:
        return self.procedure.fee > 0


class Days:
    """The working days of the period (and enough after it to schedule into), by index."""

    def __init__(self, start: date, end: date) -> None:
        self.calendar = WorkingCalendar(default_rules_vn())
        self.start, self.end = start, end
        self.days = self.calendar.working_days_in(start, end + timedelta(days=400))
        self.in_period = sum(1 for d in self.days if d <= end)
        self.index = {d: i for i, d in enumerate(self.days)}

    def __getitem__(self, i: int) -> date:
        return self.days[i]

    def index_of(self, d: date) -> int:
        """Index of `d`, or of the next working day when `d` is a day off."""
        while d not in self.index:
            d += timedelta(days=1)
        return self.index[d]


def citizen(rng: random.Random, n: int) -> tuple[str, str, str, str]:
    year = rng.randint(50, 99)
    id_number = f"046{rng.choice('01')}{year:02d}{n:06d}"
    phone = f"09{rng.choice('0134')}{rng.randint(0, 9_999_999):07d}"
    name = f"{rng.choice(SURNAMES)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    address = f"{rng.randint(1, 199)} {rng.choice(STREETS)}, Huế"
    return id_number, phone, name, address


def population(
    procedures: list[Procedure], mix: Mix, days: Days, rng: random.Random, fate_weights: list[float],
    lose_callbacks: float = 0.03,
) -> list[Dossier]:
    """Every dossier of the quarter, with its channel, procedure, day of receipt and what will happen to it."""

    def offered(unit: str, channel: str) -> list[Procedure]:
        ok = []
        for p in procedures:
            if unit not in p.offers:
                continue
            level, postal = p.offers[unit]
            if channel == "online" and level == "none":
                continue
            if channel == "postal" and not postal:
                continue
            ok.append(p)
        return ok

    slots: list[tuple[str, str]] = []
    centre_paper = mix.centre - mix.centre_online
    centre_postal = round(centre_paper * mix.postal_share)
    slots += [(CITY, "online")] * mix.centre_online
    slots += [(CITY, "postal")] * centre_postal
    slots += [(CITY, "in_person")] * (centre_paper - centre_postal)
    ward_units = [WARDS[i % len(WARDS)] for i in range(mix.wards)]
    rng.shuffle(ward_units)
    online_wards = set(range(mix.wards_online))
    slots += [(u, "online" if i in online_wards else "in_person") for i, u in enumerate(ward_units)]
    rng.shuffle(slots)
    assisted_left = mix.assisted
    out = []
    for n, (unit, channel) in enumerate(slots, start=1):
        choices = offered(unit, channel) or offered(unit, "in_person")
        if not offered(unit, channel):
            channel = "in_person"
        if unit == PROBE_WARD:  # the prober keeps to one-step procedures
            choices = [p for p in choices if not p.inter_level] or choices
        proc = rng.choice(choices)
        fate = rng.choices(["early", "on_time", "late", "extend", "withdraw"], fate_weights)[0]
        if unit == PROBE_WARD and fate in ("extend", "withdraw"):
            fate = "on_time"
        assisted = unit == CITY and channel == "in_person" and assisted_left > 0 and rng.random() < 0.2
        assisted_left -= assisted
        cid, phone, name, address = citizen(rng, n)
        provider = rng.choice(PROVIDERS)
        out.append(
            Dossier(
                n=n, unit=unit, channel=channel, procedure=proc, day=rng.randrange(days.in_period), fate=fate,
                assisted=assisted, pays=proc.fee > 0 and rng.random() < 0.6, provider=provider,
                duplicates=2 if rng.random() < 0.05 else 1,
                reorder=provider != "zalopay" and rng.random() < 0.03,  # ZaloPay only notifies successes
                lose_callback=rng.random() < lose_callbacks,
                citizen_id=cid, phone=phone, name=name, address=address,
            )
        )  # fmt: skip
    # the desk helps create exactly the seed-shaped number of accounts
    for d in out:
        if assisted_left <= 0:
            break
        if d.unit == CITY and d.channel == "in_person" and not d.assisted:
            d.assisted, assisted_left = True, assisted_left - 1
    return out


def schedule(d: Dossier, days: Days, rng: random.Random) -> None:
    """Once the appointment is known: on which working days the agencies act, and what they do."""
    assert d.appointment is not None
    r, a = d.day, days.index_of(d.appointment)
    steps = 3 if d.procedure.inter_level else 1
    if d.fate == "withdraw":
        d.schedule.setdefault(min(r + rng.randint(0, 2), max(a, r)), []).append("withdraw")
        return
    fate = d.fate
    if fate == "extend" and a - r < 2:
        fate = "on_time"
    if fate == "early" and a <= r:
        fate = "on_time"
    if fate == "extend":
        new = a + rng.randint(2, 4)
        d.schedule.setdefault(r + 1, []).append(f"extend:{days[new].isoformat()}")
        p = rng.randint(a + 1, new)
        first_advance = r + 1  # the extension is asked while the first holder still works on it
    else:
        p = {"early": lambda: rng.randint(r, a - 1), "on_time": lambda: a, "late": lambda: a + rng.randint(1, 3)}[
            fate
        ]()
        first_advance = r
    for when in sorted(rng.randint(min(first_advance, p), p) for _ in range(steps - 1)):
        d.schedule.setdefault(when, []).append("advance")
    d.schedule.setdefault(p, []).append("finish")
