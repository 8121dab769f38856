#!/usr/bin/env bash
# First start of the PostgreSQL container: one role and one database per service (nobody reads another's tables).
set -euo pipefail
for svc in catalogue intake routing payment stats connect gateway; do
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       -v svc="$svc" -v password="$MOTCUA_DB_PASSWORD" <<'SQL'
CREATE ROLE :"svc" LOGIN PASSWORD :'password';
CREATE DATABASE :"svc" OWNER :"svc";
REVOKE ALL ON DATABASE :"svc" FROM PUBLIC;
SQL
done
