"""deploy/k8s: schema-valid objects, one complete set per service, network isolation behind the gateway, placeholder
secrets, and a Strimzi cluster whose topics are those of services/topics.py."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from services import asyncapi
from services.settings import ServiceSettings
from services.topics import DOMAIN_TOPICS, dead_letter_topic
from tests.deploy.manifests import (
    K8S_DIR,
    NON_SETTINGS_ENV,
    Service,
    consumer_groups,
    container_env_names,
    containers,
    kustomization,
    named,
    of_kind,
    pod_spec,
    resources,
    selects,
    service_by_image,
    services,
)

SERVICES = services()
#: The oldest Kubernetes minor the manifests are checked against (schemas bundled by kubernetes-validate).
KUBERNETES_VERSION = "1.30.0"
STRIMZI_API = "kafka.strimzi.io/v1"
STRIMZI_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


def config() -> dict[str, str]:
    data: dict[str, str] = named("ConfigMap", "motcua-config")["data"]
    return data


def kafka_client() -> dict[str, str]:
    """How the services reach Kafka (the gateway uses none)."""
    data: dict[str, str] = named("ConfigMap", "kafka-client")["data"]
    return data


def kafka_cluster() -> dict[str, Any]:
    (cluster,) = of_kind("Kafka")
    return cluster


def labels_of(workload: dict[str, Any]) -> dict[str, str]:
    result: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return result


def test_the_kustomization_lists_every_manifest_file() -> None:
    listed = set(kustomization()["resources"])
    on_disk = {str(p.relative_to(K8S_DIR)) for p in K8S_DIR.rglob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_every_builtin_object_is_valid_for_kubernetes_in_strict_mode() -> None:
    checked = 0
    for obj in resources():
        if obj["kind"] in STRIMZI_KINDS:
            continue
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked > 40


def test_the_validator_rejects_a_misspelt_field() -> None:
    deployment = named("Deployment", "gateway")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_names_are_valid_and_unique() -> None:
    seen = set()
    for obj in resources():
        name = obj["metadata"]["name"]
        assert DNS_SUBDOMAIN.match(name), name
        assert (obj["kind"], name) not in seen, f"two {obj['kind']} named {name}"
        seen.add((obj["kind"], name))


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_every_service_has_its_deployment_service_autoscaler_budget_and_migration_job(service: Service) -> None:
    name = service.directory
    deployment = named("Deployment", name)
    assert [c["image"].split(":")[0] for c in containers(deployment)] == [service.image, service.image]
    assert named("Service", name)["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]

    hpa = named("HorizontalPodAutoscaler", name)
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    pdb = named("PodDisruptionBudget", name)
    assert selects(pdb["spec"]["selector"], labels_of(deployment))
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "the budget must let a node drain"

    job = named("Job", f"{name}-migrate")
    (migrate,) = pod_spec(job)["containers"]
    assert migrate["image"].split(":")[0] == service.image
    assert migrate["command"] == ["alembic", "-c", f"{name}/alembic.ini", "upgrade", "head"]
    (wait,) = pod_spec(deployment)["initContainers"]
    assert f"alembic -c {name}/alembic.ini current" in wait["command"][-1]


@pytest.mark.parametrize(
    ("current", "heads", "status", "opens"),
    [
        ("0003_fees (head)", "0003_fees (head)", 0, True),  # migrated: the API starts
        ("0002_units", "0003_fees (head)", 0, False),  # the Job has not run yet
        ("", "0003_fees (head)", 0, False),  # an empty database
        ("", "", 1, False),  # alembic cannot reach the database
    ],
)
def test_the_migration_gate_opens_only_at_the_head_revision(
    tmp_path: Path, current: str, heads: str, status: int, opens: bool
) -> None:
    (wait,) = pod_spec(named("Deployment", "intake-svc"))["initContainers"]
    assert wait["command"][:2] == ["sh", "-c"]
    stand_in = tmp_path / "alembic"  # prints what the real one would, for the gate's shell logic alone
    stand_in.write_text(
        f'#!/bin/sh\ncase "$3" in current) echo "{current}";; heads) echo "{heads}";; esac\nexit {status}\n'
    )
    stand_in.chmod(0o755)
    result = subprocess.run(wait["command"], env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True)
    assert (result.returncode == 0) is opens


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_the_api_container_is_probed_limited_and_unprivileged(service: Service) -> None:
    deployment = named("Deployment", service.directory)
    spec = pod_spec(deployment)
    (api,) = spec["containers"]
    # The gateway's probe asks for its own readiness only (one service down must not unready every gateway pod).
    own = "/readyz?upstreams=false" if service.directory == "gateway" else "/readyz"
    assert api["readinessProbe"]["httpGet"]["path"] == own
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["ports"] == [{"name": "http", "containerPort": 8080}]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    for workload in (deployment, named("Job", f"{service.directory}-migrate")):
        for container in containers(workload):
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), (container["name"], kind)
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False
            assert security["readOnlyRootFilesystem"] is True
            assert security["capabilities"]["drop"] == ["ALL"]


def test_every_variable_is_a_setting_of_the_service_whose_image_runs() -> None:
    for workload in [*of_kind("Deployment"), *of_kind("Job")]:
        for container in containers(workload):
            service = service_by_image(container["image"])
            if service is None:
                continue
            unknown = container_env_names(container) - service.env_names() - NON_SETTINGS_ENV
            assert not unknown, f"{workload['metadata']['name']}/{container['name']} sets unknown variables: {unknown}"


def test_each_service_has_its_own_database_secret() -> None:
    for service in SERVICES:
        deployment = named("Deployment", service.directory)
        names = container_env_names(pod_spec(deployment)["containers"][0])
        database_vars = {n for n in names if n.endswith("DATABASE_URL")}
        assert database_vars == {f"{service.env_prefix}DATABASE_URL"}


def test_secrets_hold_placeholders_only() -> None:
    for secret in of_kind("Secret"):
        assert "data" not in secret, "write placeholders as stringData, readable in review"
        for key, value in secret["stringData"].items():
            assert "CHANGE-ME" in value, f"{secret['metadata']['name']}.{key} looks like a real secret"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_every_secret_setting_of_a_service_comes_from_a_secret(service: Service) -> None:
    container = pod_spec(named("Deployment", service.directory))["containers"][0]
    from_secrets: set[str] = set()
    for source in container.get("envFrom", []):
        if "secretRef" in source:
            from_secrets |= set(named("Secret", source["secretRef"]["name"])["stringData"])
    from_secrets |= {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
    for names in service.secret_env_names():
        assert names & from_secrets, f"{service.directory} gets none of {sorted(names)} from a Secret"
    for config_map in of_kind("ConfigMap"):
        assert not [k for k in config_map.get("data", {}) if k.endswith("DEV_MODE")], config_map["metadata"]["name"]
    assert not [e for e in container.get("env", []) if e["name"].endswith("DEV_MODE")]


def test_the_gateway_calls_the_services_by_their_kubernetes_names() -> None:
    gateway_config = named("ConfigMap", "gateway-config")["data"]
    for key, directory in {"CATALOGUE": "catalogue-svc", "INTAKE": "intake-svc", "ROUTING": "routing-svc",
                           "PAYMENT": "payment-svc", "STATS": "stats-svc"}.items():
        service = named("Service", directory)
        assert gateway_config[f"GATEWAY_{key}_URL"] == f"http://{directory}:{service['spec']['ports'][0]['port']}"
    assert gateway_config["GATEWAY_RATE_LIMIT_STORAGE_URI"].startswith("redis://motcua-redis:6379")
    named("Service", "motcua-redis")


# --- network isolation -------------------------------------------------------------------------------------------


def policies_for(pod_labels: dict[str, str], direction: str) -> list[dict[str, Any]]:
    return [
        p for p in of_kind("NetworkPolicy")
        if direction in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], pod_labels)
    ]


def test_every_pod_of_ours_is_denied_by_default() -> None:
    deny = named("NetworkPolicy", "default-deny")["spec"]
    assert deny["policyTypes"] == ["Ingress", "Egress"] and "ingress" not in deny and "egress" not in deny
    for workload in [*of_kind("Deployment"), *of_kind("Job")]:
        assert selects(deny["podSelector"], labels_of(workload)), workload["metadata"]["name"]


@pytest.mark.parametrize("service", [s for s in SERVICES if s.directory != "gateway"], ids=lambda s: s.directory)
def test_only_the_gateway_reaches_a_service(service: Service) -> None:
    labels = labels_of(named("Deployment", service.directory))
    gateway_labels = labels_of(named("Deployment", "gateway"))
    rules = [rule for p in policies_for(labels, "Ingress") for rule in p["spec"].get("ingress", [])]
    assert rules, f"nothing may reach {service.directory}"
    for rule in rules:
        peers = rule.get("from")
        assert peers, f"a rule lets anyone reach {service.directory}"
        for peer in peers:
            assert set(peer) == {"podSelector"}, f"{service.directory} reachable from {peer}"
            assert selects(peer["podSelector"], gateway_labels)
            assert peer["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "gateway"}}
    gateway_egress = [rule for p in policies_for(gateway_labels, "Egress") for rule in p["spec"].get("egress", [])]
    assert any(
        any(selects(peer.get("podSelector", {"matchLabels": {"-": "-"}}), labels) for peer in rule.get("to", []))
        and {"protocol": "TCP", "port": 8080} in rule["ports"]
        for rule in gateway_egress
    ), f"the gateway may not call {service.directory}"


def kafka_listener() -> dict[str, Any]:
    (listener,) = kafka_cluster()["spec"]["kafka"]["listeners"]
    return listener


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_a_service_may_reach_dns_kafka_and_postgresql_and_the_gateway_no_kafka(service: Service) -> None:
    deployment = named("Deployment", service.directory)
    egress = [rule for p in policies_for(labels_of(deployment), "Egress") for rule in p["spec"].get("egress", [])]
    ports = {(port["protocol"], port["port"]) for rule in egress for port in rule.get("ports", [])}
    assert {("UDP", 53), ("TCP", 53), ("TCP", 5432)} <= ports
    broker_labels = {"strimzi.io/cluster": kafka_cluster()["metadata"]["name"], "strimzi.io/kind": "Kafka"}
    reaches_kafka = any(
        any(selects(peer.get("podSelector", {}), broker_labels) for peer in rule.get("to", []))
        for rule in egress if {"protocol": "TCP", "port": kafka_listener()["port"]} in rule["ports"]
    )
    listener = kafka_listener()
    admitted = any(selects(peer["podSelector"], labels_of(deployment)) for peer in listener["networkPolicyPeers"])
    uses_kafka = service.directory != "gateway"  # the gateway publishes and consumes nothing
    assert reaches_kafka is uses_kafka and admitted is uses_kafka
    job_labels = labels_of(named("Job", f"{service.directory}-migrate"))
    job_ports = {
        (port["protocol"], port["port"])
        for p in policies_for(job_labels, "Egress") for rule in p["spec"].get("egress", []) for port in rule["ports"]
    }
    assert ("TCP", 5432) in job_ports


# --- Kafka (Strimzi) ---------------------------------------------------------------------------------------------


def test_the_kafka_cluster_is_kraft_with_node_pools_and_matches_the_bootstrap_setting() -> None:
    cluster = kafka_cluster()
    name = cluster["metadata"]["name"]
    assert cluster["apiVersion"] == STRIMZI_API
    assert "zookeeper" not in cluster["spec"]
    assert set(cluster["spec"]) <= {"kafka", "entityOperator", "cruiseControl", "kafkaExporter"}
    assert "topicOperator" in cluster["spec"]["entityOperator"]
    pools = of_kind("KafkaNodePool")
    assert all(p["apiVersion"] == STRIMZI_API and p["metadata"]["labels"]["strimzi.io/cluster"] == name for p in pools)
    roles = {role for p in pools for role in p["spec"]["roles"]}
    assert roles == {"controller", "broker"}
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    assert controllers % 2 == 1, "a KRaft quorum needs an odd number of controllers"
    listener = kafka_listener()
    assert kafka_client()["MOTCUA_KAFKA_BOOTSTRAP_SERVERS"] == f"{name}-kafka-bootstrap:{listener['port']}"
    assert cluster["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False


def test_the_only_listener_is_tls_with_scram_and_kafka_acls_apply() -> None:
    cluster = kafka_cluster()
    listener = kafka_listener()  # the only one
    assert listener["tls"] is True and listener["authentication"] == {"type": "scram-sha-512"}
    assert cluster["spec"]["kafka"]["authorization"] == {"type": "simple"}
    assert "userOperator" in cluster["spec"]["entityOperator"]
    client = kafka_client()
    assert client["MOTCUA_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert client["MOTCUA_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    # The values are ones the settings accept (the user and password come from each Deployment).
    security = ServiceSettings(
        kafka_security_protocol=client["MOTCUA_KAFKA_SECURITY_PROTOCOL"],  # type: ignore[arg-type]
        kafka_sasl_mechanism=client["MOTCUA_KAFKA_SASL_MECHANISM"],  # type: ignore[arg-type]
        kafka_sasl_username="catalogue-svc",
        kafka_sasl_password="from-the-user-secret",
    ).kafka_security
    assert security.tls and security.sasl_mechanism == "SCRAM-SHA-512"
    server = asyncapi.document()["servers"]["cluster"]  # the event contract names the same address and sign-in
    assert server["host"] == client["MOTCUA_KAFKA_BOOTSTRAP_SERVERS"] and server["protocol"] == "kafka-secure"


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.directory)
def test_a_service_signs_in_to_kafka_as_its_own_user_and_trusts_the_cluster_ca(service: Service) -> None:
    deployment = named("Deployment", service.directory)
    api = containers(deployment)[-1]
    sources = {source["configMapRef"]["name"] for source in api["envFrom"] if "configMapRef" in source}
    if service.directory == "gateway":
        assert "kafka-client" not in sources and not api.get("env")
        return
    assert "kafka-client" in sources
    env = {item["name"]: item for item in api["env"]}
    user = named("KafkaUser", service.directory)
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka_cluster()["metadata"]["name"]
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    assert env["MOTCUA_KAFKA_SASL_USERNAME"]["value"] == service.directory
    # The User Operator writes the password to a Secret named after the user.
    assert env["MOTCUA_KAFKA_SASL_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": service.directory, "key": "password"}
    }
    cafile = Path(kafka_client()["MOTCUA_KAFKA_SSL_CAFILE"])
    (mount,) = [m for m in api["volumeMounts"] if m["mountPath"] == str(cafile.parent)]
    (volume,) = [v for v in pod_spec(deployment)["volumes"] if v["name"] == mount["name"]]
    cluster = kafka_cluster()["metadata"]["name"]
    assert volume["secret"]["secretName"] == f"{cluster}-cluster-ca-cert"
    assert {"key": "ca.crt", "path": cafile.name} in volume["secret"]["items"]


def _allows(user: dict[str, Any], kind: str, name: str, operation: str) -> bool:
    """Kafka's simple authorizer for allow rules: a literal or prefixed resource name, and Read or Write imply
    Describe."""
    for acl in user["spec"]["authorization"]["acls"]:
        resource = acl["resource"]
        if resource["type"] != kind or acl.get("type", "allow") != "allow":
            continue
        pattern = resource["name"]
        if resource.get("patternType", "literal") == "prefix":
            matches = name.startswith(pattern)
        else:
            matches = pattern in ("*", name)
        operations = set(acl["operations"])
        implied = {"Describe"} if operations & {"Read", "Write", "Delete", "Alter"} else set()
        if matches and operation in operations | implied | ({operation} if "All" in operations else set()):
            return True
    return False


@pytest.mark.parametrize("service", [s for s in SERVICES if s.directory != "gateway"], ids=lambda s: s.directory)
def test_a_service_may_write_only_its_own_topics_and_join_only_its_own_groups(service: Service) -> None:
    user = named("KafkaUser", service.directory)
    prefix = config()["MOTCUA_TOPIC_PREFIX"]
    groups = service.consumer_groups()
    dead_letters = {dead_letter_topic(g).full_name(prefix) for g in groups}
    all_dead_letters = {dead_letter_topic(g).full_name(prefix) for g in consumer_groups()}
    for spec in DOMAIN_TOPICS:
        topic = spec.full_name(prefix)
        owned = spec.name.split(".")[0] == service.package  # the owner, as in the AsyncAPI document
        assert _allows(user, "topic", topic, "Write") is owned, topic
        assert _allows(user, "topic", topic, "Read") and _allows(user, "topic", topic, "Create"), topic
    for topic in all_dead_letters:
        assert _allows(user, "topic", topic, "Write") is (topic in dead_letters), topic
        assert _allows(user, "topic", topic, "Create"), topic
    for sub in service.subscriptions():
        assert _allows(user, "group", f"{prefix}.{sub.name}", "Read"), sub.name
        for topic in sub.topics:
            assert _allows(user, "topic", topic, "Read"), topic
    for other in consumer_groups():
        assert _allows(user, "group", f"{prefix}.{other}", "Read") is (other in groups), other


def test_every_topic_of_the_code_has_a_kafka_topic_with_its_partitions_and_config() -> None:
    prefix = config()["MOTCUA_TOPIC_PREFIX"]
    expected = {spec.full_name(prefix): spec for spec in DOMAIN_TOPICS}
    expected |= {dead_letter_topic(g).full_name(prefix): dead_letter_topic(g) for g in consumer_groups()}
    topics = of_kind("KafkaTopic")
    declared = {t["spec"]["topicName"]: t for t in topics}
    assert set(declared) == set(expected)
    cluster = kafka_cluster()["metadata"]["name"]
    brokers = sum(p["spec"]["replicas"] for p in of_kind("KafkaNodePool") if "broker" in p["spec"]["roles"])
    min_isr = kafka_cluster()["spec"]["kafka"]["config"]["min.insync.replicas"]
    for name, spec in expected.items():
        topic = declared[name]
        assert topic["apiVersion"] == STRIMZI_API
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == cluster
        assert topic["spec"]["partitions"] == spec.partitions, name
        assert {k: str(v) for k, v in topic["spec"]["config"].items()} == spec.kafka_config(), name
        assert min_isr < topic["spec"]["replicas"] <= brokers, name
    assert int(kafka_client()["MOTCUA_KAFKA_REPLICATION_FACTOR"]) == topics[0]["spec"]["replicas"]
