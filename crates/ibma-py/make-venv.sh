#!/usr/bin/env bash
# A virtual environment with the ibma Python package built from this checkout (maturin, from
# PyPI, builds it with cargo), for the Python tests and the bench:
#
#   bash crates/ibma-py/make-venv.sh DIR          # the package (and numpy, nibabel)
#   bash crates/ibma-py/make-venv.sh DIR --test   # also pytest and NiMARE 0.22.1's exact lock
#
# NiMARE's lock is the reference harness's copy beside the repository when it is there, else
# the repository's own (xtask/nimare-requirements.lock, the same pins).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$1"
python="${PYTHON:-python3}"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
if [ "${2:-}" = "--test" ]; then
  lock="$root/../shared/oracle/requirements-lock.txt"
  [ -f "$lock" ] || lock="$root/xtask/nimare-requirements.lock"
  "${pip[@]}" install --quiet -r "$lock" "pytest==9.2.0"
fi
# Rebuilt every time: the installed package must be this checkout's.
"${pip[@]}" install --quiet --force-reinstall --no-deps "$root/crates/ibma-py"
"${pip[@]}" install --quiet "$root/crates/ibma-py"   # its dependencies, if missing
