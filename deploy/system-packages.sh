#!/usr/bin/env bash
# The Debian packages a target needs, installed when they are missing (`make run`, `make test` and .ci/run call it).
#
#   system-packages.sh run    Python's venv ($PYTHON, default python3.11), Java 17+ and Maven (the Kafka broker),
#                             Pango and a font with Vietnamese letters (WeasyPrint's PDFs)
#   system-packages.sh test   the same and Chromium (the report page is printed by a real browser)
#   system-packages.sh ci     the same and PostgreSQL (.ci/run starts it)
#
# Nothing missing: silent. As root it installs with apt-get, else with sudo where there is sudo; with neither (or on
# a system without apt-get) it prints the one command that installs them and exits 1.
set -euo pipefail

profile="${1:-}"
python="${PYTHON:-python3.11}"
pg_lib="${POSTGRESQL_LIB_DIR:-/usr/lib/postgresql}"
pango_lib="${PANGO_LIB_GLOB:-/usr/lib/*/libpangoft2-1.0.so.0}"
font="${PDF_FONT_GLOB:-/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf}"

have() { command -v "$1" >/dev/null; }

java_ok() {
  have java || return 1
  local major
  major="$(java -XshowSettings:properties -version 2>&1 | sed -n 's/.*java.specification.version = \([0-9]*\).*/\1/p')"
  [ "${major:-0}" -ge 17 ]
}

packages=()  # Debian package names
needs=()     # what they are for, said to the reader
need() { packages+=("$1"); needs+=("$2"); }

check_run() {
  if ! have "$python"; then need "$python $python-venv" "Python ($python)"
  elif ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then need "$python-venv" "Python's venv ($python-venv)"
  fi
  java_ok || need openjdk-17-jre-headless "Java 17 or newer"
  have mvn || need maven "Maven"
  compgen -G "$pango_lib" >/dev/null || need "libpango-1.0-0 libpangoft2-1.0-0" "Pango"
  compgen -G "$font" >/dev/null || need fonts-dejavu-core "the DejaVu fonts"
}

check_test() {
  check_run
  have chromium || have chromium-browser || need chromium "Chromium"
}

check_ci() {
  check_test
  if ! have pg_lsclusters || ! compgen -G "$pg_lib/*/bin/postgres" >/dev/null; then need postgresql "PostgreSQL"; fi
}

case "$profile" in
  run) check_run ;;
  test) check_test ;;
  ci) check_ci ;;
  *) sed -n '2,9p' "$0"; exit 2 ;;
esac
[ "${#packages[@]}" -eq 0 ] && exit 0

# shellcheck disable=SC2206  # a need may name two packages
list=(${packages[*]})
what="$(IFS=,; echo "${needs[*]}" | sed 's/,/, /g')"
install="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${list[*]}"

if ! have apt-get; then
  echo "system-packages.sh: missing $what; install them with your system's package manager" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif have sudo; then
  as_root=(sudo)
else
  echo "system-packages.sh: missing $what. Install them as root, then run make again:" >&2
  echo "  su -c '$install'" >&2
  exit 1
fi
echo "system-packages.sh: installing ${list[*]} ($what)" >&2
if ! { "${as_root[@]}" apt-get update -qq &&
       "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${list[@]}" >/dev/null; }; then
  echo "system-packages.sh: the install failed; as root: $install" >&2
  exit 1
fi
