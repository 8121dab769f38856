"""Shared pieces of the benchmarks: a broker of their own and the databases to measure on."""

from __future__ import annotations

import asyncio
import atexit
import os
import platform
import subprocess
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
BENCH_KAFKA_DIR = ROOT / "var" / "bench-kafka"
BOOTSTRAP = "127.0.0.1:49092"


def start_broker() -> None:
    subprocess.run([str(KAFKA_SH), "start", str(BENCH_KAFKA_DIR), "49092", "49093"], check=True)


def stop_broker() -> None:
    subprocess.run([str(KAFKA_SH), "stop", str(BENCH_KAFKA_DIR)], check=True)


def postgres_admin_url() -> str | None:
    return os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")


#: Databases and files this run created; dropped when the benchmark exits unless BENCH_KEEP_DATABASES=1 (to look
#: at the data afterwards, e.g. with EXPLAIN). A stats run leaves 600 MB otherwise.
_created_databases: list[str] = []
_created_files: list[Path] = []


async def fresh_database(backend: str) -> str:
    if backend == "sqlite":
        path = ROOT / "var" / "bench" / f"bench-{uuid.uuid4().hex[:6]}.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        _created_files.append(path)
        return f"sqlite+aiosqlite:///{path}"
    admin = postgres_admin_url()
    assert admin, "set BENCH_DATABASE_URL (or TEST_DATABASE_URL) to measure on PostgreSQL"
    name = f"motcua_bench_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    _created_databases.append(name)
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


async def _drop_databases(admin: str, names: list[str]) -> None:
    engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            for name in names:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await engine.dispose()


@atexit.register
def _drop_created() -> None:
    if os.environ.get("BENCH_KEEP_DATABASES") == "1":
        return
    for path in _created_files:
        for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            leftover.unlink(missing_ok=True)
    admin = postgres_admin_url()
    if _created_databases and admin:
        asyncio.run(_drop_databases(admin, _created_databases))


def backends() -> list[str]:
    return ["postgresql", "sqlite"] if postgres_admin_url() else ["sqlite"]


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.node()} · {os.cpu_count()} cores · {cpu} · Python {platform.python_version()}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]
