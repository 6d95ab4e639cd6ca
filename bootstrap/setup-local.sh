#!/usr/bin/env bash
# Set up everything featurespark needs on a fresh machine for the embedded local default:
#   - a virtualenv in .venv with featurespark and its spark + dev extras (from PyPI),
#   - the JVM jars (Delta Lake, the Kafka connector, ...) resolved by Maven from bootstrap/jars/pom.xml into .jars/,
#   - a Kafka broker (for the tests and the example) into .kafka/ (the local DynamoDB endpoint is moto's
#     server from the dev extra: bootstrap/dynamodb-local/start.sh),
#   - PostgreSQL from Debian's packages (bootstrap/postgresql/install.sh; the JdbcSource tests start one).
# Idempotent: a stamp records the inputs, so a second run only checks and returns.
# Needs: python3 (>= 3.9) with venv, Java 17, Maven. Nothing binary is committed to the repo.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"
JARS="$ROOT/.jars"

log() { printf '[setup] %s\n' "$*"; }

for tool in "$PYTHON" java mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "[setup] error: '$tool' is not installed; install it and rerun." >&2; exit 1; }
done

inputs_hash() {
  cat setup.cfg pyproject.toml bootstrap/jars/pom.xml bootstrap/kafka/pom.xml \
      bootstrap/setup-local.sh bootstrap/postgresql/install.sh | sha256sum | cut -c1-16
}
STAMP="$VENV/.featurespark-setup-$(inputs_hash)"

if [ -f "$STAMP" ] && [ -d "$JARS" ] && [ -d "$ROOT/.kafka/lib" ]; then
  log "environment up to date ($VENV, $JARS)"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
log "installing featurespark[spark,dev] into $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[spark,dev]"

log "resolving JVM jars with Maven into $JARS"
rm -rf "$JARS.tmp"
mvn -q -B -f bootstrap/jars/pom.xml dependency:copy-dependencies -DoutputDirectory="$JARS.tmp"
rm -rf "$JARS" && mv "$JARS.tmp" "$JARS"
log "jars: $(find "$JARS" -maxdepth 1 -name '*.jar' -printf '%f\n' | sort | tr '\n' ' ')"

# The online store's tests and the example talk to moto's DynamoDB server (the dev extra above), started on
# 127.0.0.1 by bootstrap/dynamodb-local/start.sh: nothing to resolve.

log "resolving a Kafka broker with Maven (streaming tests run one on 127.0.0.1)"
bash bootstrap/kafka/start.sh --resolve-only

# JdbcSource tests read a PostgreSQL the suite starts on 127.0.0.1 (tests/postgres_local.py).
bash bootstrap/postgresql/install.sh

# The shellcheck linter checks the shell scripts in the test suite; install it from Debian when we can.
if ! command -v shellcheck >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing shellcheck from Debian's packages"
    apt-get update -qq >/dev/null && apt-get install -y -qq shellcheck >/dev/null
  else
    log "warning: shellcheck is not installed (apt-get install shellcheck); its test will be skipped"
  fi
fi

rm -f "$VENV"/.featurespark-setup-*
touch "$STAMP"
log "done"
