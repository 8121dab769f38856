"""A small simulated quarter end to end: real broker, every service and the gateway as real processes, driven
through the gateway's public API; stats-svc's reports must equal the simulation's ground truth exactly."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import asyncpg

from sim.run import parse_args, simulate
from tests.conftest import Broker


def free_port_block(size: int = 7) -> int:
    """The first of `size` consecutive free ports."""
    for base in range(21000, 32000, 10):
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port block")


async def test_small_quarter_reports_equal_ground_truth(
    backend: str, broker: Broker, tmp_path: Path, topic_prefix: str
) -> None:
    result = tmp_path / "result.json"
    argv = [
        "--mix", "24:4:30:2:3", "--period", "2021-06-01:2021-06-18", "--seed", "7", "--concurrency", "8",
        "--fate-weights", "30:20:20:15:15", "--probes-per-day", "1", "--var", str(tmp_path / "sim"),
        "--bootstrap", broker.bootstrap, "--port-base", str(free_port_block()), "--result", str(result),
        "--lose-callbacks", "0.25",
    ]  # fmt: skip
    if backend == "postgresql":
        argv += ["--postgres", os.environ["TEST_DATABASE_URL"]]
    args = parse_args(argv)
    try:
        code = await simulate(args)
    finally:
        if backend == "postgresql":
            await drop_databases(os.environ["TEST_DATABASE_URL"], json.loads(result.read_text())["db_prefix"])
    outcome = json.loads(result.read_text())
    assert outcome["differences"] == 0, outcome
    assert code == 0
    truth = outcome["truth"]
    # the quarter exercised what it is meant to: both channels and levels, transfers, lateness, withdrawals
    assert truth["received.total"] == 54
    assert truth["received.online"] == 6
    assert truth["received.commune.total"] == 30 and truth["received.district.total"] == 24
    assert truth["II.06a total resolved_late"] > 0
    assert truth["II.06a total closed"] > 0
    assert truth["II.06a total pending"] > 0
    assert outcome["inter_level"] > 0 and outcome["extended"] > 0 and outcome["paid"] > 0
    assert outcome["latency_seconds"]["samples"] > 0
    # every provider paid through the gateway as it really calls back (VNPay by GET), and the payments whose
    # callback was lost were found by the status query (they count as paid in the ground truth)
    assert all(count > 0 for count in outcome["paid_by_provider"].values()), outcome["paid_by_provider"]
    assert outcome["lost_callbacks"] > 0 and outcome["status_queries"] >= outcome["lost_callbacks"]


async def drop_databases(admin_url: str, prefix: str) -> None:
    conn = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for name in ("catalogue", "intake", "routing", "payment", "stats", "gateway"):
            await conn.execute(f'DROP DATABASE IF EXISTS "{prefix}_{name}" WITH (FORCE)')
    finally:
        await conn.close()
