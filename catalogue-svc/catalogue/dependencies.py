"""The typed dependencies of catalogue-svc's routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request


def _topic_prefix(request: Request) -> str:
    return str(request.app.state.settings.topic_prefix)


def _database_url(request: Request) -> str:
    return str(request.app.state.db.url)


#: The prefix of the topics this service writes to (its settings').
TopicPrefix = Annotated[str, Depends(_topic_prefix)]
#: The service's database URL, which keys the search index it caches.
DatabaseUrl = Annotated[str, Depends(_database_url)]
