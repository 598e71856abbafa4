#!/usr/bin/env bash
# A pinned Python package from PyPI in a venv of its own under .cache/, for the tests' independent peers.
#   bash scripts/pyvenv.sh NAME 'PACKAGE[extras]==VERSION' MODULE    install if missing (quick when present),
#                                                                   print the venv's python
# The venv is .cache/NAME-venv; MODULE is imported to check it, and its __version__ must be VERSION.
# Needs python3 with venv (Debian: apt-get install python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

NAME="$1" SPEC="$2" MODULE="$3"
VERSION="${SPEC##*==}"
VENV=".cache/$NAME-venv"
PY="$VENV/bin/python"
check="import $MODULE, sys; v = getattr($MODULE, '__version__', None) or __import__('importlib.metadata').metadata.version('${SPEC%%[[=]*}'); sys.exit(v != '$VERSION')"

if [ -x "$PY" ] && "$PY" -c "$check" 2>/dev/null; then
  echo "$PWD/$PY"
  exit 0
fi

if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "pyvenv.sh: python3 with venv is needed (Debian: apt-get install python3-venv)" >&2
  exit 1
fi
rm -rf "$VENV"
mkdir -p .cache
python3 -m venv "$VENV"
"$VENV/bin/pip" install --quiet --disable-pip-version-check "$SPEC" >&2
"$PY" -c "$check" || { echo "pyvenv.sh: $SPEC did not install as expected" >&2; exit 1; }
echo "$SPEC installed in $VENV" >&2
echo "$PWD/$PY"
