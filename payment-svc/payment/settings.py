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
    #: How often the sweep runs in each replica: status queries of silent payments and of refunds whose answer
    #: was lost, then expiry (0 = never; an admin can still POST /payments/expire).
    expiry_sweep_interval: float = Field(default=30, ge=0)

    # --- Silent payments and refunds: the providers' APIs (provider_api.py, settlement.py) ----------------------
    #: Ask the provider about a payment still pending this many seconds after it started without a callback.
    status_query_after_seconds: float = Field(default=900, ge=0)
    #: First wait before asking again about a payment (or a refund) whose answer was "not yet" or did not come;
    #: it doubles each time, up to `status_query_max_retry_seconds`.
    status_query_retry_seconds: float = Field(default=60, gt=0)
    status_query_max_retry_seconds: float = Field(default=3600, gt=0)
    #: Payments asked about per sweep round and replica, and requests to the providers in flight at once.
    status_query_batch: int = Field(default=200, ge=1, le=5000)
    provider_api_concurrency: int = Field(default=8, ge=1, le=128)
    #: Seconds to wait for a provider's API; an answer that does not come counts as lost (asked about again).
    provider_api_timeout: float = Field(default=15, gt=0)
    #: Where each provider's API is (the production addresses; sandboxes and the simulator are settings too).
    vnpay_api_url: str = "https://merchant.vnpay.vn/merchant_webapi/api/transaction"
    #: vnp_IpAddr of the centre's server in VNPay's API requests.
    vnpay_client_ip: str = "127.0.0.1"
    payos_api_url: str = "https://api-merchant.payos.vn"
    payos_client_id: str = "dev-payos-client-id"
    payos_api_key: SecretStr = SecretStr("dev-payos-api-key")
    momo_api_url: str = "https://payment.momo.vn"
    zalopay_api_url: str = "https://openapi.zalopay.vn"
    #: ZaloPay signs callbacks with key2; the merchant signs its API requests with key1.
    zalopay_key1: SecretStr = SecretStr("dev-zalopay-key1")

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
