"""`make chaos`: a simulated quarter on PostgreSQL while the broker, each service in turn and the database are
stopped and restarted under load; the final reports must still equal the ground truth exactly.

    python -m sim.chaos [--size 3000] [--outage 12] [any option of python -m sim]

The database outage stops a PostgreSQL cluster of its own (`motcua-chaos` on port 5499, created on first use with
pg_createcluster; root required) rather than the machine's main cluster, which other work may be using.
Services are killed with SIGKILL (a crash: no graceful shutdown, in-flight requests lost) and started again.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

from sim.quarter import Quarter
from sim.run import parse_args, simulate
from sim.system import System

CLUSTER, CLUSTER_PORT = "motcua-chaos", 5499
CHAOS_URL = f"postgresql+asyncpg://postgres:postgres@127.0.0.1:{CLUSTER_PORT}/postgres"

#: (fraction of the period's working days after which it starts, what is stopped)
PLAN = [
    (0.10, "kafka"),
    (0.20, "intake"),
    (0.30, "routing"),
    (0.40, "payment"),
    (0.50, "stats"),
    (0.60, "catalogue"),
    (0.70, "gateway"),
    (0.80, "database"),
]


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def ensure_cluster() -> None:
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    if not any(line.split()[1] == CLUSTER for line in listing.splitlines() if line.strip()):
        sh("pg_createcluster", "15", CLUSTER, "-p", str(CLUSTER_PORT), "--", "--auth-host=scram-sha-256")
        sh("pg_conftool", "15", CLUSTER, "set", "max_connections", "300")
    if "online" not in cluster_status():
        sh("pg_ctlcluster", "15", CLUSTER, "start")
    sh("su", "postgres", "-c", f"psql -q -p {CLUSTER_PORT} -c \"ALTER USER postgres PASSWORD 'postgres'\"")


async def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing answers on port {port} after {timeout:.0f} s") from None
            await asyncio.sleep(1)
        else:
            writer.close()
            return


def pg_ctl(action: str) -> None:
    """Stop or start the cluster; pg_ctlcluster may give up waiting (and exit non-zero) on a loaded machine while
    the server still does what it was told, so the outcome is judged by the cluster's state."""
    want = "down" if action == "stop" else "online"
    done = subprocess.run(["pg_ctlcluster", "15", CLUSTER, action, *(["-m", "fast"] if action == "stop" else [])],
                          capture_output=True, text=True)  # fmt: skip
    for _ in range(300):
        if want in cluster_status():
            return
        time.sleep(1)
    raise RuntimeError(f"pg_ctlcluster {action}: {done.returncode} {done.stderr.strip()}; cluster: {cluster_status()}")


def cluster_status() -> str:
    listing = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=True).stdout
    return next((line for line in listing.splitlines() if f" {CLUSTER} " in line), "")


class Chaos:
    def __init__(self, outage: float, log: Any = print) -> None:
        self.outage = outage
        self.log = log
        self.tasks: list[asyncio.Task[None]] = []
        self.done: list[str] = []

    async def disrupt(self, system: System, quarter: Quarter, day: int) -> None:
        for fraction, target in PLAN:
            if target == "database" and system.postgres != CHAOS_URL:
                continue  # only the cluster of its own is stopped
            if day == int(fraction * quarter.days.in_period):
                self.tasks.append(asyncio.create_task(self.outage_of(system, target, quarter.days[day].isoformat())))
        if day == quarter.days.in_period - 1 and self.tasks:  # the quarter ends only once everything is back
            await asyncio.gather(*self.tasks)

    async def outage_of(self, system: System, target: str, day: str) -> None:
        try:
            await self._outage_of(system, target, day)
        except Exception as exc:
            self.log(f"CHAOS {day}: {target} FAILED: {exc!r}")
            raise

    async def _outage_of(self, system: System, target: str, day: str) -> None:
        started = time.monotonic()
        if target == "kafka":
            await asyncio.to_thread(system.kafka_stop)
        elif target == "database":
            await asyncio.to_thread(pg_ctl, "stop")
        else:
            await asyncio.to_thread(system.stop_service, target, signal.SIGKILL)
        self.log(f"CHAOS {day}: {target} stopped")
        await asyncio.sleep(self.outage)
        if target == "kafka":
            try:
                await asyncio.to_thread(system.kafka_start)
            except RuntimeError as exc:  # kafka.sh waits 60 s; a loaded machine may need longer
                self.log(f"CHAOS {day}: kafka.sh start gave up waiting ({str(exc).strip()[-120:]}); waiting longer")
                await wait_port(system.kafka_port, 600)
        elif target == "database":
            await asyncio.to_thread(pg_ctl, "start")
        else:
            await asyncio.to_thread(system.start_service, target)
            await asyncio.to_thread(system.wait_ready, (target,))
        line = f"{target} down {self.outage:.0f} s from {day} (back after {time.monotonic() - started:.1f} s)"
        self.done.append(line)
        self.log(f"CHAOS {day}: {line}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    outage = 12.0
    if "--outage" in argv:
        k = argv.index("--outage")
        outage = float(argv[k + 1])
        del argv[k : k + 2]
    if "--size" not in argv and "--mix" not in argv:
        argv += ["--size", "3000"]
    if "--postgres" not in argv:
        if os.geteuid() != 0:
            print("make chaos needs root (it creates and stops a PostgreSQL cluster of its own)", file=sys.stderr)
            return 2
        ensure_cluster()
        argv += ["--postgres", CHAOS_URL]
    if "--var" not in argv:
        argv += ["--var", "var/chaos"]
    args = parse_args(argv)
    chaos = Chaos(outage, log=lambda line: print(line, flush=True))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    code = asyncio.run(simulate(args, chaos.disrupt))
    print("chaos tried:\n  " + "\n  ".join(chaos.done))
    return code


if __name__ == "__main__":
    sys.exit(main())
