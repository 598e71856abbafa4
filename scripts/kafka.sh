#!/usr/bin/env bash
# Local Apache Kafka (KRaft, single node) for tests and development.
# Runs the broker as a plain Java process from jars resolved from Maven Central.
#
#   scripts/kafka.sh fetch                         resolve broker jars into the cache, print libs dir
#   scripts/kafka.sh start [--port 9092] [--dir D] format (if needed) and run a broker in the foreground
#
# Environment:
#   KAFKA_VERSION     Kafka release to use (default below)
#   KAFKA_HOME_CACHE  cache dir (default: $PWD/.cache/kafka-$KAFKA_VERSION)
#   JAVA_HOME         JDK/JRE to use (default: /usr/lib/jvm/java-17-openjdk-amd64, then `java` on PATH)
#   MVN               maven executable (default: mvn)
set -euo pipefail

# Newest 4.x release that is *completely* resolvable from Maven Central (checked 2026-11).
# 4.4.0 is listed in kafka_2.13's maven-metadata.xml, but its dependency org.apache.kafka:kafka-tools-api:4.4.0
# is missing from Central (HTTP 404), so it cannot be resolved.
KAFKA_VERSION="${KAFKA_VERSION:-4.3.1}"
SCALA_BINARY="2.13"
# log4j2 version used by kafka-server ${KAFKA_VERSION}; we add the slf4j 1.x binding of the same version.
LOG4J_VERSION="${LOG4J_VERSION:-2.25.4}"
DEPENDENCY_PLUGIN="org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

KAFKA_HOME_CACHE="${KAFKA_HOME_CACHE:-$PWD/.cache/kafka-$KAFKA_VERSION}"
LIBS_DIR="$KAFKA_HOME_CACHE/libs"
CONFIG_DIR="$KAFKA_HOME_CACHE/config"
MARKER="$LIBS_DIR/.complete"

# shellcheck source=java.sh
source "$(dirname "${BASH_SOURCE[0]}")/java.sh"

write_log4j_config() {
  mkdir -p "$CONFIG_DIR"
  cat >"$CONFIG_DIR/log4j2.properties" <<'EOF'
# Console logging for the local test/dev broker (stdout is captured by the caller).
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.apache.name = org.apache.kafka
logger.apache.level = INFO
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = WARN
EOF
}

cmd_fetch() {
  if [[ -f "$MARKER" && -f "$CONFIG_DIR/log4j2.properties" ]]; then
    printf '%s\n' "$LIBS_DIR"
    return 0
  fi
  command -v "${MVN:-mvn}" >/dev/null 2>&1 || die "maven not found (apt-get install maven)"
  local java_bin
  java_bin="$(find_java)"
  export JAVA_HOME="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$java_bin")")")}"

  # Serialize concurrent fetches (e.g. two test processes on a fresh machine), then re-check the marker.
  mkdir -p "$KAFKA_HOME_CACHE"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$KAFKA_HOME_CACHE/.fetch.lock"
    flock 9
    if [[ -f "$MARKER" && -f "$CONFIG_DIR/log4j2.properties" ]]; then
      printf '%s\n' "$LIBS_DIR"
      return 0
    fi
  fi

  FETCH_WORK="$(mktemp -d "${TMPDIR:-/tmp}/kafka-fetch.XXXXXX")"
  trap 'rm -rf "${FETCH_WORK:-}"' EXIT
  local work="$FETCH_WORK"
  cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.edge-gateway</groupId>
  <artifactId>kafka-broker-libs</artifactId>
  <version>${KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>
    <!-- broker (kafka.Kafka) and storage tool (kafka.tools.StorageTool); pulls kafka-server,
         kafka-metadata, kafka-raft, kafka-storage, coordinators, kafka-clients, scala -->
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_BINARY}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <!-- logging backend: log4j2 core + slf4j 1.x binding (kafka uses slf4j-api 1.7) -->
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
EOF

  log "resolving Apache Kafka ${KAFKA_VERSION} (scala ${SCALA_BINARY}) from Maven Central ..."
  local start_s=$SECONDS
  rm -rf "$LIBS_DIR.tmp"
  "${MVN:-mvn}" -B -q -f "$work/pom.xml" \
    "${DEPENDENCY_PLUGIN}:copy-dependencies" \
    -DincludeScope=runtime \
    -DoutputDirectory="$LIBS_DIR.tmp" \
    -DoverWriteReleases=true -Dstyle.color=never >&2 \
    || die "maven could not resolve Kafka ${KAFKA_VERSION} (is Maven Central reachable?)"
  [[ -f "$LIBS_DIR.tmp/kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar" ]] \
    || die "kafka_${SCALA_BINARY}-${KAFKA_VERSION}.jar missing after resolution"
  rm -rf "$LIBS_DIR"
  mv "$LIBS_DIR.tmp" "$LIBS_DIR"
  write_log4j_config
  printf 'kafka=%s\nfetched=%s\n' "$KAFKA_VERSION" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MARKER"
  log "$(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - start_s))s"
  printf '%s\n' "$LIBS_DIR"
}

random_cluster_id() {
  # Same format as `kafka-storage random-uuid`: 16 random bytes, base64url without padding, not starting with '-'.
  local id
  while :; do
    id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    [[ "$id" != -* ]] && break
  done
  printf '%s\n' "$id"
}

free_port() {
  # Ask the kernel for a free port (node is available in this project); bash probe as a fallback.
  if command -v node >/dev/null 2>&1; then
    node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close();});'
    return
  fi
  local p
  for p in $(seq 29093 29193); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf '%s\n' "$p"; return; fi
  done
  die "no free port found"
}

cmd_start() {
  local port=9092 dir="$PWD/.cache/kafka-data"
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) port="${2:?--port needs a value}"; shift 2 ;;
      --port=*) port="${1#*=}"; shift ;;
      --dir) dir="${2:?--dir needs a value}"; shift 2 ;;
      --dir=*) dir="${1#*=}"; shift ;;
      *) die "unknown option for start: $1" ;;
    esac
  done
  [[ "$port" =~ ^[0-9]+$ ]] || die "invalid port: $port"

  local libs java_bin
  libs="$(cmd_fetch)"
  java_bin="$(find_java)"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local props="$dir/server.properties" logs="$dir/logs"

  # Keep the controller port stable across restarts of the same data dir (it is part of the quorum config).
  local cport=""
  if [[ -f "$props" ]]; then
    cport="$(sed -n 's/^controller\.quorum\.voters=1@127\.0\.0\.1:\([0-9]*\)$/\1/p' "$props")"
  fi
  [[ -n "$cport" ]] || cport="$(free_port)"
  [[ "$cport" != "$port" ]] || cport="$(free_port)"

  cat >"$props" <<EOF
# generated by scripts/kafka.sh start
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:${cport}
listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${cport}
advertised.listeners=PLAINTEXT://127.0.0.1:${port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=${logs}
num.partitions=3
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF

  local cp="$libs/*"
  local log4j="-Dlog4j2.configurationFile=$CONFIG_DIR/log4j2.properties"
  if [[ ! -f "$logs/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(random_cluster_id)"
    log "formatting $logs (cluster id $cluster_id)"
    "$java_bin" -Xmx256m -cp "$cp" "$log4j" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$props" --ignore-formatted >&2
  fi

  log "Kafka ${KAFKA_VERSION} on 127.0.0.1:${port} (controller 127.0.0.1:${cport}), data in $dir; Ctrl-C to stop"
  exec "$java_bin" -Xmx512m -Xms256m -XX:+UseG1GC -Djava.awt.headless=true \
    "$log4j" -cp "$cp" kafka.Kafka "$props"
}

case "${1:-}" in
  fetch) shift; cmd_fetch "$@" ;;
  start) shift; cmd_start "$@" ;;
  *) printf 'usage: %s fetch | start [--port 9092] [--dir DIR]\n' "$0" >&2; exit 2 ;;
esac
