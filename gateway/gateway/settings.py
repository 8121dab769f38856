from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    """Environment variables start with ``GATEWAY_`` (shared ones may use ``MOTCUA_``)."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")
    service_name: ClassVar[str] = "gateway"

    database_url: str = "sqlite+aiosqlite:///var/gateway.db"
    # The gateway publishes no events and consumes none.
    relay_enabled: bool = False
    consumers_enabled: bool = False
