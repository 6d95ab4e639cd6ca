#!/usr/bin/env bash
# The README's test command: set up everything on a fresh machine, type-check, run the test suite.
# Extra arguments go to pytest (e.g. `bash bootstrap/run-tests.sh -k registry`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash bootstrap/setup-local.sh
echo "[tests] mypy featurespark"
.venv/bin/mypy
echo "[tests] pytest"
source bootstrap/lib/pytest-args.sh
pytest_shared_args
exec .venv/bin/python -m pytest "${PYTEST_SHARED_ARGS[@]}" "$@"
