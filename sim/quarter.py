"""One simulated quarter driven through the gateway, day by day, keeping its own ground truth.

Each working day of the period: the clock file is set to 08:00 of that day; then, concurrently, every dossier
received that day is filed (desk or portal) and its fee paid by QR through the wallet simulator (some webhooks
duplicated, some with an earlier failed attempt arriving late), and the agencies act on every dossier scheduled for
that day: complete their step and hand it to the next level (ward → city → province), the one extension, the
result back to the receiving desk, which hands it over; or the applicant withdraws. Meanwhile the prober files and
processes the probe ward's dossiers one at a time and measures how long each takes to show in stats' report.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx
from provider_simulator import Books, Plan, acknowledged, order_from_payload
from provider_simulator import run as wallet_pay

from services import clock
from services.clock import VN_TZ, business_date
from sim.client import Gateway, Refused, Unavailable
from sim.world import PROBE_WARD, Days, Dossier, schedule

API = "/api/v1"
DEPARTMENTS = [f"{n:03d}.00.{lvl}.H57" for n in range(1, 10) for lvl in ("31", "00")]


def desk(unit: str) -> str:
    return f"sim.desk.{unit}"


def agency(unit: str) -> str:
    return f"sim.agency.{unit}"


def local_date(value: str) -> date:
    return business_date(datetime.fromisoformat(value))


@dataclass
class Latency:
    receipt: list[float] = field(default_factory=list)  # submit → visible in the quarterly report (received)
    resolution: list[float] = field(default_factory=list)  # step completed with result → visible in II.06a

    def summary(self) -> dict[str, Any]:
        both = self.receipt + self.resolution
        return {"samples": len(both), "receipt": pct(self.receipt), "resolution": pct(self.resolution),
                "all": pct(both)}  # fmt: skip


def pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p99": None, "max": None}
    qs = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"p50": round(qs[49], 3), "p99": round(qs[98], 3), "max": round(max(values), 3)}


#: Times a provider sends a callback the centre answers with something other than "delivered" (or not at all).
CALLBACK_ATTEMPTS = 30


class Quarter:
    def __init__(self, gw: Gateway, days: Days, dossiers: list[Dossier], clock_file: Path, *, seed: int,
                 run_id: str, concurrency: int = 32, probes_per_day: int = 4, leader: str = "demo.leader",
                 log: Any = print, books: Books | None = None) -> None:  # fmt: skip
        self.gw, self.days, self.dossiers, self.clock_file = gw, days, dossiers, clock_file
        self.rng = random.Random(seed + 1)
        self.run_id = run_id
        self.sem = asyncio.Semaphore(concurrency)
        self.probes_per_day = probes_per_day
        self.leader = leader
        self.log = log
        self.latency = Latency()
        self.by_day: dict[int, list[Dossier]] = {}
        for d in dossiers:
            self.by_day.setdefault(d.day, []).append(d)
        self.paid: set[int] = set()
        #: the providers' books, which their APIs (served by the simulation, sim/run.py) answer from
        self.books = books if books is not None else Books()
        self.day = 0

    # -- the quarter ---------------------------------------------------------------------------------------------

    async def run(self, on_day: Any = None) -> None:
        for i in range(self.days.in_period):
            self.day = i
            clock.set_instant(self.clock_file, datetime.combine(self.days[i], dtime(8, 0), VN_TZ))
            todo: dict[int, Dossier] = {}
            for d in self.by_day.get(i, []):
                todo[d.n] = d
            for d in self.dossiers:
                if i in d.schedule:
                    todo[d.n] = d
            regular = [d for d in todo.values() if d.unit != PROBE_WARD]
            probe = sorted((d for d in todo.values() if d.unit == PROBE_WARD), key=lambda d: (d.day != i, d.n))
            started = time.monotonic()
            await asyncio.gather(self.prober(i, probe), *(self.guarded(self.work, d, i) for d in regular))
            if on_day is not None:
                await on_day(i)
            self.log(f"{self.days[i]}  day {i + 1}/{self.days.in_period}: {len(todo)} dossiers acted on in "
                     f"{time.monotonic() - started:.1f} s")  # fmt: skip

    async def guarded(self, fn: Any, *args: Any) -> None:
        async with self.sem:
            await fn(*args)

    async def work(self, d: Dossier, i: int) -> None:
        if d.day == i and d.id is None:
            await self.submit(d)
            if d.pays:
                await self.pay(d)
        for action in d.schedule.get(i, []):
            await self.act(d, action)

    # -- clients ---------------------------------------------------------------------------------------------------

    async def submit(self, d: Dossier) -> None:
        account = f"DVC-{d.n:06d}"
        documents: list[dict[str, str]] = [{"component_code": c} for c in d.procedure.mandatory]
        body = {
            "procedure_code": d.procedure.code,
            "channel": d.channel,
            "receiving_unit": d.unit,
            "applicant": {"kind": "citizen", "id_number": d.citizen_id, "name": d.name, "phone": d.phone,
                          "address": d.address, "account_id": account},
            "documents": documents,
            "account_assisted": d.assisted,
        }  # fmt: skip
        headers = {"Idempotency-Key": f"{self.run_id}-{d.n}"}  # retries after an outage replay the first answer
        path = f"{API}/dossiers/dossiers"
        if d.channel == "online":  # the citizen scans each paper and uploads it on the portal
            for doc in documents:
                pdf = b"%PDF-1.4\n% " + f"{self.run_id}-{d.n} {doc['component_code']}".encode() + b"\n%%EOF\n"
                files = {"file": (f"{doc['component_code']}.pdf", pdf, "application/pdf")}
                up = await self.gw.as_portal(d.citizen_id, account, "POST", f"{API}/dossiers/uploads", files=files)
                doc["upload_id"] = up["id"]
            out = await self.gw.as_portal(d.citizen_id, account, "POST", path, json=body, headers=headers)
        else:
            out = await self.gw.as_staff(desk(d.unit), "POST", path, json=body, headers=headers)
        d.id, d.code, d.appointment = out["id"], out["code"], local_date(out["appointment_at"])
        d.holder = d.unit
        schedule(d, self.days, self.rng)

    async def pay(self, d: Dossier) -> None:
        """The citizen pays the bill by scanning its VietQR with a wallet; the provider takes the money and calls
        the centre back as it really does (no credentials of ours), retrying until its callback is acknowledged.
        The ground truth counts what the wallet completed: a callback the centre refuses is an error of the run,
        and a lost one must be found by the centre's status query."""

        async def as_payer(method: str, path: str, **kw: Any) -> Any:
            if d.channel == "online":
                return await self.gw.as_portal(d.citizen_id, f"DVC-{d.n:06d}", method, path, **kw)
            return await self.gw.as_staff(desk(d.unit), method, path, **kw)

        bill = await self.until_there(lambda: as_payer("GET", f"{API}/payments/dossiers/{d.id}/bill"))
        payment = await as_payer("POST", f"{API}/payments/bills/{bill['id']}/payments", json={"provider": d.provider})
        order_ref, amount = order_from_payload(payment["qr_payload"])
        plan = Plan(provider=d.provider, order_ref=order_ref, amount=amount, duplicate=d.duplicates,
                    reorder=d.reorder, lose=d.lose_callback,
                    paid_at=clock.FileClock(self.clock_file).now())  # fmt: skip
        self.paid.add(d.n)  # the wallet has taken the money
        for attempt in range(CALLBACK_ATTEMPTS):  # a provider retries its callback until it is acknowledged
            try:
                results = await wallet_pay(plan, f"{self.gw.base}{API}/callbacks", client=self.gw.wallet_http,
                                           books=self.books)  # fmt: skip
            except httpx.TransportError:
                results = [{"provider": d.provider, "kind": "unreachable", "status": 599, "body": None}]
            refused = [r for r in results if not acknowledged(r["provider"], r["status"], r["body"])]
            if not refused:
                return
            if all(r["status"] < 500 and r["status"] != 599 for r in refused) and attempt >= 2:
                break  # answered, and not "later": the centre refuses it
            await asyncio.sleep(1)
        raise RuntimeError(f"the centre did not acknowledge {d.provider}'s callback for {d.code}: {refused}")

    async def until_there(self, fetch: Any, what: str = "") -> Any:
        """What another service creates from an event (a journey, a bill) appears shortly after the event."""
        delay = 0.05
        for _ in range(2000):
            try:
                return await fetch()
            except Refused as exc:
                if exc.status != 404:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 1.0)
        raise RuntimeError(f"never appeared: {what}")

    # -- agencies --------------------------------------------------------------------------------------------------

    async def journey(self, d: Dossier) -> Any:
        return await self.until_there(
            lambda: self.gw.as_staff(agency(d.unit), "GET", f"{API}/routing/journeys/{d.id}"), f"journey of {d.code}"
        )

    async def routing(self, d: Dossier, unit: str, action: str, body: dict[str, Any] | None = None) -> Any:
        """A routing command; None when the outcome is unknown (the system was unavailable) or it was refused
        because the state moved on (a retried command that had taken effect): the caller re-reads the journey."""
        try:
            return await self.gw.as_staff(agency(unit), "POST", f"{API}/routing/journeys/{d.id}/{action}",
                                          json=body or {}, retry=False)  # fmt: skip
        except Unavailable:
            await asyncio.sleep(1)
            return None
        except Refused as exc:
            if exc.status in (409, 403) or exc.code in ("hop-not-pending",):
                return None
            raise

    async def act(self, d: Dossier, action: str) -> None:
        if d.closed_on is not None or d.returned:
            return
        today = self.days[self.day]
        if action == "withdraw":
            try:
                await self.gw.as_staff(desk(d.unit), "POST", f"{API}/dossiers/dossiers/{d.id}/withdraw",
                                       json={"reason": "Người nộp rút hồ sơ theo đề nghị"})  # fmt: skip
            except Refused as exc:
                if exc.status != 409:
                    raise
            d.closed_on = today
            return
        j = await self.journey(d)
        if action.startswith("extend:"):
            new_date = action.split(":", 1)[1]
            while not j["extended"]:
                body = {"new_date": new_date, "reason": "Hồ sơ cần xác minh thêm tại thực địa"}
                j = await self.routing(d, j["holder_unit"], "extend", body) or await self.journey(d)
            d.extended_to = date.fromisoformat(new_date)
            return
        if action == "advance":
            start = j["current_step"]
            while not (j["phase"] == "active" and j["current_step"] != start) and j["phase"] not in (
                "processed", "at_desk", "closed",
            ):  # fmt: skip
                j = await self.step(d, j, finish=False) or await self.journey(d)
            return
        # finish: the last step ends with a result, which goes back to the receiving desk and to the applicant
        while j["phase"] != "at_desk" and j["phase"] != "closed":
            j = await self.step(d, j, finish=True) or await self.journey(d)
        if d.processed_on is None:
            d.processed_on = today
        for _ in range(2000):
            try:
                channel = "in_person" if d.channel != "postal" else "postal"
                await self.gw.as_staff(desk(d.unit), "POST", f"{API}/dossiers/dossiers/{d.id}/return-result",
                                       json={"channel": channel})  # fmt: skip
            except Refused as exc:
                if exc.status != 409:  # else already returned (a retry that had taken effect)
                    raise
                if isinstance(exc.body, dict) and str(exc.body.get("type", "")).endswith("/result-not-at-desk"):
                    await asyncio.sleep(0.2)  # intake has not yet seen routing's ResultAtDesk
                    continue
            break
        d.returned = True

    async def step(self, d: Dossier, j: dict[str, Any], *, finish: bool) -> Any:
        phase = j["phase"]
        if phase in ("awaiting",):
            return await self.routing(d, j["pending_unit"], f"hops/{j['pending_hop_id']}/accept")
        if phase == "active":
            last = j["current_step"] == len(j["steps"])
            if last and not finish:
                return j
            body: dict[str, Any] = {"note": "Đã xử lý"}
            if last:
                body["result"] = "Giấy tờ kết quả đã ký"
            out = await self.routing(d, j["holder_unit"], "complete", body)
            if out is not None and out["phase"] == "processed" and d.processed_on is None:
                d.processed_on = self.days[self.day]
                d.processed_mono = time.monotonic()
            return out
        if phase == "processed":
            if d.processed_on is None:
                d.processed_on = self.days[self.day]
            return await self.routing(d, j["holder_unit"], "return")
        raise RuntimeError(f"dossier {d.code}: unexpected journey phase {phase} ({j})")

    # -- latency prober --------------------------------------------------------------------------------------------

    async def prober(self, i: int, dossiers: list[Dossier]) -> None:
        """The probe ward's dossiers, one at a time; the first few receipts and resolutions of the day are timed
        until the report shows them."""
        day = self.days[i].isoformat()
        receipts = resolutions = 0
        for d in dossiers:
            if d.day == i and d.id is None:
                await self.submit(d)
                sent = time.monotonic()  # the answer comes after the commit that wrote the event
                if receipts < self.probes_per_day:
                    expected = sum(1 for x in self.by_day.get(i, []) if x.unit == PROBE_WARD and x.id is not None)
                    await self.wait_report(sent, "quarterly", day, expected, self.latency.receipt)
                    receipts += 1
                if d.pays:
                    await self.pay(d)
            for action in d.schedule.get(i, []):
                before = d.processed_on
                await self.act(d, action)
                if before is None and d.processed_mono and resolutions < self.probes_per_day:
                    expected = sum(1 for x in self.dossiers if x.unit == PROBE_WARD and x.processed_on == self.days[i])
                    await self.wait_report(d.processed_mono, "ii06a", day, expected, self.latency.resolution)
                    resolutions += 1

    async def wait_report(self, sent: float, report: str, day: str, expected: int, into: list[float]) -> None:
        """Poll the report of the probe ward for the day until it counts `expected` receipts (quarterly) or
        resolutions (II.06a); the latency is from `sent` (the API's answer, given after the commit) to then."""
        path = f"{API}/stats/reports/{report}"
        params = {"from": day, "to": day, "unit": PROBE_WARD, **({"compare": "0"} if report == "quarterly" else {})}
        while True:
            r = await self.gw.as_staff(self.leader, "GET", path, params=params)
            figure = r["received"]["total"] if report == "quarterly" else r["totals"]["resolved"]
            if figure >= expected:
                into.append(time.monotonic() - sent)
                return
            await asyncio.sleep(0.01)
