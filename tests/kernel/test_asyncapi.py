"""docs/asyncapi.json is generated from the event models and must be kept current."""

from __future__ import annotations

import json

from services import asyncapi
from services.events import registry
from tests.harness import ROOT


def test_committed_asyncapi_document_is_current() -> None:
    committed = (ROOT / "docs" / "asyncapi.json").read_text(encoding="utf-8")
    assert committed == asyncapi.render(), "regenerate: python -m services.asyncapi > docs/asyncapi.json"


def test_every_contract_event_has_a_topic_and_a_message() -> None:
    document = json.loads(asyncapi.render())
    names = {m["name"] for m in document["components"]["messages"].values()}
    contract_types = {t for t, model in registry.types().items() if model.__module__.startswith("services.contracts")}
    assert contract_types, "no contracts loaded"
    assert contract_types <= names
    topics = {c["address"].split(".", 1)[1] for c in document["channels"].values()}
    for event_type in contract_types:
        assert asyncapi.topic_for(event_type).name in topics
