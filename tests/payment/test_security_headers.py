"""The VietQR image names itself and is shown inline (an SVG under the document policy); nothing is type-sniffed."""

from __future__ import annotations

from services.headers import DOCUMENT_CSP
from tests.conftest import Broker, DatabaseFactory
from tests.payment.payment_support import running


async def test_the_qr_image_is_inline_named_and_policed(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    async with running(databases, broker, topic_prefix) as env:
        bill = await env.bill_for(amount=35_000)
        png = await env.client.get(f"/bills/{bill['id']}/vietqr?format=png", headers=env.desk)
        assert png.status_code == 200 and png.headers["content-type"] == "image/png"
        assert png.headers["content-disposition"] == f'inline; filename="vietqr-{bill["id"]}.png"'
        assert png.headers["x-content-type-options"] == "nosniff"
        svg = await env.client.get(f"/bills/{bill['id']}/vietqr?format=svg", headers=env.desk)
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert svg.headers["content-disposition"] == f'inline; filename="vietqr-{bill["id"]}.svg"'
        assert svg.headers["content-security-policy"] == DOCUMENT_CSP
        as_json = await env.client.get(f"/bills/{bill['id']}/vietqr", headers=env.desk)
        assert as_json.headers["x-content-type-options"] == "nosniff"
        assert "content-security-policy" not in as_json.headers
