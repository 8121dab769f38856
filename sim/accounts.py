"""Staff accounts of the simulation, created the way `gateway.cli create-staff` does (idempotent).

    PYTHONPATH=.:gateway python -m sim.accounts PASSWORD UNIT:ROLE:USERNAME ...

A city's one-stop system has a desk officer at every ward and at the centre, and specialists at every department
that processes dossiers; the demo credentials only cover one of each.
"""

from __future__ import annotations

import asyncio
import sys

from gateway.auth import create_staff
from gateway.models import StaffAccount
from gateway.settings import Settings
from sqlalchemy import select

from services.db import Database
from services.identity import Role


async def ensure(password: str, specs: list[tuple[str, str, str]]) -> None:
    db = Database(Settings().database_url, service="sim-accounts")
    try:
        async with db.sessionmaker() as session, session.begin():
            existing = set((await session.execute(select(StaffAccount.username))).scalars())
            for unit, role, username in specs:
                if username in existing:
                    continue
                await create_staff(session, username=username, password=password, role=Role(role),
                                             unit=unit, full_name=f"Cán bộ mô phỏng {username}")  # fmt: skip
    finally:
        await db.dispose()


def main(argv: list[str]) -> None:
    password, *raw = argv
    specs = [tuple(item.split(":", 2)) for item in raw]
    asyncio.run(ensure(password, specs))  # type: ignore[arg-type]
    print(f"{len(specs)} simulation staff accounts ready")


if __name__ == "__main__":
    main(sys.argv[1:])
