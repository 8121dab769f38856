"""Group commit of verified webhook notifications.

Under load most of a webhook's cost is the transaction around it (a handful of statements and a commit). Requests
that arrive while a transaction is in flight wait in a queue; the next transaction takes all of them and applies
them together (`service.apply_notifications`: one statement per step for the whole batch). Each request is
answered only after the transaction that applied it has committed.

- Every notification is still verified by its own request before it gets here, and deduplicated and recorded one
  by one inside the batch.
- Two copies of one payment or provider transaction never share a batch: the later one waits for the next, where
  it sees what the first did (a duplicate), exactly as if the two had come one after the other.
- If a batch fails as a whole (one bad notification, a deadlock with another replica), each of its notifications
  is applied again in a transaction of its own, so that only the bad one fails.
- Nothing is held in memory past a commit: a crash loses only unanswered requests, which the provider retries.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

import structlog
from prometheus_client import Histogram

from payment import service
from payment.providers import Notification
from payment.service import Result
from payment.settings import Settings
from services.db import Database
from services.errors import Problem
from services.observability import current_request_id

log = structlog.get_logger(__name__)

BATCH_SIZE = Histogram(
    "payment_webhook_batch_size",
    "Verified notifications applied together in one transaction",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)


@dataclass(slots=True)
class _Waiting:
    note: Notification
    request_id: str | None
    answer: asyncio.Future[Result] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit:
    """Applies the notifications handed to `apply` in shared transactions, `settings.webhook_batch_max` at most
    each, with up to `settings.webhook_batch_concurrency` transactions in flight (`run` is the service loop)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._queue: deque[_Waiting] = deque()
        self._arrived = asyncio.Event()
        self._stopped = False

    async def apply(self, note: Notification) -> Result:
        """Apply `note` and return what it did, once that is committed."""
        if self._stopped:
            raise Problem(503, "The service is stopping; send the notification again.", code="stopping")
        waiting = _Waiting(note, current_request_id())
        self._queue.append(waiting)
        self._arrived.set()
        return await waiting.answer

    async def run(self, db: Database) -> None:
        try:
            await asyncio.gather(*(self._worker(db) for _ in range(self.settings.webhook_batch_concurrency)))
        finally:
            self._stopped = True
            while self._queue:
                self._fail(self._queue.popleft(), Problem(503, "The service is stopping.", code="stopping"))

    async def _worker(self, db: Database) -> None:
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            batch = self._take()
            if batch:
                await self._apply(db, batch)

    def _take(self) -> list[_Waiting]:
        """The oldest waiting notifications, skipping copies of one already taken (they go in a later batch)."""
        batch: list[_Waiting] = []
        later: deque[_Waiting] = deque()
        payments: set[str] = set()
        transactions: set[tuple[str, str]] = set()
        while self._queue and len(batch) < self.settings.webhook_batch_max:
            waiting = self._queue.popleft()
            if waiting.answer.done():  # the caller went away before it was applied: the provider will retry
                continue
            note = waiting.note
            transaction = (note.provider, note.provider_txn_id)
            if note.order_ref in payments or transaction in transactions:
                later.append(waiting)
                continue
            payments.add(note.order_ref)
            transactions.add(transaction)
            batch.append(waiting)
        self._queue.extendleft(reversed(later))
        return batch

    async def _apply(self, db: Database, batch: list[_Waiting]) -> None:
        BATCH_SIZE.observe(len(batch))
        try:
            async with db.sessionmaker() as session, session.begin():
                results = await service.apply_notifications(
                    session,
                    self.settings,
                    [w.note for w in batch],
                    source="webhook",
                    request_ids=[w.request_id for w in batch],
                )
        except asyncio.CancelledError:
            for waiting in batch:
                self._fail(waiting, Problem(503, "The service is stopping.", code="stopping"))
            raise
        except Exception as exc:
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            log.warning("webhook_batch_failed", size=len(batch), error=repr(exc))
            for waiting in batch:
                await self._apply(db, [waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(result)

    @staticmethod
    def _fail(waiting: _Waiting, exc: BaseException) -> None:
        if not waiting.answer.done():
            waiting.answer.set_exception(exc)
