#!/usr/bin/env bash
# Apache Kafka (KRaft, single node) from Maven Central jars, without Docker. Java 17 and Maven are the only needs.
#
#   kafka.sh fetch                       resolve the pinned jars once into the cache and verify their checksums
#   kafka.sh start  [DIR] [PORT] [CPORT] format DIR on first use, start the broker, wait until it answers
#   kafka.sh stop   [DIR]                stop the broker started in DIR and wait for it to exit
#   kafka.sh status [DIR]
#   kafka.sh lock                        (maintainers) re-resolve the jar set and rewrite jars.sha256
#
# Defaults: DIR=var/kafka, PORT=9092, CPORT=9093. The jar cache is $MOTCUA_CACHE (default ~/.cache/motcua).
# On start, DIR/extra.properties (if there) is appended to the broker's configuration and overrides it (e.g. a
# SASL_SSL listener), and KAFKA_FORMAT_ARGS is given to the storage format on first use (e.g. --add-scram ...).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/pom.xml")"
cache="${MOTCUA_CACHE:-$HOME/.cache/motcua}/kafka-$version"
libs="$cache/libs"

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_java() {
  command -v java >/dev/null || die "Java 17 or newer is required (apt-get install openjdk-17-jre-headless)"
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')"
  [ "${major:-0}" -ge 17 ] || die "Java 17 or newer is required, found ${major:-none}"
}

resolve() {  # copy the resolved jar set of pom.xml into $1
  command -v mvn >/dev/null || die "Maven is required to fetch the broker jars (apt-get install maven)"
  rm -rf "$1.tmp" && mkdir -p "$1.tmp"
  mvn -q -B -Dstyle.color=never -f "$here/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
      -DoutputDirectory="$1.tmp" >&2
  rm -rf "$1" && mv "$1.tmp" "$1"
}

fetch() {
  if [ -f "$libs/.verified" ]; then return 0; fi
  echo "kafka.sh: fetching Apache Kafka $version jars into $libs" >&2
  resolve "$libs"
  (cd "$libs" && sha256sum --quiet -c "$here/jars.sha256") || die "jar checksums do not match jars.sha256"
  local expected actual
  expected="$(wc -l < "$here/jars.sha256")"
  actual="$(find "$libs" -name '*.jar' | wc -l)"
  [ "$expected" -eq "$actual" ] || die "expected $expected jars, Maven resolved $actual"
  touch "$libs/.verified"
}

lock() {
  local tmp; tmp="$(mktemp -d)"
  resolve "$tmp/libs"
  (cd "$tmp/libs" && sha256sum -- *.jar) > "$here/jars.sha256"
  rm -rf "$tmp"
  echo "kafka.sh: wrote $(wc -l < "$here/jars.sha256") jars to jars.sha256" >&2
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start() {
  local dir="${1:-var/kafka}" port="${2:-9092}" cport="${3:-9093}"
  need_java; fetch
  mkdir -p "$dir"; dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
    echo "kafka.sh: broker already running (pid $(cat "$dir/broker.pid")) on port $port" >&2; return 0
  fi
  port_open "$port" && die "port $port is already taken by another process"
  sed -e "s:@PORT@:$port:g" -e "s:@CONTROLLER_PORT@:$cport:g" -e "s:@DATA_DIR@:$dir:g" \
      "$here/server.properties.in" > "$dir/server.properties"
  if [ -f "$dir/extra.properties" ]; then cat "$dir/extra.properties" >> "$dir/server.properties"; fi
  local cp; cp="$(find "$libs" -name '*.jar' | sort | tr '\n' ':')"
  local jvm=(-Xms256m -Xmx${KAFKA_HEAP:-512m} -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true
             -Dlog4j2.configurationFile="$here/log4j2.properties" -Dkafka.logs.dir="$dir")
  if [ ! -f "$dir/data/meta.properties" ]; then
    java "${jvm[@]}" -cp "$cp" kafka.tools.StorageTool format -t "$(java -cp "$cp" kafka.tools.StorageTool random-uuid)" \
      -c "$dir/server.properties" ${KAFKA_FORMAT_ARGS:-} >/dev/null
  fi
  nohup java "${jvm[@]}" -cp "$cp" kafka.Kafka "$dir/server.properties" >"$dir/console.log" 2>&1 &
  echo $! > "$dir/broker.pid"
  for _ in $(seq 1 120); do
    if ! kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
      tail -n 30 "$dir/console.log" "$dir/server.log" >&2 || true
      die "broker exited during start-up"
    fi
    if port_open "$port" && grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null; then
      echo "kafka.sh: broker ready on 127.0.0.1:$port (pid $(cat "$dir/broker.pid"))" >&2
      return 0
    fi
    sleep 0.5
  done
  die "broker did not become ready in 60 s; see $dir/server.log"
}

stop() {
  local dir="${1:-var/kafka}"
  [ -f "$dir/broker.pid" ] || { echo "kafka.sh: no broker in $dir" >&2; return 0; }
  local pid; pid="$(cat "$dir/broker.pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$dir/broker.pid"
  echo "kafka.sh: broker stopped" >&2
}

status() {
  local dir="${1:-var/kafka}"
  if [ -f "$dir/broker.pid" ] && kill -0 "$(cat "$dir/broker.pid")" 2>/dev/null; then
    echo "running (pid $(cat "$dir/broker.pid"))"
  else
    echo "stopped"; return 1
  fi
}

cmd="${1:-}"; shift || true
case "$cmd" in
  fetch) need_java; fetch ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  status) status "$@" ;;
  lock) lock ;;
  *) sed -n '2,11p' "$0"; exit 2 ;;
esac
