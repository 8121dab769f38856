"""The national portal's API over HTTP: sign-in, a session kept and renewed when the portal says it expired, calls
of the integration endpoint. What the answers mean is `connect.domain.protocol`'s."""

from __future__ import annotations

from typing import Any

import httpx
import structlog
from prometheus_client import Counter

from connect.domain import protocol
from connect.domain.protocol import CallAnswer, UnreadableAnswer
from connect.domain.records import SERVICE_LOOKUP, F
from connect.settings import Settings

log = structlog.get_logger(__name__)

SIGN_INS = Counter("connect_portal_sign_ins_total", "Sign-ins at the national portal", ["service", "outcome"])


class PortalUnavailable(Exception):
    """No usable answer: the portal could not be reached, timed out, failed (5xx) or answered off-protocol."""


class PortalClient:
    def __init__(self, settings: Settings, http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.http = http or httpx.AsyncClient(base_url=settings.portal_url, timeout=settings.portal_timeout)
        self.session: str | None = None

    async def close(self) -> None:
        await self.http.aclose()

    async def _post(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        try:
            response = await self.http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise PortalUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise PortalUnavailable(f"HTTP {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError as exc:
            raise PortalUnavailable(f"HTTP {response.status_code}, not JSON: {response.text[:200]}") from exc

    async def sign_in(self) -> str:
        s = self.settings
        answer = await self._post(
            s.portal_login_path,
            {"username": s.portal_username, "password": s.portal_password.get_secret_value()},
            headers={s.portal_unit_header: s.portal_unit_code},
        )
        try:
            self.session = protocol.session_of(answer)
        except UnreadableAnswer as exc:
            SIGN_INS.labels("connect", "refused").inc()
            raise PortalUnavailable(str(exc)) from exc
        SIGN_INS.labels("connect", "ok").inc()
        return self.session

    async def held_steps(self, codes: list[str]) -> dict[str, list[dict[str, Any]]]:
        """What the portal holds of these dossiers' steps (`TraCuuHoSo`)."""
        for _ in (False, True):
            session = self.session or await self.sign_in()
            body = protocol.call_body(
                session, self.settings.portal_unit_code, SERVICE_LOOKUP, False, [{F.CODE: code} for code in codes]
            )
            answer = await self._post(self.settings.portal_service_path, body)
            if isinstance(answer, dict) and answer.get("error_code") == protocol.SESSION_EXPIRED:
                self.session = None
                continue
            try:
                return protocol.held_steps(answer)
            except UnreadableAnswer as exc:
                raise PortalUnavailable(str(exc)) from exc
        raise PortalUnavailable("the portal refused a session it had just given")

    async def call(self, service: str, is_updating: bool, records: list[dict[str, Any]]) -> CallAnswer:
        """One call carrying `records`; signs in first when there is no session, and once again when the portal
        says the session expired."""
        for renewed in (False, True):
            session = self.session or await self.sign_in()
            body = protocol.call_body(session, self.settings.portal_unit_code, service, is_updating, records)
            try:
                answer = protocol.read_call_answer(await self._post(self.settings.portal_service_path, body), records)
            except UnreadableAnswer as exc:
                raise PortalUnavailable(str(exc)) from exc
            if not answer.session_expired:
                return answer
            self.session = None
            if not renewed:
                log.info("portal_session_expired")
        raise PortalUnavailable("the portal refused a session it had just given")
