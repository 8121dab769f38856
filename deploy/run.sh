#!/usr/bin/env bash
# `make run`: Kafka, topics, migrations, then every service and the gateway under honcho. Ctrl-C stops it all.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MOTCUA_KAFKA_BOOTSTRAP_SERVERS="${MOTCUA_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:9092}"
export MOTCUA_LOG_JSON="${MOTCUA_LOG_JSON:-false}"
# This machine only: the services accept their built-in development secrets (they refuse them otherwise).
export MOTCUA_DEV_MODE="${MOTCUA_DEV_MODE:-true}"
# The gateway's /metrics answers only this bearer token (curl -H "Authorization: Bearer $GATEWAY_METRICS_TOKEN").
export GATEWAY_METRICS_TOKEN="${GATEWAY_METRICS_TOKEN:-motcua-dev-metrics-token}"
# No payment provider is reachable from a laptop: the provider simulator (the Procfile's `providers`) serves their
# status-query and refund APIs, and payment-svc asks it.
providers="http://127.0.0.1:${PROVIDERS_PORT:-8190}"
export PAYMENT_VNPAY_API_URL="${PAYMENT_VNPAY_API_URL:-$providers/merchant_webapi/api/transaction}"
export PAYMENT_PAYOS_API_URL="${PAYMENT_PAYOS_API_URL:-$providers}"
export PAYMENT_MOMO_API_URL="${PAYMENT_MOMO_API_URL:-$providers}"
export PAYMENT_ZALOPAY_API_URL="${PAYMENT_ZALOPAY_API_URL:-$providers}"
# connect-svc tells the national-portal simulator (the Procfile's `portal`) of every dossier; the gateway routes
# /api/v1/deliveries to it.
export CONNECT_PORTAL_URL="${CONNECT_PORTAL_URL:-http://127.0.0.1:${PORTAL_PORT:-8191}}"
export GATEWAY_CONNECT_URL="${GATEWAY_CONNECT_URL:-http://127.0.0.1:${CONNECT_PORT:-8106}}"

deploy/kafka/kafka.sh start var/kafka 9092 9093
trap 'deploy/kafka/kafka.sh stop var/kafka' EXIT

python -m services.topics
deploy/migrate.sh
# Demo data (idempotent): Huế units, the holiday calendar and the demo procedure catalogue.
PYTHONPATH="$PWD:$PWD/catalogue-svc" python -m catalogue.tools.seed
# Demo credentials for each client type (the portal key, desk officer, specialist, leader, admin).
PYTHONPATH="$PWD:$PWD/gateway" python -m gateway.tools.cli demo
honcho start -f Procfile
