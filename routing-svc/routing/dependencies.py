"""The typed dependencies of routing-svc's routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from routing.service import Journeys
from routing.settings import Settings
from services.db import SessionDep


def journeys(request: Request, session: SessionDep) -> Journeys:
    settings: Settings = request.app.state.settings
    return Journeys(session, settings.topic_prefix)


#: the commands on journeys in the request's transaction
JourneysDep = Annotated[Journeys, Depends(journeys)]
