#!/usr/bin/env bash
# Prints the Python interpreter the fusedmoe build and tests use: the virtual environment made by
# scripts/install_python_deps.sh when there is one, else $PYTHON or python3 (the GPU machine's
# system Python already has the packages).
cd "$(dirname "$0")/.."
if [ -x .deps/python/bin/python ]; then
  echo "$PWD/.deps/python/bin/python"
else
  command -v "${PYTHON:-python3}"
fi
