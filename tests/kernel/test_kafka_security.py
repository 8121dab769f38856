"""Kafka over SASL_SSL, as a shared cluster is reached (Strimzi's `tls` listener with SCRAM-SHA-512): a broker of its
own whose certificate comes from a CA made here, its users' SCRAM credentials written at format time. A service's
relay, consumer group, topic creation and readiness go through it on the settings alone."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from services.app import Runtime
from services.db import Database
from services.settings import ServiceSettings
from services.topics import ensure_topics
from tests.conftest import KAFKA_SH
from tests.kernel import support

pytestmark = pytest.mark.kafka

SCRAM_USER, SCRAM_PASSWORD = "routing-svc", "scram-pass-0123"
PLAIN_USER, PLAIN_PASSWORD = "intake-svc", "plain-pass-4567"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> bytes:
    pkcs8, unencrypted = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, unencrypted)


def certificates(directory: Path) -> tuple[Path, Path]:
    """A CA, and the broker's key and certificate for 127.0.0.1 signed by it: (CA certificate, broker's PEM store)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, broker_key = _key(), _key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "motcua test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])).issuer_name(ca_name)
        .public_key(broker_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                    x509.DNSName("localhost")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    ca_file, store = directory / "ca.crt", directory / "broker.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    store.write_bytes(
        _pem(broker_key) + broker.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    )
    return ca_file, store


def free_ports(count: int) -> list[int]:
    """Ports free now and distinct (each socket stays bound until all are chosen)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@dataclass
class SecuredBroker:
    bootstrap: str  # the SASL_SSL listener, the only one a client is given
    cafile: str


@pytest.fixture(scope="module")
def secured_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    directory = tmp_path_factory.mktemp("kafka-sasl-ssl")
    ca_file, store = certificates(directory)
    plain, controller, secured = free_ports(3)
    (directory / "extra.properties").write_text(
        f"""
listeners=PLAINTEXT://127.0.0.1:{plain},CONTROLLER://127.0.0.1:{controller},SASL_SSL://127.0.0.1:{secured}
advertised.listeners=PLAINTEXT://127.0.0.1:{plain},SASL_SSL://127.0.0.1:{secured}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \
user_{PLAIN_USER}="{PLAIN_PASSWORD}";
ssl.keystore.type=PEM
ssl.keystore.location={store}
"""
    )
    scram = f"SCRAM-SHA-512=[name={SCRAM_USER},password={SCRAM_PASSWORD}]"
    env = {**os.environ, "KAFKA_FORMAT_ARGS": f"--add-scram {scram}"}
    subprocess.run([str(KAFKA_SH), "start", str(directory), str(plain), str(controller)], check=True, env=env)
    try:
        yield SecuredBroker(bootstrap=f"127.0.0.1:{secured}", cafile=str(ca_file))
    finally:
        subprocess.run([str(KAFKA_SH), "stop", str(directory)], check=True)


def settings(broker: SecuredBroker, url: str, prefix: str, **kafka: str) -> ServiceSettings:
    return ServiceSettings(
        database_url=url,
        kafka_bootstrap_servers=broker.bootstrap,
        topic_prefix=prefix,
        **{f"kafka_{name}": value for name, value in kafka.items()},  # type: ignore[arg-type]
    )


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}"
    db = Database(url, service="kerneltest")
    await db.create_all(support.Base.metadata)
    await db.dispose()
    yield url


@pytest.mark.parametrize(
    ("mechanism", "user", "password"),
    [("SCRAM-SHA-512", SCRAM_USER, SCRAM_PASSWORD), ("PLAIN", PLAIN_USER, PLAIN_PASSWORD)],
)
async def test_a_service_publishes_and_consumes_over_sasl_ssl(
    secured_broker: SecuredBroker, url: str, topic_prefix: str, mechanism: str, user: str, password: str
) -> None:
    s = settings(
        secured_broker, url, topic_prefix, security_protocol="SASL_SSL", sasl_mechanism=mechanism,
        sasl_username=user, sasl_password=password, ssl_cafile=secured_broker.cafile,
    )  # fmt: skip
    await ensure_topics(s.kafka_bootstrap_servers, topic_prefix, [support.TOPIC], security=s.kafka_security)
    runtime = Runtime(s)
    await runtime.start([support.subscription(topic_prefix)])
    try:
        assert await runtime.kafka_ready()
        sent = [await support.write_event(runtime.db, topic_prefix, "k", seq) for seq in (1, 2, 3)]

        async def all_applied() -> bool:
            return await support.count_effects(runtime.db) >= 3

        await support.wait_for(all_applied, timeout=60)
        assert [e[0] for e in await support.effects(runtime.db)] == [e.id for e in sent]
    finally:
        await runtime.stop()


async def test_the_secured_listener_refuses_a_wrong_password_an_unknown_ca_and_plaintext(
    secured_broker: SecuredBroker, url: str, topic_prefix: str
) -> None:
    right = {"security_protocol": "SASL_SSL", "sasl_username": SCRAM_USER, "sasl_password": SCRAM_PASSWORD,
             "ssl_cafile": secured_broker.cafile}  # fmt: skip
    for kafka, ready in [
        (right, True),
        ({**right, "sasl_password": "not-the-password"}, False),
        ({**right, "ssl_cafile": ""}, False),  # the system's CAs do not know the broker's
        ({}, False),  # PLAINTEXT to a TLS port
    ]:
        runtime = Runtime(settings(secured_broker, url, topic_prefix, **kafka))
        try:
            assert await runtime.kafka_ready() is ready, kafka
        finally:
            await runtime.db.dispose()


def test_settings_refuse_an_incomplete_kafka_security_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs a SASL username and password"):
        ServiceSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_username="routing-svc")
    with pytest.raises(ValidationError, match="Kafka TLS"):
        ServiceSettings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tmp_path / "missing-ca.crt"))
    with pytest.raises(ValidationError, match="certificate needs its key"):
        ServiceSettings(kafka_security_protocol="SSL", kafka_ssl_certfile=str(tmp_path / "client.crt"))
    with pytest.raises(ValidationError):
        ServiceSettings(kafka_security_protocol="SASL_TLS")
    secured = ServiceSettings(
        kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username="u", kafka_sasl_password="p4ss-w0rd"
    )
    assert "p4ss-w0rd" not in repr(secured.kafka_security) and "p4ss-w0rd" not in repr(secured)
