"""What intake's endpoints are given, one typed dependency each: the request's session (one transaction),
the verified caller, and the service's context (settings, document store, clock, replica cache)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from intake.service import Context
from services.db import SessionDep as SessionDep
from services.identity import CurrentIdentity as CurrentIdentity


async def _context(request: Request) -> Context:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hand-off per request
    ctx: Context = request.app.state.intake
    return ctx


ContextDep = Annotated[Context, Depends(_context)]
