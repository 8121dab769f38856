"""Catalogue search latency through catalogue-svc's HTTP API over 2,000 procedures (target p99 ≤ 15 ms).

    .venv/bin/python -m bench.catalogue_search [--procedures 2000] [--requests 2000] [--backend sqlite|postgresql]

Loads the demo catalogue (335 procedures) plus generated variants up to N procedures through the importer into a
fresh database, starts the service with uvicorn (one worker, relay off: no broker needed for reads) and sends
sequential GET /procedures requests with a mix of queries: accented, unaccented, typos, codes, filters, empty.
Latency = client-side round trip over HTTP on localhost. The first 100 requests are warm-up (index build).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.common import ROOT, backends, fresh_database, machine, percentile
from services import migrations
from services.identity import HEADER, Identity, Role, mint

sys.path.insert(0, str(ROOT / "catalogue-svc"))

QUERIES: list[dict[str, str]] = [
    {"q": "hộ tịch"},
    {"q": "ho tich"},
    {"q": "dang ky khai sinh"},
    {"q": "giay phep xay dugn"},
    {"q": "chứng thực bản sao"},
    {"q": "dat dai", "level": "district"},
    {"q": "cap lai"},
    {"q": "1.9001"},
    {"field": "G09-DD"},
    {"unit": "000.13.31.H57", "online_level": "partial"},
    {"q": "nguoi co cong", "unit": "000.00.31.H57"},
    {"q": "thuoc la"},
    {"q": "truong mam non"},
    {"q": "bảo trợ xã hội", "page": "2"},
    {"q": "giám hộ"},
    {},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(url: str, n: int) -> None:
    from catalogue import importer
    from catalogue.tools.demo import build_records
    from catalogue.tools.seed import seed_calendar, seed_units

    from services.db import Database

    await asyncio.to_thread(migrations.upgrade, ROOT / "catalogue-svc", url)
    records = build_records()
    base = list(records)
    i = 0
    while len(records) < n:
        src = base[i % len(base)]
        copy = json.loads(json.dumps(src))
        copy["MATTHC"] = f"2.8{i:05d}"
        copy["TENTTHC"] = f"{src['TENTTHC']} (bản {i // len(base) + 2})"
        records.append(copy)
        i += 1
    db = Database(url, service="catalogue")
    try:
        async with db.sessionmaker() as session, session.begin():
            await seed_units(session, "bench")
            await seed_calendar(session, "bench")
        async with db.sessionmaker() as session, session.begin():
            report = await importer.import_records(
                session, "bench", list(enumerate(records, 1)), source_name="bench", fmt="json", sha256="bench"
            )
        assert report.rejected == 0, [r for r in report.rows if r.outcome == "rejected"][:3]
    finally:
        await db.dispose()


def measure(url: str, requests: int) -> dict[str, float]:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'catalogue-svc'}",
        "CATALOGUE_DATABASE_URL": url,
        "CATALOGUE_RELAY_ENABLED": "false",
        "CATALOGUE_CONSUMERS_ENABLED": "false",
        "CATALOGUE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
        "CATALOGUE_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "catalogue.main:app", "--app-dir", str(ROOT / "catalogue-svc"),
         "--port", str(port), "--no-access-log", "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("catalogue-svc did not start")
                time.sleep(0.2)
            from catalogue.settings import Settings

            secret = Settings().internal_token_secret.get_secret_value()
            headers = {HEADER: mint(Identity(subject="bench", role=Role.PORTAL), secret, ttl=3600)}
            latencies: list[float] = []
            for i in range(requests + 100):
                params = QUERIES[i % len(QUERIES)]
                t0 = time.perf_counter()
                r = client.get("/procedures", params=params, headers=headers)
                elapsed = (time.perf_counter() - t0) * 1000
                assert r.status_code == 200, r.text
                if i >= 100:
                    latencies.append(elapsed)
            total = client.get("/procedures", params={"size": 1}, headers=headers).json()["total"]
        return {
            "procedures": total,
            "requests": len(latencies),
            "p50_ms": round(percentile(latencies, 50), 2),
            "p90_ms": round(percentile(latencies, 90), 2),
            "p99_ms": round(percentile(latencies, 99), 2),
            "max_ms": round(max(latencies), 2),
        }
    finally:
        proc.terminate()
        proc.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--procedures", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    print(f"machine: {machine()}  date: {time.strftime('%Y-%m-%d')}")
    for backend in [args.backend] if args.backend else backends():
        url = asyncio.run(fresh_database(backend))
        t0 = time.perf_counter()
        asyncio.run(load(url, args.procedures))
        loaded = time.perf_counter() - t0
        result = measure(url, args.requests)
        print(json.dumps({"backend": backend, "load_s": round(loaded, 1), **result}))
        if backend == "sqlite":
            Path(url.split("///", 1)[1]).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
