from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    """Environment variables start with ``STATS_`` (shared ones may use ``MOTCUA_``).

    Decision 766/QĐ-TTg indicators: each row scores ``max`` points when its rate reaches ``target``, else
    ``rate × max ÷ target``. The defaults are our reading of the decision's dossier-processing group (progress 20
    points at 100 %, online dossiers 12 points at 50 %, online payment 10 points at 50 %); set
    ``STATS_INDICATOR_*`` to the values the province applies.
    """

    model_config = SettingsConfigDict(env_prefix="STATS_", extra="ignore")
    service_name: ClassVar[str] = "stats"

    database_url: str = "sqlite+aiosqlite:///var/stats.db"

    indicator_progress_target: float = 1.0
    indicator_progress_max: float = 20.0
    indicator_online_target: float = 0.5
    indicator_online_max: float = 12.0
    indicator_online_payment_target: float = 0.5
    indicator_online_payment_max: float = 10.0

    #: How many earlier periods of the same length the quarterly report compares against.
    compare_periods: int = 2
    #: Longest report range in days (a guard against accidental full scans over decades).
    max_range_days: int = 3660
