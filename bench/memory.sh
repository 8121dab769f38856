#!/usr/bin/env bash
# Resident memory of every process of a running `make run` (services, gateway, broker). Run it in another terminal
# once the system is idle: bench/memory.sh
set -euo pipefail
printf '%-12s %8s\n' process "RSS MB"
for svc in catalogue intake routing payment stats gateway; do
  pid="$(pgrep -f "uvicorn ${svc}.main:app" | while read -r p; do
    [ "$(ps -o comm= -p "$p")" != "sh" ] && echo "$p"; done | head -n 1)"
  [ -n "$pid" ] && printf '%-12s %8d\n' "$svc" "$(( $(ps -o rss= -p "$pid") / 1024 ))"
done
if [ -f var/kafka/broker.pid ]; then
  printf '%-12s %8d\n' kafka "$(( $(ps -o rss= -p "$(cat var/kafka/broker.pid)") / 1024 ))"
fi
