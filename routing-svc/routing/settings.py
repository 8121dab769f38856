from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    """Environment variables start with ``ROUTING_`` (shared ones may use ``MOTCUA_``)."""

    model_config = SettingsConfigDict(env_prefix="ROUTING_", extra="ignore")
    service_name: ClassVar[str] = "routing"

    database_url: str = "sqlite+aiosqlite:///var/routing.db"
