"""Settings of connect-svc: environment variables start with ``CONNECT_`` (shared ones may use ``MOTCUA_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connect.domain.delivery import RetryPolicy
from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONNECT_", extra="ignore")
    service_name: ClassVar[str] = "connect"

    database_url: str = "sqlite+aiosqlite:///var/connect.db"
    # connect-svc publishes no events.
    relay_enabled: bool = False

    # --- the national portal (DVCQG) ------------------------------------------------------------------------
    #: Where the portal's integration API is; the default is the simulator that `make run` starts.
    portal_url: str = "http://127.0.0.1:8191"
    #: Paths of the sign-in and of the integration endpoint, as the portal assigns them to the province.
    portal_login_path: str = "/api/login"
    portal_service_path: str = "/api/service"
    #: The centre's account at the portal.
    portal_username: str = "motcua"
    portal_password: SecretStr = SecretStr("dev-dvcqg-password")
    #: The unit code the portal knows the centre by (`madonvi`), and the header the sign-in carries it in.
    portal_unit_code: str = "000.00.00.H57"
    portal_unit_header: str = "madonvi"
    #: Seconds to wait for the portal's answer; an answer that does not come is a failed attempt.
    portal_timeout: float = Field(default=10.0, gt=0)

    # --- deliveries --------------------------------------------------------------------------------------------
    #: Run the delivery worker in this process (every replica may: they share the work).
    delivery_enabled: bool = True
    #: Deliveries claimed per round, and records per call of the portal (its `data` list).
    delivery_batch: int = Field(default=500, ge=1, le=10_000)
    records_per_call: int = Field(default=50, ge=1, le=1000)
    #: With nothing due, the worker looks again after this many seconds (a consumed event wakes it at once).
    delivery_poll_interval: float = Field(default=1.0, gt=0)
    #: A claimed delivery is another worker's to take after this many seconds without an answer recorded.
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    #: Back-off after a failed attempt: the first wait, doubled at each failure up to the maximum, less a random
    #: share (the jitter, 0–1); parked after `max_attempts` failed attempts.
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=900.0, gt=0)
    retry_jitter: float = Field(default=0.5, ge=0, le=1)
    max_attempts: int = Field(default=20, ge=1)
    #: Calls in a row without a usable answer that open the circuit, and how long it stays open before one call
    #: probes the portal again.
    circuit_failures: int = Field(default=5, ge=1)
    circuit_cooldown_seconds: float = Field(default=30.0, gt=0)
    #: How often the backlog gauges are read from the database.
    metrics_interval: float = Field(default=5.0, gt=0)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retry_base_seconds, self.retry_max_seconds, self.retry_jitter, self.max_attempts)
