"""The wallet simulator, run as its own program, pays QR codes over real HTTP against a uvicorn-served service."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from payment.models import Notification
from payment_support import running, short

from tests.conftest import Broker, DatabaseFactory

ROOT = Path(__file__).resolve().parents[2]


async def simulate(*args: str) -> tuple[int, list[dict[str, Any]]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'payment-svc'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "payment.simulator",
        "pay",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert lines, err.decode()
    return proc.returncode, lines


async def test_simulator_pays_a_qr_over_http(databases: DatabaseFactory, broker: Broker, topic_prefix: str) -> None:
    async with running(databases, broker, topic_prefix, http=True) as env:
        url = str(env.client.base_url)

        # payOS: the QR as scanned, three copies at once, then a late "failed" of an earlier attempt.
        bill = await env.bill_for(amount=45_000)
        payment = await env.start(bill, "payos")
        qr = (await env.client.get(f"/bills/{bill['id']}/vietqr", headers=env.portal)).json()["payload"]
        code, results = await simulate(
            "--url", url, "--provider", "payos", "--payload", qr, "--duplicate", "3", "--reorder", "--delay", "0.05"
        )
        assert code == 0
        assert [r["kind"] for r in results] == ["paid", "paid", "paid", "failed-late"]
        assert all(r["status"] == 200 for r in results)
        assert (await env.payment(payment["id"]))["status"] == "paid"
        kinds = [short(e.type) for e in await env.outbox_events()]
        assert kinds.count("payment.paid") == 1

        # VNPay, corrupted signature: 401 in VNPay's format, nothing recorded; then the honest one.
        bill2 = await env.bill_for(amount=12_000)
        p2 = await env.start(bill2, "vnpay")
        notes = await env.count(Notification.__table__)
        code, results = await simulate("--url", url, "--provider", "vnpay", "--payload", p2["qr_payload"], "--corrupt")
        assert results == [
            {
                "provider": "vnpay",
                "kind": "paid",
                "status": 401,
                "body": {"RspCode": "97", "Message": "Invalid signature"},
            }
        ]
        assert await env.count(Notification.__table__) == notes
        assert (await env.payment(p2["id"]))["status"] == "pending"
        code, results = await simulate("--url", url, "--provider", "vnpay", "--payload", p2["qr_payload"])
        assert results[0]["body"]["RspCode"] == "00"
        assert (await env.payment(p2["id"]))["status"] == "paid"

        # MoMo declined, and a wallet that reports another amount.
        bill3 = await env.bill_for(amount=8_000)
        p3 = await env.start(bill3, "momo")
        code, results = await simulate(
            "--url",
            url,
            "--provider",
            "momo",
            "--order-ref",
            p3["order_ref"],
            "--amount",
            "8000",
            "--amount-delta",
            "-1",
        )
        assert results[0]["status"] == 400 and results[0]["body"] == {"message": "invalid amount"}
        code, results = await simulate("--url", url, "--provider", "momo", "--payload", p3["qr_payload"], "--fail")
        assert results[0]["status"] == 204
        assert (await env.payment(p3["id"]))["status"] == "failed"
