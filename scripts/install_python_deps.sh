#!/usr/bin/env bash
# Installs the pinned Python dependencies of the fusedmoe extension and its tests.
#   .deps/python/   a virtual environment with nanobind, numpy, pytest, scikit-build-core
# Torch is not installed: the CPU tests drive the reference through numpy, and the torch tests
# skip (saying why) where torch or a CUDA device is missing.
#
# A machine whose python3 already has these packages (the GPU machine, which has no network) is
# used as it is: nothing is downloaded there. scripts/python_env.sh prints the interpreter to use.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

NANOBIND_VERSION=3.1.0
NUMPY_VERSION=2.3.5
PYTEST_VERSION=9.1.0
SKBUILD_VERSION=1.1.0
VENV=.deps/python
PYTHON=${PYTHON:-python3}

has_all() {  # the interpreter imports every dependency, with the nanobind the build expects
  "$1" - "$NANOBIND_VERSION" <<'PY' 2>/dev/null
import sys, importlib.metadata as md
import nanobind, numpy, pytest, scikit_build_core  # noqa: F401
sys.exit(0 if md.version("nanobind") == sys.argv[1] else 1)
PY
}

if [ -x "$VENV/bin/python" ] && has_all "$VENV/bin/python"; then
  echo "[python-deps] ok: $VENV"
  exit 0
fi
if [ ! -x "$VENV/bin/python" ] && has_all "$PYTHON"; then
  echo "[python-deps] ok: $($PYTHON -c 'import sys; print(sys.executable)') has them already"
  exit 0
fi

echo "[python-deps] creating $VENV (nanobind==$NANOBIND_VERSION numpy==$NUMPY_VERSION" \
     "pytest==$PYTEST_VERSION scikit-build-core==$SKBUILD_VERSION)"
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "nanobind==$NANOBIND_VERSION" "numpy==$NUMPY_VERSION" "pytest==$PYTEST_VERSION" \
  "scikit-build-core==$SKBUILD_VERSION"
has_all "$VENV/bin/python"
echo "[python-deps] ok: $VENV"
