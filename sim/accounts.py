"""Staff accounts of the simulation, as `gateway.tools.cli create-staff` makes them (idempotent).

    PYTHONPATH=.:gateway python -m sim.accounts PASSWORD UNIT:ROLE:USERNAME ...

A city's one-stop system has a desk officer at every ward and at the centre, and specialists at every department
that processes dossiers; the demo credentials only cover one of each. They all get the same password (hashed once:
the password hash is deliberately slow).
"""

from __future__ import annotations

import asyncio
import sys

from gateway.auth import password_hash, utcnow
from gateway.models import StaffAccount
from gateway.settings import Settings
from sqlalchemy import select

from services.db import Database
from services.identity import Role


async def ensure(password: str, specs: list[tuple[str, str, str]]) -> None:
    db = Database(Settings().database_url, service="sim-accounts")
    try:
        hashed = await asyncio.to_thread(password_hash.hash, password)
        async with db.sessionmaker() as session, session.begin():
            existing = set((await session.execute(select(StaffAccount.username))).scalars())
            for unit, role, username in specs:
                if username not in existing:
                    session.add(
                        StaffAccount(username=username, password_hash=hashed, role=Role(role).value, unit=unit,
                                     full_name=f"Cán bộ mô phỏng {username}", active=True, created_at=utcnow())
                    )  # fmt: skip
    finally:
        await db.dispose()


def main(argv: list[str]) -> None:
    password, *raw = argv
    specs = [(unit, role, username) for unit, role, username in (item.split(":", 2) for item in raw)]
    asyncio.run(ensure(password, specs))
    print(f"{len(specs)} simulation staff accounts ready")


if __name__ == "__main__":
    main(sys.argv[1:])
