#!/usr/bin/env bash
# The independent Modbus peer of the driver tests: pymodbus (PyPI) in a venv under .cache/, pinned.
#   bash scripts/pymodbus.sh          install if missing (quick when present), print the venv's python
# Needs python3 with venv (Debian: apt-get install python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=3.16.1
VENV=.cache/pymodbus-venv
PY="$VENV/bin/python"

if [ -x "$PY" ] && "$PY" -c "import pymodbus, serial, sys; sys.exit(pymodbus.__version__ != '$VERSION')" 2>/dev/null; then
  echo "$PWD/$PY"
  exit 0
fi

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "pymodbus.sh: python3 with venv is needed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
rm -rf "$VENV"
mkdir -p .cache
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "pymodbus[serial]==$VERSION" >&2
"$PY" -c "import pymodbus, serial; print('pymodbus', pymodbus.__version__, 'installed in $VENV')" >&2
echo "$PWD/$PY"
