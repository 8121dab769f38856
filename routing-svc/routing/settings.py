from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    """Environment variables start with ``ROUTING_`` (shared ones may use ``MOTCUA_``)."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")
    service_name: ClassVar[str] = "routing"

    database_url: str = "sqlite+aiosqlite:///var/routing.db"

    #: The overdue sweep runs every this many seconds on every replica (safe: each flag is set and announced once).
    sweep_enabled: bool = True
    sweep_interval_seconds: float = 60.0
    #: A deadline is "due soon" when it falls today or within this many following working days.
    due_soon_working_days: int = 1
    #: Worklist page size bounds.
    worklist_default_limit: int = 50
    worklist_max_limit: int = 200
