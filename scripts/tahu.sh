#!/usr/bin/env bash
# Eclipse Tahu's Sparkplug B host application as an independent peer for the gateway (test/tahu/).
# Builds a small harness around Tahu (from Maven Central) and runs it; it prints one JSON line per event.
#
#   scripts/tahu.sh fetch                                        build the harness into the cache, print libs dir
#   scripts/tahu.sh run --url tcp://127.0.0.1:1883 [--host-id ID] [--client-id ID] [--topic T] [--exit-on-stdin-eof]
#   scripts/tahu.sh run --decode                                 Tahu's decoder alone: hex payloads on stdin, JSON out
#
# Environment:
#   TAHU_VERSION     Tahu release to use (default below)
#   TAHU_CACHE       cache dir (default: $PWD/.cache/tahu-$TAHU_VERSION)
#   JAVA_HOME        JDK to use (default: /usr/lib/jvm/java-17-openjdk-amd64, then `java` on PATH); the build needs javac
#   MVN              maven executable (default: mvn)
set -euo pipefail

# Newest release whose artifacts all resolve from Maven Central (checked 2026-11): tahu-host 1.0.21 is listed,
# but its parent pom org.eclipse.tahu:tahu:1.0.21 is missing from Central (HTTP 404), so it cannot be resolved.
TAHU_VERSION="${TAHU_VERSION:-1.0.19}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC_DIR="$ROOT/test/tahu"
TAHU_CACHE="${TAHU_CACHE:-$PWD/.cache/tahu-$TAHU_VERSION}"
LIBS_DIR="$TAHU_CACHE/libs"
MARKER="$LIBS_DIR/.complete"
MAIN_CLASS="local.edgegateway.tahu.HostHarness"

# shellcheck source=java.sh
source "$(dirname "${BASH_SOURCE[0]}")/java.sh"

# What the build depends on: the Tahu version and the harness sources. A change rebuilds.
source_hash() {
  {
    printf 'tahu=%s\n' "$TAHU_VERSION"
    (cd "$SRC_DIR" && find pom.xml src -type f | LC_ALL=C sort | xargs sha256sum)
  } | sha256sum | cut -d' ' -f1
}

is_built() {
  [[ -f "$MARKER" ]] && grep -qx "source=$1" "$MARKER"
}

cmd_fetch() {
  local hash
  hash="$(source_hash)"
  if is_built "$hash"; then
    printf '%s\n' "$LIBS_DIR"
    return 0
  fi
  command -v "${MVN:-mvn}" >/dev/null 2>&1 || die "maven not found (apt-get install maven)"
  local java_bin
  java_bin="$(find_java)"
  export JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$java_bin")")")}"
  [[ -x "$JAVA_HOME/bin/javac" ]] || die "javac not found in $JAVA_HOME: the harness is compiled here; install a JDK (apt-get install openjdk-17-jdk-headless)"

  # Serialize concurrent builds, then re-check.
  mkdir -p "$TAHU_CACHE"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$TAHU_CACHE/.fetch.lock"
    flock 9
    if is_built "$hash"; then
      exec 9>&-
      printf '%s\n' "$LIBS_DIR"
      return 0
    fi
  fi

  log "building the Tahu ${TAHU_VERSION} host harness (Maven Central) ..."
  local start_s=$SECONDS
  rm -rf "$LIBS_DIR.tmp" "$TAHU_CACHE/build"
  local args=(-B -q -f "$SRC_DIR/pom.xml" package -Dtahu.version="$TAHU_VERSION"
    -Dharness.buildDir="$TAHU_CACHE/build" -Dharness.libDir="$LIBS_DIR.tmp" -Dstyle.color=never)
  # Offline first: quick when ~/.m2 already holds everything; online otherwise.
  if ! "${MVN:-mvn}" -o "${args[@]}" >/dev/null 2>&1; then
    rm -rf "$LIBS_DIR.tmp"
    "${MVN:-mvn}" "${args[@]}" >&2 || die "maven could not build the harness with Tahu ${TAHU_VERSION} (is Maven Central reachable?)"
  fi
  [[ -f "$LIBS_DIR.tmp/tahu-host-${TAHU_VERSION}.jar" ]] || die "tahu-host-${TAHU_VERSION}.jar missing after the build"
  rm -rf "$LIBS_DIR" "$TAHU_CACHE/build"
  mv "$LIBS_DIR.tmp" "$LIBS_DIR"
  printf 'tahu=%s\nsource=%s\nbuilt=%s\n' "$TAHU_VERSION" "$hash" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MARKER"
  exec 9>&- # release the lock: `run` execs java from this shell
  log "$(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - start_s))s"
  printf '%s\n' "$LIBS_DIR"
}

cmd_run() {
  local libs java_bin
  libs="$(cmd_fetch)"
  java_bin="$(find_java)"
  exec "$java_bin" -Xmx128m -XX:+UseSerialGC -Djava.awt.headless=true -cp "$libs/*" "$MAIN_CLASS" "$@"
}

case "${1:-}" in
  fetch) shift; cmd_fetch "$@" ;;
  run) shift; cmd_run "$@" ;;
  *) printf 'usage: %s fetch | run --url tcp://HOST:PORT [--host-id ID] [--client-id ID] [--topic T] [--exit-on-stdin-eof]\n' "$0" >&2; exit 2 ;;
esac
