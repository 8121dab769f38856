"""A minimal service for the gateway tests, run as a real process: ``uvicorn tests.gateway.upstream:app``.

It verifies the internal identity token exactly as the services do (services.identity) and echoes what it received.
UPSTREAM_NAME names it; MOTCUA_INTERNAL_TOKEN_SECRET is the shared secret.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from services.errors import install_problem_handlers
from services.identity import HEADER, verify
from services.observability import RequestContextMiddleware

NAME = os.environ.get("UPSTREAM_NAME", "upstream")
SECRET = os.environ.get("MOTCUA_INTERNAL_TOKEN_SECRET", "motcua-dev-internal-secret-change-me-0123456789")

app = FastAPI(title=f"test {NAME}")
app.add_middleware(RequestContextMiddleware)
install_problem_handlers(app)


class Item(BaseModel):
    id: str
    name: str


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok", "service": NAME}


@app.get("/readyz")
async def readyz() -> dict[str, str]:
    return {"status": "ready"}


@app.get("/items/{item_id}", response_model=Item, operation_id="get_item", tags=["items"])
async def get_item(item_id: str, request: Request) -> Item:
    verify(request.headers.get(HEADER, ""), SECRET)
    return Item(id=item_id, name=NAME)


@app.get("/slow", include_in_schema=False)
async def slow(s: float = 3.0) -> dict[str, str]:
    await asyncio.sleep(s)
    return {"status": "late"}


@app.get("/big", include_in_schema=False)
async def big(request: Request) -> StreamingResponse:
    verify(request.headers.get(HEADER, ""), SECRET)

    async def chunks():  # type: ignore[no-untyped-def]
        for i in range(32):
            yield bytes([65 + i % 26]) * 65536

    return StreamingResponse(chunks(), media_type="application/octet-stream")


@app.api_route("/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
               include_in_schema=False)
async def echo(path: str, request: Request) -> dict[str, object]:
    token = request.headers.get(HEADER)
    who = verify(token or "", SECRET)  # 401 problem+json without a valid token, as in the services
    body = await request.body()
    return {
        "service": NAME,
        "method": request.method,
        "path": request.url.path,
        "raw_path": request.scope["raw_path"].decode("latin-1"),
        "query": request.scope["query_string"].decode("latin-1"),
        "identity": who.model_dump(mode="json"),
        "identity_headers": len(request.headers.getlist(HEADER)),
        "headers": {k: v for k, v in request.headers.items() if k != HEADER},
        "body_sha256": hashlib.sha256(body).hexdigest(),
        "body_length": len(body),
    }
