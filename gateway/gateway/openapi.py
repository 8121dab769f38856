"""One OpenAPI document: the gateway's own operations plus each service's public operations under its prefix.

Each service's /openapi.json is fetched (concurrently, with a short timeout) and cached; a service that is down
keeps its last good copy, or is left out and named in ``x-motcua-unavailable``.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from gateway import callbacks
from gateway.settings import Settings

SERVICE_NAMES = {"catalogue": "catalogue-svc", "dossiers": "intake-svc", "routing": "routing-svc",
                 "payments": "payment-svc", "stats": "stats-svc",
                 "deliveries": "connect-svc"}
HIDDEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(v, renames) for v in node]
    return node


def merge(own: dict[str, Any], services: dict[str, dict[str, Any]], *, strip_prefix: bool,
          unavailable: list[str]) -> dict[str, Any]:
    doc = copy.deepcopy(own)
    paths: dict[str, Any] = doc.setdefault("paths", {})
    components: dict[str, Any] = doc.setdefault("components", {})
    tags = {t["name"]: t for t in doc.get("tags", [])}
    for family, spec in services.items():
        prefix = f"/api/v1/{family}"
        renames: dict[str, str] = {}
        for kind, items in (spec.get("components") or {}).items():
            if kind == "securitySchemes":
                continue
            for name in items:
                renames[f"#/components/{kind}/{name}"] = f"#/components/{kind}/{family}.{name}"
        spec = _rename_refs(spec, renames)
        for kind, items in (spec.get("components") or {}).items():
            if kind == "securitySchemes":
                continue
            target = components.setdefault(kind, {})
            for name, value in items.items():
                target[f"{family}.{name}"] = value
        for path, item in (spec.get("paths") or {}).items():
            if path in HIDDEN_PATHS:
                continue
            callback = callbacks.public_path(family, path)
            if callback is not None:  # public, without credentials of ours: the provider's signature
                for operation in item.values():
                    if isinstance(operation, dict):
                        operation["security"] = []
                        operation["tags"] = ["callbacks"]
                paths[callback] = item
                continue
            if strip_prefix:
                public = prefix + (path if path != "/" else "")
            elif path == prefix or path.startswith(prefix + "/"):
                public = path
            else:
                continue
            for method, operation in item.items():
                if method not in METHODS or not isinstance(operation, dict):
                    continue
                if "operationId" in operation:
                    operation["operationId"] = f"{family}_{operation['operationId']}"
                if not operation.get("tags"):
                    operation["tags"] = [family]
                for tag in operation["tags"]:
                    tags.setdefault(tag, {"name": tag, "description": f"via {SERVICE_NAMES[family]}"})
            paths[public] = item
    doc["tags"] = list(tags.values())
    components.setdefault("securitySchemes", {}).update(
        {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                       "description": "API key of a system (portal, wallet, integration): mck_<prefix>_<secret>"},
            "StaffToken": {"type": "oauth2", "description": "Staff access token from POST /api/v1/auth/token",
                           "flows": {"password": {"tokenUrl": "/api/v1/auth/token", "scopes": {}}}},
        }
    )
    doc["security"] = [{"ApiKey": []}, {"StaffToken": []}]
    if unavailable:
        doc["x-motcua-unavailable"] = sorted(unavailable)
    return doc


class OpenAPIAggregator:
    def __init__(self, settings: Settings, session: aiohttp.ClientSession, own: Callable[[], dict[str, Any]]) -> None:
        self.settings = settings
        self.session = session
        self.own = own
        self._specs: dict[str, dict[str, Any]] = {}
        self._doc: dict[str, Any] | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _fetch(self, family: str, base: str) -> dict[str, Any] | None:
        try:
            async with self.session.get(base.rstrip("/") + "/openapi.json", allow_redirects=False,
                                        timeout=aiohttp.ClientTimeout(total=3.0)) as response:
                if not 200 <= response.status < 300:  # as raise_for_status did: redirects count as failures
                    return None
                spec = await response.json(content_type=None)
            return spec if isinstance(spec, dict) else None
        except (TimeoutError, aiohttp.ClientError, ValueError):
            return None

    async def document(self) -> dict[str, Any]:
        async with self._lock:
            if self._doc is not None and self._expires > time.monotonic():
                return self._doc
            upstreams = self.settings.upstreams()
            results = await asyncio.gather(*(self._fetch(f, u) for f, u in upstreams.items()))
            unavailable = []
            for family, spec in zip(upstreams, results, strict=True):
                if spec is not None:
                    self._specs[family] = spec
                elif family not in self._specs:
                    unavailable.append(family)
            self._doc = merge(self.own(), self._specs, strip_prefix=self.settings.strip_prefix,
                              unavailable=unavailable)
            # A partial document is refreshed sooner, so a service that comes up appears quickly.
            ttl = self.settings.openapi_cache_seconds
            if unavailable:
                ttl = min(5.0, ttl)
            self._expires = time.monotonic() + ttl
            return self._doc
