#!/usr/bin/env bash
# Set up the compatibility environment: featurespark as it runs on EMR 7.x (Python 3.9, Spark 3.5.6,
# Delta Lake 3.3.2: emr-7.12.0 / emr-7.13.0), next to the main environment (Spark 4.0, set up by
# bootstrap/setup-local.sh), which it leaves untouched:
#   - a virtualenv in .venv-spark35 on Python 3.9 (found by bootstrap/python39.sh: $PYTHON39, python3.9 on
#     PATH, or pyenv's 3.9.x) with featurespark (editable) and its emr extra (the pandas/numpy/pyarrow pins the
#     cluster gets), pyspark 3.5.6, delta-spark 3.3.2 and the test tools of the dev extra,
#   - the JVM jars (Delta Lake 3.3.2 for Scala 2.12, hadoop-aws 3.3.4) resolved by Maven from
#     bootstrap/jars-spark35/pom.xml into .jars-spark35/,
#   - a Kafka broker for the tests (shared with the main environment: .kafka/; resolved here only if
#     setup-local.sh has not done it); the local DynamoDB endpoint is moto's server from the dev extra.
# Sessions pick these jars with FEATURESPARK_JARS_DIR=.jars-spark35 (the test fixture picks them by
# pyspark's version); see docs/config.md. Idempotent: a stamp records the inputs; a virtualenv on another
# Python than 3.9 (from an older set-up) is replaced.
# Needs: Python 3.9 with venv, Java 17, Maven.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv-spark35"
JARS="$ROOT/.jars-spark35"

# Versions of emr-7.12.0 and emr-7.13.0 (Spark 3.5.6, Delta 3.3.2); keep in step with
# bootstrap/jars-spark35/pom.xml. pandas, numpy and pyarrow come pinned from the emr extra of setup.cfg.
PINS=(
  "pyspark==3.5.6"
  "delta-spark==3.3.2"
)

log() { printf '[setup-compat] %s\n' "$*"; }

for tool in java mvn; do
  command -v "$tool" >/dev/null 2>&1 || { echo "[setup-compat] error: '$tool' is not installed; install it and rerun." >&2; exit 1; }
done
# shellcheck source=bootstrap/python39.sh
. "$ROOT/bootstrap/python39.sh"
PYTHON="$(find_python39)" || { echo "[setup-compat] error: see above." >&2; exit 1; }

inputs_hash() {
  cat setup.cfg pyproject.toml bootstrap/jars-spark35/pom.xml bootstrap/kafka/pom.xml \
      bootstrap/setup-compat.sh bootstrap/python39.sh bootstrap/postgresql/install.sh \
    | sha256sum | cut -c1-16
}
STAMP="$VENV/.featurespark-setup-$(inputs_hash)"

if [ -f "$STAMP" ] && [ -d "$JARS" ] && [ -d "$ROOT/.kafka/lib" ]; then
  log "environment up to date ($VENV, $JARS)"
  exit 0
fi

if [ -x "$VENV/bin/python" ] && ! is_python39 "$VENV/bin/python"; then
  log "replacing $VENV: it runs $("$VENV/bin/python" --version 2>&1), the compatibility run needs Python 3.9"
  rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtualenv $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
  "$PYTHON" -m venv "$VENV"
fi
# The dev extra has no Spark pins; the spark extra pins Spark 4.0, so it is replaced by PINS here.
log "installing featurespark[emr,dev] with ${PINS[*]} into $VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[emr,dev]" "${PINS[@]}"

log "resolving JVM jars with Maven into $JARS"
rm -rf "$JARS.tmp"
mvn -q -B -f bootstrap/jars-spark35/pom.xml dependency:copy-dependencies -DoutputDirectory="$JARS.tmp"
rm -rf "$JARS" && mv "$JARS.tmp" "$JARS"
log "jars: $(cd "$JARS" && echo *.jar)"

# The jars must match the Hadoop that this pyspark bundles (hadoop-aws is built against it).
bundled="$(cd "$("$VENV/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')/jars" \
           && echo hadoop-client-api-*.jar)"
want="hadoop-client-api-$(sed -n 's:.*<hadoop.version>\(.*\)</hadoop.version>.*:\1:p' bootstrap/jars-spark35/pom.xml).jar"
if [ "$bundled" != "$want" ]; then
  echo "[setup-compat] error: pyspark bundles $bundled but bootstrap/jars-spark35/pom.xml expects $want;" \
       "update <hadoop.version> there." >&2
  exit 1
fi

if [ ! -d "$ROOT/.kafka/lib" ]; then
  log "resolving a Kafka broker with Maven (streaming tests run one on 127.0.0.1)"
  bash bootstrap/kafka/start.sh --resolve-only
fi
# JdbcSource tests read a PostgreSQL the suite starts on 127.0.0.1 (tests/postgres_local.py); idempotent.
bash bootstrap/postgresql/install.sh

rm -f "$VENV"/.featurespark-setup-*
touch "$STAMP"
log "done"
