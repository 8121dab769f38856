"""CloudEvents 1.0 envelope and the registry of typed, versioned event payloads.

On Kafka an event travels in structured JSON mode (the whole envelope in the value, content type
``application/cloudevents+json``), keyed by the aggregate id, with the request id in a header as well.

Every payload model is registered under its full CloudEvents type, which ends in its version
(``vn.motcua.catalogue.procedure.published.v1``). A change that is not backward compatible is a new model with a
new version; consumers keep handling the old one for as long as old events are in the topics.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from services.observability import current_request_id

TYPE_PREFIX = "vn.motcua."
CONTENT_TYPE = "application/cloudevents+json"


class CloudEvent(BaseModel):
    """The CloudEvents 1.0 envelope. Extension attributes (such as `requestid`) are kept as extra fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    subject: str | None = None
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    data: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> CloudEvent:
        return cls.model_validate_json(raw)

    @property
    def requestid(self) -> str | None:
        extra = self.model_extra or {}
        value = extra.get("requestid")
        return value if isinstance(value, str) else None


class EventPayload(BaseModel):
    """Base of every event payload model; `event_type` is set by `@event_type`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]


P = TypeVar("P", bound=EventPayload)


class UnknownEventType(LookupError):
    pass


class InvalidEvent(ValueError):
    pass


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[str, type[EventPayload]] = {}

    def register(self, type_: str, model: type[EventPayload]) -> None:
        existing = self._models.get(type_)
        if existing is not None and existing is not model:
            raise ValueError(f"event type {type_!r} is already registered to {existing.__name__}")
        self._models[type_] = model

    def model_for(self, type_: str) -> type[EventPayload]:
        try:
            return self._models[type_]
        except KeyError:
            raise UnknownEventType(f"unknown event type {type_!r}") from None

    def types(self) -> dict[str, type[EventPayload]]:
        return dict(self._models)

    def decode(self, raw: bytes) -> tuple[CloudEvent, EventPayload]:
        """Parse a structured-mode event and its typed payload; raise InvalidEvent / UnknownEventType."""
        try:
            envelope = CloudEvent.from_json(raw)
        except ValidationError as exc:
            raise InvalidEvent(f"not a CloudEvents 1.0 envelope: {exc.errors()[:3]}") from exc
        model = self.model_for(envelope.type)
        try:
            payload = model.model_validate(envelope.data or {})
        except ValidationError as exc:
            raise InvalidEvent(f"{envelope.type} payload is invalid: {exc.errors()[:3]}") from exc
        return envelope, payload


registry = EventRegistry()


def event_type(name: str, version: int) -> Callable[[type[P]], type[P]]:
    """Register a payload model as CloudEvents type ``vn.motcua.{name}.v{version}``."""

    def decorate(model: type[P]) -> type[P]:
        full = f"{TYPE_PREFIX}{name}.v{version}"
        model.event_type = full
        registry.register(full, model)
        return model

    return decorate


def new_event(payload: EventPayload, *, source: str, subject: str | None = None, **extensions: Any) -> CloudEvent:
    """Wrap a payload in an envelope, carrying the current request id as the `requestid` extension."""
    request_id = current_request_id()
    if request_id and "requestid" not in extensions:
        extensions["requestid"] = request_id
    return CloudEvent(
        source=source,
        type=payload.event_type,
        subject=subject,
        data=payload.model_dump(mode="json"),
        **extensions,
    )
