#!/usr/bin/env bash
# Installs a built edge-gateway (the folder of a release .tar.gz from `npm run package`, or a source tree after
# `CKJS_LINKING=dynamic npm ci && npm run build`; the README says which Debian packages librdkafka's build
# needs) as a systemd service, for systems without dpkg (on Debian and Ubuntu, the .deb does the same):
#   /opt/edge-gateway                 the release (dist/, production node_modules/, README, units)
#   /etc/edge-gateway/gateway.yaml    the configuration: the site template is put there only when none exists
#   /etc/edge-gateway/gateway.schema.json, conf.d/   the schema editors read; drop-in device files
#   /var/lib/edge-gateway             the journal and the Sparkplug bdSeq (the unit's StateDirectory)
#   /etc/systemd/system/edge-gateway.service, edge-gateway-broker.service
#   /usr/local/bin/edge-gateway       the command line, for validate/status/once
# and a system user edge-gateway. Then it enables and starts (or, on an upgrade, restarts) the broker and the
# gateway. The broker runs in its own unit (broker.embedded: false), so that SCADA and HMIs keep their
# connections and receive the gateway's NDEATH when the gateway crashes, restarts or is upgraded; a
# configuration with broker.embedded: true gets the gateway unit alone.
# Run it again to upgrade: it is idempotent and never touches an existing configuration or journal.
#
#   sudo scripts/install.sh               install or upgrade
#   sudo scripts/install.sh --uninstall   remove the release and the units; keep configuration, journal, user
#   --embedded-broker                     a new configuration runs the broker inside the gateway (one
#                                         unit): only for sites where nothing but the status page needs MQTT
#   --root DIR                            act on the filesystem under DIR instead of / (images, tests); the
#                                         services are enabled there but not started
set -euo pipefail

NAME=edge-gateway
UNITS=(edge-gateway.service edge-gateway-broker.service)
ROOT=
ACTION=install
EMBEDDED_EXAMPLE=false

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --uninstall) ACTION=uninstall ;;
    --embedded-broker) EMBEDDED_EXAMPLE=true ;;
    --root) [ $# -ge 2 ] || usage 2; ROOT=${2%/}; shift ;;
    --root=*) ROOT=${1#--root=}; ROOT=${ROOT%/} ;;
    -h|--help) usage 0 ;;
    *) echo "install.sh: unknown option \"$1\"" >&2; usage 2 ;;
  esac
  shift
done

say() { echo "install.sh: $*"; }
die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root: sudo $0"
if [ -n "$ROOT" ]; then
  [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
  ROOT=$(cd "$ROOT" && pwd -P)
  [ "$ROOT" != / ] || ROOT=
fi

SRC=$(cd "$(dirname "$0")/.." && pwd)
OPT="$ROOT/opt/$NAME"
ETC="$ROOT/etc/$NAME"
STATE="$ROOT/var/lib/$NAME"
UNIT_DIR="$ROOT/etc/systemd/system"
BIN="$ROOT/usr/local/bin/$NAME"

# systemctl acts on a running systemd only when it is PID 1 on this root (not in a container, chroot, --root).
systemd_running() { [ -z "$ROOT" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; }
systemctl_root() { if [ -n "$ROOT" ]; then systemctl --root="$ROOT" "$@"; else systemctl "$@"; fi; }

# The units the configuration in place asks for, in start order (scripts/service-units.mjs).
config_units() {
  node "$SRC/scripts/service-units.mjs" "$ETC/gateway.yaml" 2>/dev/null || echo "$NAME.service"
}

user_entry() {
  if [ -n "$ROOT" ]; then grep "^$NAME:" "$ROOT/etc/passwd" || true; else getent passwd "$NAME" || true; fi
}

do_uninstall() {
  if systemd_running; then
    systemctl disable --now "${UNITS[@]}" >/dev/null 2>&1 || true
  elif command -v systemctl >/dev/null 2>&1; then
    systemctl_root disable "${UNITS[@]}" >/dev/null 2>&1 || true
  fi
  for unit in "${UNITS[@]}"; do rm -f "$UNIT_DIR/$unit"; done
  if systemd_running; then systemctl daemon-reload; fi
  if [ -L "$BIN" ] && [ "$(readlink "$BIN")" = "/opt/$NAME/dist/edge/cli.js" ]; then rm -f "$BIN"; fi
  rm -rf "$OPT" "$OPT.new" "$OPT.old"
  say "removed /opt/$NAME and the units; kept /etc/$NAME (configuration), /var/lib/$NAME (journal) and the user $NAME"
}

do_install() {
  [ -f "$SRC/dist/edge/cli.js" ] && [ -d "$SRC/node_modules" ] || die "$SRC is not built: run \"CKJS_LINKING=dynamic npm ci && npm run build\" there first"
  if [ -z "$ROOT" ]; then
    command -v node >/dev/null 2>&1 || die "node is not on PATH: install Node.js 20.19 or newer"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' ||
      die "Node.js $(node --version) is too old: 20.19 or newer is needed"
  fi

  # The user, with the dialout group for serial ports (the unit adds it too).
  if [ -z "$(user_entry)" ]; then
    local prefix=()
    [ -z "$ROOT" ] || prefix=(--prefix "$ROOT")
    useradd "${prefix[@]}" --system --user-group --home-dir "/var/lib/$NAME" --no-create-home --shell /usr/sbin/nologin "$NAME"
    if grep -q '^dialout:' "$ROOT/etc/group"; then usermod "${prefix[@]}" -a -G dialout "$NAME"; fi
    say "created the system user $NAME"
  fi
  local uid gid
  uid=$(user_entry | cut -d: -f3)
  gid=$(user_entry | cut -d: -f4)

  # The release, staged beside the old one and swapped in, so that an interrupted upgrade leaves a whole one.
  rm -rf "$OPT.new" "$OPT.old"
  mkdir -p "$OPT.new"
  cp -a "$SRC/dist" "$SRC/node_modules" "$SRC/package.json" "$SRC/package-lock.json" "$SRC/README.md" "$SRC/systemd" "$OPT.new/"
  [ ! -f "$SRC/BUILD-INFO" ] || cp -a "$SRC/BUILD-INFO" "$OPT.new/"
  mkdir -p "$OPT.new/config" "$OPT.new/scripts"
  cp -a "$SRC/config/gateway.schema.json" "$SRC/config/kafka-record.schema.json" "$SRC/config/site" "$OPT.new/config/"
  cp -a "$SRC/scripts/install.sh" "$SRC/scripts/service-units.mjs" "$OPT.new/scripts/"
  if command -v npm >/dev/null 2>&1; then
    (cd "$OPT.new" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund >/dev/null 2>&1) ||
      say "warning: npm prune failed; the release keeps its development packages"
  fi
  chmod 0755 "$OPT.new/dist/edge/cli.js"
  # The native Kafka client (the default uplink.kafka.client) is built at `npm ci`; without it the gateway runs
  # its uplink on kafkajs. Said here, before a technician wonders why.
  if (cd "$OPT.new" && node -e 'require("@confluentinc/kafka-javascript")') >/dev/null 2>&1; then
    say "Kafka client: librdkafka $(cd "$OPT.new" && node -p 'require("@confluentinc/kafka-javascript").librdkafkaVersion' 2>/dev/null)"
  else
    say "warning: the native Kafka client (@confluentinc/kafka-javascript) is not built in $SRC: the uplink runs on kafkajs, and a configuration with uplink.kafka.client: librdkafka does not start. To build it: apt-get install zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev g++ make python3, then CKJS_LINKING=dynamic npm ci in $SRC, and run this again."
  fi
  chown -R 0:0 "$OPT.new"
  if [ -e "$OPT" ]; then mv "$OPT" "$OPT.old"; fi
  mv "$OPT.new" "$OPT"
  rm -rf "$OPT.old"
  mkdir -p "$(dirname "$BIN")"
  ln -sfn "/opt/$NAME/dist/edge/cli.js" "$BIN"
  say "installed the release in /opt/$NAME ($(node -p 'require(process.argv[1]).version' "$SRC/package.json" 2>/dev/null || echo '?'))"

  # The configuration: never overwritten. Readable by the service (it may hold Kafka credentials), not by all.
  install -d -m 0750 -o 0 -g "$gid" "$ETC"
  if [ ! -e "$ETC/gateway.yaml" ]; then
    # The site template (every key explained; the broker in its own unit) as written, or with the broker
    # embedded: only the text of that one value changes.
    node -e '
      const yaml = require(process.argv[1]);
      const fs = require("fs");
      let text = fs.readFileSync(process.argv[2], "utf8");
      if (process.argv[4] === "true") {
        const node = yaml.parseDocument(text).getIn(["broker", "embedded"], true);
        if (!node || !node.range) throw new Error("the template has no broker.embedded");
        text = text.slice(0, node.range[0]) + "true" + text.slice(node.range[1]);
      }
      fs.writeFileSync(process.argv[3], text);
    ' "$SRC/node_modules/yaml" "$SRC/config/site/gateway.yaml" "$ETC/gateway.yaml" "$EMBEDDED_EXAMPLE"
    chown "0:$gid" "$ETC/gateway.yaml"
    chmod 0640 "$ETC/gateway.yaml"
    say "put the site template in /etc/$NAME/gateway.yaml: edit it, put devices in /etc/$NAME/conf.d/, then: $NAME validate --config /etc/$NAME/gateway.yaml"
  else
    say "kept the configuration /etc/$NAME/gateway.yaml"
  fi
  # The schema is the release's (the template's $schema line points at it); conf.d's examples are put once.
  install -m 0644 "$SRC/config/gateway.schema.json" "$ETC/gateway.schema.json"
  install -d -m 0750 -o 0 -g "$gid" "$ETC/conf.d"
  for f in "$SRC"/config/site/conf.d/*; do
    if [ -f "$f" ] && [ ! -e "$ETC/conf.d/$(basename "$f")" ]; then install -m 0644 "$f" "$ETC/conf.d/"; fi
  done
  install -d -m 0750 -o "$uid" -g "$gid" "$STATE"

  mkdir -p "$UNIT_DIR"
  for unit in "${UNITS[@]}"; do install -m 0644 "$SRC/systemd/$unit" "$UNIT_DIR/$unit"; done

  # The units the configuration asks for: the broker's own unit unless the broker is embedded in the gateway.
  local enabled=() idle=()
  mapfile -t enabled < <(config_units)
  if [ "${#enabled[@]}" -eq 1 ]; then idle=("$NAME-broker.service"); fi
  if systemd_running; then
    systemctl daemon-reload
    # A broker unit left over from a two-unit set-up would hold the port the embedded broker needs.
    if [ ${#idle[@]} -gt 0 ]; then systemctl disable --now --quiet "${idle[@]}" 2>/dev/null || true; fi
    systemctl enable --quiet "${enabled[@]}"
    # An upgrade restarts what runs, so that the new release is the one running: the broker first.
    for unit in "${enabled[@]}"; do
      if systemctl is-active --quiet "$unit"; then systemctl restart "$unit"; fi
    done
    systemctl start "${enabled[@]}" || die "${enabled[*]} did not start: journalctl -u $NAME -u $NAME-broker -n 50 says why"
    say "${enabled[*]} enabled and running: systemctl status ${enabled[*]}; journalctl -u $NAME -f"
  elif command -v systemctl >/dev/null 2>&1; then
    if [ ${#idle[@]} -gt 0 ]; then systemctl_root disable --quiet "${idle[@]}" 2>/dev/null || true; fi
    systemctl_root enable --quiet "${enabled[@]}"
    say "${enabled[*]} enabled; systemd is not running here, so they start at the next boot"
  else
    say "warning: no systemctl: enable and start $NAME.service with this system's service manager"
  fi
}

"do_$ACTION"
