"""The portal reaches the bills of the citizen it acts for only: payment-svc compares the citizen's pseudonymous
reference with the one intake put on DossierReceived (real broker, real database, bills opened by the consumer)."""

from __future__ import annotations

import asyncio
import uuid

import httpx

from services.identity import Citizen, Identity, Role
from tests.conftest import Broker, DatabaseFactory
from tests.payment.payment_support import CITIZEN, Env, dossier_received, produce_intake, running

CITIZEN_B = "046095000123"


async def _bill(env: Env, dossier_id: str) -> dict[str, object]:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        r = await env.client.get(f"/dossiers/{dossier_id}/bill", headers=env.admin)
        if r.status_code == 200:
            return dict(r.json())
        assert asyncio.get_running_loop().time() < deadline, r.text
        await asyncio.sleep(0.1)


def _not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"


async def test_the_portal_reaches_only_its_citizens_bills(
    databases: DatabaseFactory, broker: Broker, topic_prefix: str
) -> None:
    of_a, of_b = str(uuid.uuid4()), str(uuid.uuid4())
    unowned = dossier_received(str(uuid.uuid4()), [10_000]).model_copy(update={"owner_ref": None})
    async with running(databases, broker, topic_prefix, consumers=True) as env:
        await produce_intake(
            broker, topic_prefix,
            [dossier_received(of_a, [20_000]), dossier_received(of_b, [30_000], applicant=CITIZEN_B), unowned],
        )
        bill_a, bill_b, bill_unowned = [await _bill(env, d) for d in (of_a, of_b, unowned.dossier_id)]
        as_a = env.portal
        as_b = env.headers(Identity(subject="portal", role=Role.PORTAL, citizen=Citizen(id_number=CITIZEN_B)))
        no_citizen = env.headers(Identity(subject="portal", role=Role.PORTAL))

        started = await env.client.post(f"/bills/{bill_b['id']}/payments", json={"provider": "payos"}, headers=as_b)
        assert started.status_code == 201, started.text
        for who in (as_a, no_citizen):
            _not_found(await env.client.get(f"/dossiers/{of_b}/bill", headers=who))
            _not_found(await env.client.get(f"/bills/{bill_b['id']}", headers=who))
            _not_found(await env.client.get(f"/bills/{bill_b['id']}/vietqr", headers=who))
            _not_found(await env.client.get(f"/bills/{bill_b['id']}/ledger", headers=who))
            _not_found(await env.client.get(f"/payments/{started.json()['id']}", headers=who))
            _not_found(await env.client.post(f"/bills/{bill_b['id']}/payments", json={"provider": "momo"},
                                             headers=who))
        # A bill whose dossier came without an owner reference is reached by staff only.
        _not_found(await env.client.get(f"/bills/{bill_unowned['id']}", headers=as_a))
        assert (await env.client.get(f"/bills/{bill_unowned['id']}", headers=env.desk)).status_code == 200

        assert (await env.client.get(f"/dossiers/{of_a}/bill", headers=as_a)).status_code == 200
        assert (await env.client.get(f"/bills/{bill_a['id']}/vietqr", headers=as_a)).status_code == 200
        own = await env.client.post(f"/bills/{bill_a['id']}/payments", json={"provider": "payos"}, headers=as_a)
        assert own.status_code == 201, own.text
        assert (await env.client.get(f"/payments/{own.json()['id']}", headers=as_a)).status_code == 200
        assert (await env.client.get(f"/dossiers/{of_b}/bill", headers=as_b)).status_code == 200
        # The reference on the bill is no id number.
        assert CITIZEN not in str(bill_a) and CITIZEN_B not in str(bill_b)
