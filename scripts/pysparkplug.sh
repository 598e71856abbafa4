#!/usr/bin/env bash
# A second independent Sparkplug B decoder for the tests: pysparkplug (PyPI) in a venv under .cache/, pinned.
#   bash scripts/pysparkplug.sh       install if missing (quick when present), print the venv's python
exec bash "$(dirname "$0")/pyvenv.sh" pysparkplug 'pysparkplug==0.6.1' pysparkplug
