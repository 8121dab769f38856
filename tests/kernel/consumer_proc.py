"""A consumer in its own process (the other side of the bus in the kernel tests).

    python tests/kernel/consumer_proc.py DB_URL BOOTSTRAP PREFIX [--crash-after-commit | --crash-after-group-commit]

With --crash-after-commit the process applies each event in a transaction of its own and dies (os._exit) right
after the first event's database transaction commits, before its Kafka offset is committed. With
--crash-after-group-commit it groups the events of a poll as services do and dies right after the first
transaction commits, whatever number of events it held.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from services.db import Database
from services.events import CloudEvent
from tests.kernel.support import Base, make_consumer


async def main() -> None:
    db_url, bootstrap, prefix = sys.argv[1:4]
    single = "--crash-after-commit" in sys.argv
    crash = single or "--crash-after-group-commit" in sys.argv
    db = Database(db_url)
    await db.create_all(Base.metadata)

    def on_committed(_: CloudEvent) -> None:
        if crash:
            os._exit(3)

    consumer = make_consumer(db, bootstrap, prefix, on_committed=on_committed, group_size=1 if single else 100)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, lambda: asyncio.ensure_future(consumer.stop()))
    print("consumer started", flush=True)
    await consumer.run()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
