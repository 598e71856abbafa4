#!/usr/bin/env bash
# The independent Modbus peer of the driver tests: pymodbus (PyPI) in a venv under .cache/, pinned.
#   bash scripts/pymodbus.sh          install if missing (quick when present), print the venv's python
exec bash "$(dirname "$0")/pyvenv.sh" pymodbus 'pymodbus[serial]==3.16.1' pymodbus
