#!/usr/bin/env bash
# The README's main command: set up everything on a fresh machine and run the example end to end
# on the embedded local default (local Spark, Delta on local disk, Hive metastore in .featurespark/).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash bootstrap/setup-local.sh
exec .venv/bin/python jobs/run_example.py --config conf/local.yaml "$@"
