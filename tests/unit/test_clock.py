"""The kernel clock: real by default, the simulated instant of MOTCUA_CLOCK_FILE when configured."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from services import clock
from services.clock import VN_TZ


def test_real_clock_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.CLOCK_FILE_ENV, raising=False)
    before = datetime.now(UTC)
    now = clock.now()
    assert before <= now <= datetime.now(UTC)
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)


def test_simulated_instant_flows_from_the_moment_it_was_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "clock"
    monkeypatch.setenv(clock.CLOCK_FILE_ENV, str(path))
    clock.set_instant(path, datetime(2021, 5, 17, 8, 0, tzinfo=VN_TZ))
    # pretend the file was written 90 s ago: business time is the instant plus the real time since
    written = path.stat().st_mtime - 90
    os.utime(path, (written, written))
    now = clock.now()
    assert now.tzinfo is not None and now.utcoffset() == timedelta(0)
    start = datetime(2021, 5, 17, 1, 0, tzinfo=UTC)
    assert start + timedelta(seconds=90) <= now < start + timedelta(seconds=150)
    assert clock.today_vn() == date(2021, 5, 17)

    # moving time on is seen at once, even when the file changes within the same second
    clock.set_instant(path, datetime(2021, 8, 15, 23, 30, tzinfo=VN_TZ))
    assert clock.now() >= datetime(2021, 8, 15, 16, 30, tzinfo=UTC)
    assert clock.today_vn() == date(2021, 8, 15)
    assert clock.now_vn().tzinfo is VN_TZ


def test_bad_configuration_is_an_error_not_the_real_clock(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "clock"
    monkeypatch.setenv(clock.CLOCK_FILE_ENV, str(path))
    with pytest.raises(RuntimeError, match="does not exist"):
        clock.now()
    path.write_text("2021-05-17T08:00:00")
    with pytest.raises(ValueError, match="no time zone"):
        clock.now()
    with pytest.raises(ValueError, match="aware"):
        clock.set_instant(path, datetime(2021, 5, 17, 8, 0))


def test_the_business_date_is_the_date_in_ho_chi_minh_city_whatever_the_offset_of_the_moment() -> None:
    assert clock.business_date(datetime(2021, 5, 16, 16, 59, 59, tzinfo=UTC)) == date(2021, 5, 16)
    assert clock.business_date(datetime(2021, 5, 16, 17, 0, tzinfo=UTC)) == date(2021, 5, 17)
    assert clock.business_date(datetime(2021, 5, 17, 0, 30, tzinfo=VN_TZ)) == date(2021, 5, 17)
    paris_summer = timezone(timedelta(hours=2))
    assert clock.business_date(datetime(2021, 5, 16, 19, 30, tzinfo=paris_summer)) == date(2021, 5, 17)


def test_the_business_date_before_1975_follows_the_time_zone_database() -> None:
    # Saigon kept UTC+8 until 1975: 16:30 UTC was already the next day there, not under today's UTC+7.
    moment = datetime(1970, 3, 1, 16, 30, tzinfo=UTC)
    assert clock.business_date(moment) == moment.astimezone(VN_TZ).date() == date(1970, 3, 2)


def test_a_naive_moment_has_no_business_date() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.business_date(datetime(2021, 5, 17, 8, 0))
