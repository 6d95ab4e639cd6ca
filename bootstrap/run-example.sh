#!/usr/bin/env bash
# The README's main command: set up everything on a fresh machine and run the example end to end
# on the embedded local default: local Spark, Delta on local disk with an embedded Hive metastore
# (in .featurespark/), and a local DynamoDB endpoint (moto's server) on 127.0.0.1 (started here, stopped on exit).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash bootstrap/setup-local.sh

PORT="${FEATURESPARK_DYNAMODB_PORT:-8000}"
export FEATURESPARK_DYNAMODB_ENDPOINT="http://127.0.0.1:$PORT"
# The local endpoint accepts any credentials; real AWS runs use the default credential chain instead.
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-local}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-local}"
bash bootstrap/dynamodb-local/start.sh --port "$PORT"
trap 'bash bootstrap/dynamodb-local/stop.sh --port "$PORT"' EXIT

.venv/bin/python jobs/run_example.py --config conf/local.yaml "$@"
