"""Start and stop the whole system for a simulation: the pieces of deploy/run.sh, in the simulation's own var dir.

Kafka (deploy/kafka/kafka.sh, unless a broker is given), topics, migrations, the demo catalogue, the gateway's demo
credentials, then every service of the Procfile as its own process (so that chaos can stop and restart one at a
time). Every service reads business time from the simulation's clock file (services/clock.py).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("catalogue", "intake", "routing", "payment", "stats")
DEFAULT_PORTS = {"catalogue": 8101, "intake": 8102, "routing": 8103, "payment": 8104, "stats": 8105, "gateway": 8000}


@dataclass
class Credentials:
    portal_key: str
    passwords: dict[str, str]  # username → password of the demo staff


@dataclass
class System:
    var: Path
    #: None: SQLite files in `var`; else a PostgreSQL server URL (postgresql+asyncpg://user:pw@host:port/db) on which
    #: one database per service is created (named <db_prefix>_<service>).
    postgres: str | None = None
    db_prefix: str = "sim"
    #: None: start a broker in var/kafka on kafka_port / kafka_controller_port.
    bootstrap: str | None = None
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    #: The payment providers' APIs (provider_simulator.provider_app, served by the simulation itself).
    providers_port: int = 8190
    topic_prefix: str = "motcua"
    extra_env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    own_broker: bool = False

    @property
    def clock_file(self) -> Path:
        return self.var / "clock"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    @property
    def kafka_dir(self) -> Path:
        return self.var / "kafka"

    def database_url(self, service: str) -> str:
        if self.postgres is None:
            return f"sqlite+aiosqlite:///{self.var / f'{service}.db'}"
        base = self.postgres.rsplit("/", 1)[0]
        return f"{base}/{self.db_prefix}_{service}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(ROOT)
        env["PATH"] = f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}"
        env.update(
            {
                "MOTCUA_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap or f"127.0.0.1:{self.kafka_port}",
                "MOTCUA_TOPIC_PREFIX": self.topic_prefix,
                "MOTCUA_CLOCK_FILE": str(self.clock_file),
                "MOTCUA_LOG_JSON": "false",
                "MOTCUA_LOG_LEVEL": "WARNING",
                # The development secrets of `make run` (services refuse them otherwise).
                "MOTCUA_DEV_MODE": "true",
                "INTAKE_STORAGE_DIR": str(self.var / "intake-files"),
                # A quarter in minutes: the desks of a whole city act through a few accounts at ~100× real speed.
                "GATEWAY_RATE_LIMIT_STAFF": "1000000/minute",
                "GATEWAY_RATE_LIMIT_PORTAL": "1000000/minute",
                "GATEWAY_RATE_LIMIT_CALLBACK": "1000000/minute",
                "GATEWAY_RATE_LIMIT_LOGIN": "10000/minute",
                # When the staff's tokens expire together, their next requests are unauthenticated until each
                # clerk logs in again: dozens of them within a second, all from this one address.
                "GATEWAY_RATE_LIMIT_UNAUTHENTICATED": "1000000/minute",
            }
        )
        for name in (*SERVICES, "gateway"):
            env[f"{name.upper()}_DATABASE_URL"] = self.database_url(name)
            env[f"{name.upper()}_PORT"] = str(self.ports[name])
        env["PROVIDERS_PORT"] = str(self.providers_port)
        for name in SERVICES:
            env[f"GATEWAY_{name.upper()}_URL"] = f"http://127.0.0.1:{self.ports[name]}"
        env.update(self.providers_env())
        env.update(self.extra_env)
        return env

    @property
    def providers_url(self) -> str:
        return f"http://127.0.0.1:{self.providers_port}"

    def providers_env(self) -> dict[str, str]:
        """payment-svc asks the simulated providers about silent payments and refunds; the sweep runs every 2 s."""
        base = self.providers_url
        return {
            "PAYMENT_VNPAY_API_URL": f"{base}/merchant_webapi/api/transaction",
            "PAYMENT_PAYOS_API_URL": base,
            "PAYMENT_MOMO_API_URL": base,
            "PAYMENT_ZALOPAY_API_URL": base,
            "PAYMENT_EXPIRY_SWEEP_INTERVAL": "2",
        }

    def run(self, *args: str, **extra: str) -> str:
        env = {**self.env(), **extra}
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    # -- pieces ------------------------------------------------------------------------------------------------------

    def kafka_start(self) -> None:
        self.run("deploy/kafka/kafka.sh", "start", str(self.kafka_dir), str(self.kafka_port),
                 str(self.kafka_controller_port))  # fmt: skip

    def kafka_stop(self) -> None:
        self.run("deploy/kafka/kafka.sh", "stop", str(self.kafka_dir))

    def create_databases(self) -> None:
        if self.postgres is None:
            return
        import asyncio
        import concurrent.futures

        import asyncpg

        dsn = self.postgres.replace("postgresql+asyncpg://", "postgresql://")

        async def create() -> None:
            conn = await asyncpg.connect(dsn)
            try:
                for name in (*SERVICES, "gateway"):
                    db = f"{self.db_prefix}_{name}"
                    await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
                    await conn.execute(f'CREATE DATABASE "{db}"')
            finally:
                await conn.close()

        # prepare() may be called from a running event loop (a test): run the coroutine on a thread of its own
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, create()).result()

    def prepare(self) -> Credentials:
        """Everything before the services start: broker, topics, databases, demo catalogue, demo credentials."""
        self.var.mkdir(parents=True, exist_ok=True)
        if self.bootstrap is None:
            self.kafka_start()
            self.own_broker = True
        self.create_databases()
        self.run(sys.executable, "-m", "services.topics")
        self.run("deploy/migrate.sh")
        self.run(sys.executable, "-m", "catalogue.tools.seed", PYTHONPATH=f"{ROOT}:{ROOT / 'catalogue-svc'}")
        out = self.run(sys.executable, "-m", "gateway.tools.cli", "demo", PYTHONPATH=f"{ROOT}:{ROOT / 'gateway'}")
        return parse_demo(out)

    def procfile(self) -> dict[str, str]:
        lines = (ROOT / "Procfile").read_text().splitlines()
        return {name.strip(): cmd.strip() for name, cmd in (ln.split(":", 1) for ln in lines if ":" in ln)}

    def start_service(self, name: str) -> None:
        log = open(self.var / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            ["bash", "-c", f"exec {self.procfile()[name]}"], cwd=ROOT, env=self.env(), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()

    def stop_service(self, name: str, sig: int = signal.SIGTERM) -> None:
        proc = self.procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def wait_ready(self, names: tuple[str, ...] | None = None, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        for name in names or (*SERVICES, "gateway"):
            url = f"http://127.0.0.1:{self.ports[name]}/readyz"
            while True:
                proc = self.procs.get(name)
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}); see {self.var / f'{name}.log'}")
                try:
                    if httpx.get(url, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready on {url}; see {self.var / f'{name}.log'}")
                time.sleep(0.3)

    def start(self) -> None:
        for name in (*SERVICES, "gateway"):
            self.start_service(name)
        self.wait_ready()

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_service(name)
        if self.own_broker:
            self.kafka_stop()


def parse_demo(out: str) -> Credentials:
    keys = dict(re.findall(r"^\s*(portal)\s+API key\s+X-API-Key: (\S+)", out, re.M))
    passwords = dict(re.findall(r"staff\s+(\S+) / (\S+)", out))
    if "portal" not in keys or not passwords:
        raise RuntimeError(f"unexpected output of gateway.tools.cli demo:\n{out}")
    return Credentials(keys["portal"], passwords)
