"""The typed dependencies of payment-svc's routers: what `main.build_app` puts on the application."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request

from payment.group_commit import GroupCommit
from payment.provider_client import ProviderClients
from payment.providers import WebhookProvider
from payment.settings import Settings
from services.db import Database


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def clients_of(request: Request) -> ProviderClients:
    clients: ProviderClients = request.app.state.provider_clients
    return clients


def providers_of(request: Request) -> dict[str, WebhookProvider]:
    providers: dict[str, WebhookProvider] = request.app.state.providers
    return providers


def notifications_of(request: Request) -> GroupCommit:
    notifications: GroupCommit = request.app.state.notifications
    return notifications


T = TypeVar("T")


def _dependency(of: Callable[[Request], T]) -> Callable[[Request], Awaitable[T]]:
    async def depend(request: Request) -> T:  # async: FastAPI would run a plain function in a worker thread
        return of(request)

    return depend


SettingsDep = Annotated[Settings, Depends(_dependency(settings_of))]
#: For an endpoint that runs transactions of its own (a refund: the provider is called between two).
DatabaseDep = Annotated[Database, Depends(_dependency(database_of))]
ClientsDep = Annotated[ProviderClients, Depends(_dependency(clients_of))]
#: The providers' callback verifiers, by name.
ProvidersDep = Annotated[dict[str, WebhookProvider], Depends(_dependency(providers_of))]
