#!/usr/bin/env bash
# Bring every service database to its newest migration (each service has its own Alembic history).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
for svc in catalogue intake routing payment stats connect; do
  alembic -c "$svc-svc/alembic.ini" upgrade head
  echo "migrated $svc"
done
alembic -c gateway/alembic.ini upgrade head
echo "migrated gateway"
