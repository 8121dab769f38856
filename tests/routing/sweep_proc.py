"""One sweep in a process of its own: `python sweep_proc.py <db url> <topic prefix> <now iso>`; prints the counts."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

from routing.sweep import sweep

from services.db import Database


async def main(url: str, prefix: str, now: str) -> None:
    db = Database(url, service="routing")
    try:
        async with db.sessionmaker() as session, session.begin():
            result = await sweep(session, prefix, now=datetime.fromisoformat(now))
        print(json.dumps({"overdue": result.overdue, "step_overdue": result.step_overdue, "events": result.events}))
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
