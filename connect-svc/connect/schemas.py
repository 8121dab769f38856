"""Answers of connect-svc's operators' API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    party: str = Field(description="who it is for: dvcqg (the national portal)")
    dossier_id: str
    dossier_code: str
    kind: str = Field(description="dossier (DongBoHoSoMC) | step (CapNhatTienDoHoSoMC)")
    service: str
    seq: int = Field(description="its place among the dossier's deliveries")
    event_id: str
    event_type: str
    state: str = Field(description="pending | sent | acknowledged | parked")
    attempts: int
    next_attempt_at: datetime | None
    last_answer: str | None = Field(description="the portal's last answer, or why there was none")
    is_updating: bool | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    acknowledged_at: datetime | None


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any] = Field(description="the record as sent to the portal")


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_after: int | None = Field(description="pass as `after` for the next page; null: this was the last")
