#!/usr/bin/env bash
# What the tests need from the machine, and getting it. `npm test` runs this first (pretest), .ci/run too.
#
#   bash scripts/setup.sh                 system packages, then the Kafka client's native build, then the
#                                         peers the tests run (Kafka jars, Tahu harness, Python venvs in .cache/)
#   bash scripts/setup.sh --system-only   only the system packages (.ci/run, before npm ci builds librdkafka)
#   EDGE_SETUP=skip                       do nothing: you look after this machine yourself
#
# Missing system packages: as root with apt-get, they are installed (one line says which and why); otherwise
# the one command that installs them is printed and this exits 1. Quick and quiet when everything is there.
set -euo pipefail

if [[ "${EDGE_SETUP:-}" == skip ]]; then
  echo "setup: skipped (EDGE_SETUP=skip)"
  exit 0
fi

system_only=0
for arg in "$@"; do
  case "$arg" in
    --system-only) system_only=1 ;;
    -h | --help) sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup: unknown option $arg (try --help)" >&2; exit 2 ;;
  esac
done

# What the tests need | how it is checked | the Debian package that brings it | why.
# Checks: `cmd A B` all on PATH (or in /usr/sbin, /sbin: not on a user's PATH on Debian, yet installed),
# `py M` python3 imports M, `header H` a C header the librdkafka build includes, `chromium` the browser.
REQUIREMENTS='
mosquitto_sub   | cmd mosquitto_sub      | mosquitto-clients       | the MQTT tests subscribe with mosquitto_sub as an independent peer
mosquitto       | cmd mosquitto          | mosquitto               | a second site broker the tests run against
javac           | cmd java javac         | openjdk-17-jdk-headless | Kafka broker, and the Tahu harness compiled here (a JDK, a JRE is not enough)
mvn             | cmd mvn                | maven                   | resolves the Kafka jars and builds the Tahu harness from Maven Central
chromium        | chromium               | chromium                | the status page test drives it with playwright-core
socat           | cmd socat              | socat                   | serial-line pairs for the Modbus RTU tests
kcat            | cmd kcat               | kcat                    | the record-schema test reads the topic with it; the uplink benchmark ceiling
python3         | cmd python3            | python3                 | the Python peers, the systemd notify socket of the tests, node-gyp
venv            | py ensurepip venv      | python3-venv            | venvs for the Python peers (pymodbus, pysparkplug)
systemd-analyze | cmd systemd-analyze    | systemd                 | verifies the unit files
g++ make        | cmd g++ make           | build-essential         | node-gyp builds the native addons (better-sqlite3, unix-dgram, librdkafka) when npm finds no binary
useradd         | cmd useradd            | passwd                  | install.sh is tested into a scratch root with useradd --prefix
openssl         | cmd openssl            | openssl                 | the TLS tests make their certificates
dpkg-deb        | cmd dpkg-deb           | dpkg                    | builds the .deb (part of dpkg, always there on Debian; dpkg-dev is not needed)
CA certificates | cafile                 | ca-certificates         | HTTPS to Maven Central and PyPI
zlib.h          | header zlib.h          | zlib1g-dev              | librdkafka build
openssl/ssl.h   | header openssl/ssl.h   | libssl-dev              | librdkafka build
zstd.h          | header zstd.h          | libzstd-dev             | librdkafka build
lz4.h           | header lz4.h           | liblz4-dev              | librdkafka build
sasl/sasl.h     | header sasl/sasl.h     | libsasl2-dev            | librdkafka build
curl/curl.h     | header curl/curl.h     | libcurl4-openssl-dev    | librdkafka build
'
# librdkafka (@confluentinc/kafka-javascript) is built from source against the -dev libraries above: no prebuilt
# binary can be downloaded here. The JDK brings java too (the JRE, openjdk-17-jre-headless, alone cannot build Tahu).

trim() { local s="${1#"${1%%[![:space:]]*}"}"; printf '%s' "${s%"${s##*[![:space:]]}"}"; }

present() { # $1: a check from the table
  local kind args x
  read -r kind args <<<"$1"
  case "$kind" in
    cmd)
      for x in $args; do
        command -v "$x" >/dev/null 2>&1 || [[ -x /usr/sbin/$x || -x /sbin/$x ]] || return 1
      done ;;
    py) command -v python3 >/dev/null 2>&1 && python3 -c "import ${args// /, }" >/dev/null 2>&1 ;;
    header)
      local d
      for d in /usr/include /usr/include/*-linux-gnu* /usr/local/include; do [[ -f $d/$args ]] && return 0; done
      return 1 ;;
    chromium) [[ -x ${CHROMIUM_PATH:-/usr/bin/chromium} ]] ;;
    cafile) [[ -s /etc/ssl/certs/ca-certificates.crt ]] ;;
    *) echo "setup: unknown check '$1'" >&2; return 1 ;;
  esac
}

missing_names=() missing_pkgs=() missing_whys=()
check_all() {
  missing_names=() missing_pkgs=() missing_whys=()
  local name check pkg why
  while IFS='|' read -r name check pkg why; do
    [[ -n "$(trim "$name")" ]] || continue
    present "$(trim "$check")" && continue
    missing_names+=("$(trim "$name")")
    pkg="$(trim "$pkg")" why="$(trim "$why")"
    [[ " ${missing_pkgs[*]} " == *" $pkg "* ]] || missing_pkgs+=("$pkg")
    local seen=0 w
    for w in "${missing_whys[@]}"; do [[ "$w" == "$why" ]] && seen=1; done
    ((seen)) || missing_whys+=("$why")
  done <<<"$REQUIREMENTS"
}

join_by() { local sep="$1" out="" x; shift; for x in "$@"; do out+="${out:+$sep}$x"; done; printf '%s' "$out"; }

system_packages() {
  check_all
  ((${#missing_pkgs[@]} == 0)) && return 0

  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
    echo "setup: this machine lacks what the tests need, and has no apt-get to get it:" >&2
    local name check pkg why
    while IFS='|' read -r name check pkg why; do
      [[ -n "$(trim "$name")" ]] || continue
      present "$(trim "$check")" || echo "  $(trim "$name") ($(trim "$why"); Debian: $(trim "$pkg"))" >&2
    done <<<"$REQUIREMENTS"
    echo "setup: install these with your package manager, or set EDGE_SETUP=skip to run the tests without this check" >&2
    exit 1
  fi

  if ((EUID != 0)); then
    echo "setup: missing $(join_by ', ' "${missing_pkgs[@]}") (for: $(join_by '; ' "${missing_whys[@]}")). Install with:" >&2
    echo "  sudo apt-get install -y ${missing_pkgs[*]}" >&2
    exit 1
  fi

  echo "setup: installing $(join_by ', ' "${missing_pkgs[@]}") (for: $(join_by '; ' "${missing_whys[@]}"))"
  local log
  log="$(mktemp "${TMPDIR:-/tmp}/edge-setup-apt.XXXXXX")"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get update -qq >"$log" 2>&1; then
    echo "setup: apt-get update failed:" >&2; tail -n 20 "$log" >&2; exit 1
  fi
  # Older and newer releases than Debian 12 / Ubuntu 22.04–24.04 may not carry OpenJDK 17: take their default JDK.
  local i
  for i in "${!missing_pkgs[@]}"; do
    if [[ ${missing_pkgs[$i]} == openjdk-17-jdk-headless ]] && command -v apt-cache >/dev/null 2>&1 &&
      ! apt-cache show openjdk-17-jdk-headless >/dev/null 2>&1; then
      missing_pkgs[$i]=default-jdk-headless
    fi
  done
  if ! apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >>"$log" 2>&1; then
    echo "setup: apt-get install ${missing_pkgs[*]} failed:" >&2; tail -n 20 "$log" >&2; exit 1
  fi
  rm -f "$log"
  check_all
  if ((${#missing_names[@]} > 0)); then
    echo "setup: still missing after apt-get install: $(join_by ', ' "${missing_names[@]}")" >&2
    exit 1
  fi
}

system_packages
if ((system_only)); then
  echo "setup: system packages present"
  exit 0
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# @confluentinc/kafka-javascript is an optionalDependency: npm install goes on without it when librdkafka does not
# build (the -dev libraries were missing). They are there now: build it once.
ckjs_loads() { node -e 'require("@confluentinc/kafka-javascript")' >/dev/null 2>&1; }
if [[ -d node_modules ]] && ! ckjs_loads; then
  export CKJS_LINKING=dynamic
  npm_log="$(mktemp "${TMPDIR:-/tmp}/edge-setup-npm.XXXXXX")"
  if [[ -d node_modules/@confluentinc/kafka-javascript ]]; then
    echo "setup: @confluentinc/kafka-javascript does not load; building librdkafka against Debian's libraries (some 3 minutes)"
    npm rebuild @confluentinc/kafka-javascript >"$npm_log" 2>&1 || true
  else
    echo "setup: npm install left out @confluentinc/kafka-javascript (librdkafka did not build); installing it again now that its libraries are here (some 3 minutes)"
    npm install --no-audit --no-fund >"$npm_log" 2>&1 || true
  fi
  if ! ckjs_loads; then
    echo "setup: @confluentinc/kafka-javascript still does not load after the build; its last lines:" >&2
    tail -n 30 "$npm_log" >&2
    echo "setup: the whole log is $npm_log; to try again: CKJS_LINKING=dynamic npm rebuild @confluentinc/kafka-javascript" >&2
    exit 1
  fi
  rm -f "$npm_log"
fi

# The peers the tests run, cached in .cache/: quick and silent when there, they log to stderr when fetching.
bash scripts/kafka.sh fetch >/dev/null
bash scripts/tahu.sh fetch >/dev/null
bash scripts/pymodbus.sh >/dev/null
bash scripts/pysparkplug.sh >/dev/null
echo "setup: system packages, Kafka client, Kafka jars, Tahu harness and Python peers present"
