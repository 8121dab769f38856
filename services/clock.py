"""Business time: what every service calls "now" for receipts, deadlines, payments and reports.

The real clock by default. When ``MOTCUA_CLOCK_FILE`` names a file (set only for simulations), business time is
the ISO instant written in that file plus the real time elapsed since the file was last written: the simulator
moves time forward by rewriting the file, and between two moves time flows at the normal rate, so actions keep
their order. The file is re-read only when its modification time changes (one ``stat`` per call).

Security time (token expiry, leases, retries) stays on the real clock: it must not be fooled by a simulation.

Business dates are Asia/Ho_Chi_Minh (`VN_TZ`): `business_date(moment)` is the one conversion every service uses.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

CLOCK_FILE_ENV = "MOTCUA_CLOCK_FILE"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Asia/Ho_Chi_Minh has been UTC+7 without daylight saving since this instant; before it, ask the tz database.
_FIXED_SINCE = datetime(1975, 6, 12, 17, tzinfo=UTC) - _EPOCH
_VN_OFFSET = timedelta(hours=7)
_NAIVE_EPOCH = datetime(1970, 1, 1)


def business_date(moment: datetime) -> date:
    """The Asia/Ho_Chi_Minh date of an aware instant. A replay computes millions: where the offset is fixed this
    skips zoneinfo (an aware difference from the epoch is the fastest conversion)."""
    if moment.tzinfo is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {moment!r}")
    since_epoch = moment - _EPOCH
    if since_epoch >= _FIXED_SINCE:
        return (_NAIVE_EPOCH + since_epoch + _VN_OFFSET).date()
    return moment.astimezone(VN_TZ).date()


class FileClock:
    """Business time read from a file holding an aware ISO instant (written with `set_instant`)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._mtime_ns: int | None = None
        self._instant: datetime | None = None

    def now(self) -> datetime:
        try:
            mtime_ns = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            raise RuntimeError(f"{CLOCK_FILE_ENV} names {self.path}, which does not exist") from None
        if mtime_ns != self._mtime_ns or self._instant is None:
            self._instant = parse_instant(self.path.read_text())
            self._mtime_ns = mtime_ns
        elapsed = max(0.0, time.time() - mtime_ns / 1e9)
        return self._instant + timedelta(seconds=elapsed)


def parse_instant(text: str) -> datetime:
    instant = datetime.fromisoformat(text.strip())
    if instant.tzinfo is None:
        raise ValueError(f"the simulated instant {text.strip()!r} has no time zone")
    return instant.astimezone(UTC)


def set_instant(path: str | Path, instant: datetime) -> None:
    """Move simulated time to `instant` (atomically: readers see the old or the new instant, never half a file)."""
    if instant.tzinfo is None:
        raise ValueError("the simulated instant must be aware")
    target = Path(path)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(instant.astimezone(UTC).isoformat())
    os.replace(tmp, target)


_clock: FileClock | None = None
_configured: str | None = None


def now() -> datetime:
    """Aware UTC business time: the real clock, or the simulated one when MOTCUA_CLOCK_FILE is set."""
    global _clock, _configured
    path = os.environ.get(CLOCK_FILE_ENV) or None
    if path is None:
        return datetime.now(UTC)
    if path != _configured or _clock is None:
        _clock, _configured = FileClock(path), path
    return _clock.now()


def now_vn() -> datetime:
    return now().astimezone(VN_TZ)


def today_vn() -> date:
    """Today's business date (Asia/Ho_Chi_Minh)."""
    return business_date(now())
