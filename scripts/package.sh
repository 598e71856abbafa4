#!/usr/bin/env bash
# npm run package: the release of this tree, for the Node.js and the architecture of this machine:
#   out/edge-gateway_<version>_<arch>.deb      for Debian and Ubuntu (dpkg -i, or apt install ./…)
#   out/edge-gateway_<version>_<arch>.tar.gz   the same release as a folder, installed by its scripts/install.sh
# Both hold the built code, the production node_modules with the native addons built here (better-sqlite3,
# unix-dgram, the librdkafka client with its librdkafka.so), the systemd units, the site template
# (config/site/gateway.yaml) and the configuration's JSON schema. The .deb installs
#   /opt/edge-gateway                         the release
#   /etc/edge-gateway/gateway.yaml            the site template (a conffile: an edited one survives upgrades)
#   /etc/edge-gateway/gateway.schema.json     for editors (the template's $schema line points at it)
#   /etc/edge-gateway/conf.d/                 drop-in device files, merged by run and validate
#   /lib/systemd/system/edge-gateway.service, edge-gateway-broker.service
#   /usr/bin/edge-gateway
# and depends on the Node.js major the addons were built for (the addons load in that major only).
#
#   npm run package [-- --out DIR]
# Needs: a tree after `CKJS_LINKING=dynamic npm ci` (npm test's set-up does it), dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=out
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || { echo "package.sh: --out needs a folder" >&2; exit 2; }; OUT=$2; shift ;;
    --out=*) OUT=${1#--out=} ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown option \"$1\"" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "package: $*"; }
die() { echo "package: $*" >&2; exit 1; }

NAME=edge-gateway
VERSION=$(node -p 'require("./package.json").version')
NODE_VERSION=$(node -p 'process.versions.node')
NODE_MAJOR=${NODE_VERSION%%.*}
NODE_ABI=$(node -p 'process.versions.modules')
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is missing: apt-get install dpkg"
ARCH=$(dpkg --print-architecture)
[ -d node_modules ] || die "node_modules is missing: run \"CKJS_LINKING=dynamic npm ci\" first"
node -e 'require("@confluentinc/kafka-javascript")' 2>/dev/null ||
  die "the librdkafka client (@confluentinc/kafka-javascript) is not built: a package without it would run its uplink on kafkajs only. Install zlib1g-dev libssl-dev libzstd-dev liblz4-dev libsasl2-dev libcurl4-openssl-dev, then CKJS_LINKING=dynamic npm rebuild @confluentinc/kafka-javascript"
[ -f config/site/gateway.yaml ] || die "config/site/gateway.yaml (the site template) is missing"

say "building the code"
npm run --silent build

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAGE="$OUT/.stage"
rm -rf "$STAGE"
mkdir -p "$STAGE"
trap 'rm -rf "$STAGE"' EXIT
REL="$STAGE/$NAME-$VERSION"
mkdir -p "$REL/config" "$REL/scripts"

# The release folder: what /opt/edge-gateway holds.
cp -a dist package.json package-lock.json README.md systemd "$REL/"
cp -a config/gateway.schema.json config/kafka-record.schema.json config/site "$REL/config/"
cp -a scripts/install.sh scripts/service-units.mjs "$REL/scripts/"
# node_modules as hard links where the stage shares the file system (fast; pruning removes links, not files).
cp -al node_modules "$REL/" 2>/dev/null || { rm -rf "$REL/node_modules"; cp -a node_modules "$REL/"; }
rm -f "$REL/node_modules/.package-lock.json" && cp node_modules/.package-lock.json "$REL/node_modules/" 2>/dev/null || true
say "production packages only (npm prune --omit=dev)"
(cd "$REL" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund >/dev/null)
# What only a build needs: sources, object files, static libraries, other platforms' prebuilt addons.
NM="$REL/node_modules"
rm -rf "$NM/@confluentinc/kafka-javascript/deps" "$NM/@confluentinc/kafka-javascript/src" \
  "$NM/@confluentinc/kafka-javascript/build/Release/obj.target" "$NM/@confluentinc/kafka-javascript/build/Release/.deps" \
  "$NM/@confluentinc/kafka-javascript/build/deps/include" "$NM/@confluentinc/kafka-javascript/build/deps/librdkafka" \
  "$NM/better-sqlite3/deps" "$NM/better-sqlite3/src" "$NM/better-sqlite3/build/Release/obj.target" \
  "$NM/better-sqlite3/build/Release/.deps" "$NM/better-sqlite3/build/Release/test_extension.node" \
  "$NM/unix-dgram/build/Release/obj.target" "$NM/unix-dgram/build/Release/.deps"
find "$NM" -path '*/build/deps/*.a' -delete
find "$NM" -name '*.o' -delete
case "$ARCH" in amd64) PREBUILD=linux-x64 ;; arm64) PREBUILD=linux-arm64 ;; armhf) PREBUILD=linux-arm ;; *) PREBUILD=none ;; esac
if [ -d "$NM/@serialport/bindings-cpp/prebuilds" ]; then
  find "$NM/@serialport/bindings-cpp/prebuilds" -mindepth 1 -maxdepth 1 ! -name "$PREBUILD" -exec rm -rf {} +
fi
# Debug symbols are for a build machine (librdkafka.so alone: 13 MB with them, some 3 without).
# strip rewrites a file in place, and these are hard links into this tree's node_modules: copies first.
find "$NM" \( -name '*.node' -o -name '*.so.*' \) -type f ! -path '*/prebuilds/*' -print0 |
  while IFS= read -r -d '' f; do cp -p "$f" "$f.copy" && mv -f "$f.copy" "$f" && strip --strip-unneeded "$f"; done
chmod 0755 "$REL/dist/edge/cli.js"
LIBRDKAFKA=$(cd "$REL" && node -p 'require("@confluentinc/kafka-javascript").librdkafkaVersion')
(cd "$REL" && node dist/edge/cli.js --version >/dev/null) || die "the release does not start: node $REL/dist/edge/cli.js --version"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
cat >"$REL/BUILD-INFO" <<EOF
$NAME $VERSION ($COMMIT), $ARCH
built for Node.js $NODE_MAJOR (NODE_MODULE_VERSION $NODE_ABI) with Node.js $NODE_VERSION
librdkafka $LIBRDKAFKA
EOF

TARBALL="$OUT/${NAME}_${VERSION}_${ARCH}.tar.gz"
tar -C "$STAGE" --owner=0 --group=0 -czf "$TARBALL" "$NAME-$VERSION"
say "$TARBALL ($(du -h "$TARBALL" | cut -f1))"

# The .deb's file tree.
DEB="$STAGE/deb"
mkdir -p "$DEB/opt" "$DEB/etc/$NAME/conf.d" "$DEB/lib/systemd/system" "$DEB/usr/bin" "$DEB/DEBIAN"
mv "$REL" "$DEB/opt/$NAME"
install -m 0644 config/site/gateway.yaml "$DEB/etc/$NAME/gateway.yaml"
install -m 0644 config/gateway.schema.json "$DEB/etc/$NAME/gateway.schema.json"
for f in config/site/conf.d/*; do [ -f "$f" ] && install -m 0644 "$f" "$DEB/etc/$NAME/conf.d/"; done
install -m 0644 systemd/$NAME.service systemd/$NAME-broker.service "$DEB/lib/systemd/system/"
ln -s "/opt/$NAME/dist/edge/cli.js" "$DEB/usr/bin/$NAME"
install -m 0755 scripts/deb/postinst scripts/deb/prerm scripts/deb/postrm "$DEB/DEBIAN/"
(cd "$DEB" && find etc -type f | sort | sed 's|^|/|') >"$DEB/DEBIAN/conffiles"

# Depends: Node.js of the major the addons were built for, and the packages of the shared libraries the addons
# link directly (their NEEDED entries), except those the release carries itself (librdkafka).
shlib_packages() {
  local files bundled so path
  files=$(find "$DEB/opt/$NAME/node_modules" \( -name '*.node' -o -name '*.so.*' \) -type f ! -path '*/prebuilds/*')
  bundled=$(find "$DEB/opt/$NAME/node_modules" -name '*.so*' -printf '%f\n' | sort -u)
  # shellcheck disable=SC2086
  for so in $(readelf -d $files 2>/dev/null | awk '/\(NEEDED\)/ { gsub(/[][]/, "", $5); print $5 }' | sort -u); do
    if grep -qxF "$so" <<<"$bundled"; then continue; fi
    path=$(ldconfig -p | awk -v s="$so" '$1 == s { print $NF; exit }')
    [ -n "$path" ] || die "$so, which a native addon needs, is not installed here"
    dpkg -S "$(readlink -f "$path")" 2>/dev/null || dpkg -S "$path" 2>/dev/null || die "no Debian package holds $path ($so)"
  done | cut -d: -f1 | sort -u
}
DEPENDS="nodejs (>= 20.19), nodejs (<< $((NODE_MAJOR + 1))), passwd"
[ "$NODE_MAJOR" -gt 20 ] && DEPENDS="nodejs (>= $NODE_MAJOR), nodejs (<< $((NODE_MAJOR + 1))), passwd"
for p in $(shlib_packages); do DEPENDS="$DEPENDS, $p"; done
cat >"$DEB/DEBIAN/control" <<EOF
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: edge-gateway developers <edge-gateway@localhost>
Installed-Size: $(du -sk --exclude=DEBIAN "$DEB" | cut -f1)
Depends: $DEPENDS
Section: net
Priority: optional
Description: gateway for industrial sites: PLCs to Sparkplug B and Kafka, with a local journal
 Reads Modbus TCP/RTU and MQTT devices, hosts the site's MQTT broker and publishes every tag as a Sparkplug B
 edge node, keeps every sample in a SQLite journal and forwards it to Kafka when the uplink is up.
 .
 Built for Node.js $NODE_MAJOR (NODE_MODULE_VERSION $NODE_ABI), librdkafka $LIBRDKAFKA.
EOF

DEBFILE="$OUT/${NAME}_${VERSION}_${ARCH}.deb"
dpkg-deb --build --root-owner-group -Zxz -z6 "$DEB" "$DEBFILE" >/dev/null
say "$DEBFILE ($(du -h "$DEBFILE" | cut -f1)): Node.js $NODE_MAJOR, $ARCH, librdkafka $LIBRDKAFKA"
