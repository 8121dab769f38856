"""The wallet simulator, run as its own program, pays QR codes over real HTTP against a uvicorn-served service."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import httpx
from payment.models import Notification

from tests.conftest import Broker, DatabaseFactory
from tests.payment.payment_support import running, short

ROOT = Path(__file__).resolve().parents[2]


async def simulate(*args: str) -> tuple[int, list[dict[str, Any]]]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'payment-svc'}"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "provider_simulator",
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
        # The base of the callback URLs: the provider's name follows.
        url = f"{str(env.client.base_url).rstrip('/')}/webhooks"

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

        # VNPay, corrupted signature: VNPay's own answer (200, RspCode 97), nothing recorded; then the honest one.
        bill2 = await env.bill_for(amount=12_000)
        p2 = await env.start(bill2, "vnpay")
        notes = await env.count(Notification.__table__)
        code, results = await simulate("--url", url, "--provider", "vnpay", "--payload", p2["qr_payload"], "--corrupt")
        assert results == [
            {
                "provider": "vnpay",
                "kind": "paid",
                "status": 200,
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


async def test_simulator_serves_a_wallet_over_http(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    """`serve` mode: the wallet as its own HTTP service; POST /pay pays a QR, bad requests get a 422."""
    port = free_port()
    env_vars = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'payment-svc'}"}
    async with running(databases, broker, topic_prefix, http=True) as env:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "provider_simulator", "serve", "--port", str(port),
            "--url", f"{str(env.client.base_url).rstrip('/')}/webhooks",
            env=env_vars, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as wallet:
                for _ in range(200):
                    try:
                        await wallet.get("/docs")
                        break
                    except httpx.TransportError:
                        await asyncio.sleep(0.05)
                bill = await env.bill_for(amount=30_000)
                payment = await env.start(bill, "zalopay")

                nothing = await wallet.post("/pay", json={"provider": "zalopay"})
                assert nothing.status_code == 422
                assert "payload" in nothing.text
                unknown = await wallet.post("/pay", json={"provider": "paypal", "payload": payment["qr_payload"]})
                assert unknown.status_code == 422
                broken = await wallet.post("/pay", json={"provider": "zalopay", "payload": "0002010102"})
                assert broken.status_code == 422
                assert (await env.payment(payment["id"]))["status"] == "pending"

                paid = await wallet.post("/pay", json={"provider": "zalopay", "payload": payment["qr_payload"],
                                                       "duplicate": 2})
                assert paid.status_code == 200, paid.text
                answers = paid.json()["responses"]
                assert [a["status"] for a in answers] == [200, 200]
                assert (await env.payment(payment["id"]))["status"] == "paid"
        finally:
            proc.terminate()
            await proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
