"""Security headers on every response of every service and of the gateway.

- ``X-Content-Type-Options: nosniff`` everywhere: a browser never guesses a type other than the one sent (an uploaded
  file sent as ``text/plain`` is not run as HTML or script).
- ``Content-Security-Policy`` on HTML pages and SVG images that do not set their own: our printable pages (forms
  01–05, the report page) are self-contained, with inline styles and inline SVG charts and no script, so the policy
  allows styles and ``data:`` images and nothing else; no frames, forms, or base URL.
- ``Referrer-Policy: no-referrer``: dossier ids and codes in our URLs do not leak to other sites.

Downloads name themselves with `attachment` (or `inline` for images shown in the page), RFC 6266 with the UTF-8
form for Vietnamese file names.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The policy of a self-contained printable page: inline styles, inline SVG and data: images, nothing else.
DOCUMENT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_POLICED_TYPES = (b"text/html", b"image/svg+xml")


class SecurityHeadersMiddleware:
    """Adds the headers above to every HTTP response that does not already carry them (pure ASGI: the gateway's
    proxied answers keep what the service set)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                if b"x-content-type-options" not in names:
                    headers.append((b"x-content-type-options", b"nosniff"))
                if b"referrer-policy" not in names:
                    headers.append((b"referrer-policy", b"no-referrer"))
                if b"content-security-policy" not in names:
                    content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                    if content_type.lower().startswith(_POLICED_TYPES):
                        headers.append((b"content-security-policy", DOCUMENT_CSP.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """``attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded`` (RFC 6266, RFC 5987)."""
    kind = "inline" if inline else "attachment"
    fallback = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\%;' else "_" for c in filename) or "download"
    if fallback == filename:
        return f'{kind}; filename="{filename}"'
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
