"""Settings of payment-svc: environment variables start with ``PAYMENT_`` (shared ones may use ``MOTCUA_``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENT_", extra="ignore")
    service_name: ClassVar[str] = "payment"

    database_url: str = "sqlite+aiosqlite:///var/payment.db"

    # --- The centre's collection account, shown in every VietQR -------------------------------------
    #: NAPAS BIN of the centre's bank (970415 VietinBank, 970436 Vietcombank, 970418 BIDV, …).
    bank_bin: str = Field(default="970415", pattern=r"^[0-9]{6}$")
    bank_account: str = Field(default="113366668888", pattern=r"^[0-9A-Za-z]{1,19}$")
    #: ASCII prefix of the transfer purpose (tag 62/08); the payment's order reference follows it.
    qr_purpose_prefix: str = Field(default="LE PHI", max_length=9, pattern=r"^[ -~]*$")

    # --- Payments ---------------------------------------------------------------------------------
    #: A pending payment not paid within this many seconds expires (the sweep publishes PaymentExpired).
    payment_ttl_seconds: float = Field(default=900, gt=0)
    #: How often the expiry sweep runs in each replica (0 = never; an admin can still POST /payments/expire).
    expiry_sweep_interval: float = Field(default=30, ge=0)

    # --- Webhooks (see group_commit.py) --------------------------------------------------------------
    #: At most this many verified notifications share one transaction.
    webhook_batch_max: int = Field(default=100, ge=1, le=1000)
    #: Transactions of notifications in flight at once per process (each holds a database connection).
    webhook_batch_concurrency: int = Field(default=2, ge=1, le=32)

    # --- Provider secrets (the dev defaults only suit a laptop and the simulator) --------------------
    payos_checksum_key: SecretStr = SecretStr("dev-payos-checksum-key")
    vnpay_hash_secret: SecretStr = SecretStr("DEVVNPAYHASHSECRET0123456789ABCDEF")
    vnpay_tmn_code: str = "MOTCUA01"
    momo_partner_code: str = "MOMOMOTCUA"
    momo_access_key: SecretStr = SecretStr("dev-momo-access-key")
    momo_secret_key: SecretStr = SecretStr("dev-momo-secret-key")
    zalopay_app_id: int = 2553
    zalopay_key2: SecretStr = SecretStr("dev-zalopay-key2")
