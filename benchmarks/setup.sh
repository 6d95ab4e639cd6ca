#!/usr/bin/env bash
# Set up the benchmark environment (separate from the main .venv, which stays untouched):
#   - calls bootstrap/setup-local.sh for the JVM jars (.jars/) and .venv (whose moto serves DynamoDB),
#   - creates .venv-bench with featurespark[spark] installed editable, feast[spark,aws]==0.67.0 and
#     matplotlib from PyPI.
# Idempotent: a stamp records the inputs, so a second run only checks and returns.
#
#   bash benchmarks/setup.sh [--help]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv-bench"
FEAST_SPEC="feast[spark,aws]==0.67.0"

case "${1:-}" in
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  "") ;;
  *) echo "[bench-setup] unknown option $1 (see --help)" >&2; exit 2 ;;
esac

log() { printf '[bench-setup] %s\n' "$*"; }

# The jars and the DynamoDB endpoint's Python (.venv) are shared with the main environment: set them up there.
bash bootstrap/setup-local.sh

inputs_hash() {
  { cat setup.cfg pyproject.toml benchmarks/setup.sh; echo "$FEAST_SPEC"; } | sha256sum | cut -c1-16
}
STAMP="$VENV/.bench-setup-$(inputs_hash)"
if [ -f "$STAMP" ]; then
  log "benchmark environment up to date ($VENV)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
log "installing featurespark[spark] (editable), $FEAST_SPEC and matplotlib into $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# One resolver run, so that Feast's pins and featurespark's ranges (pyspark 4.0.x) are solved together.
"$VENV/bin/python" -m pip install --quiet -e ".[spark]" "$FEAST_SPEC" "matplotlib>=3.8"
"$VENV/bin/python" - <<'PY'
import feast, pyspark, delta, matplotlib, featurespark
print("[bench-setup] feast", feast.__version__, "pyspark", pyspark.__version__, "featurespark", featurespark.__version__)
PY
rm -f "$VENV"/.bench-setup-*
touch "$STAMP"
log "done"
