#!/usr/bin/env bash
# Benchmark featurespark against Feast and regenerate BENCHMARKS.md (with plots in benchmarks/results/).
#
#   bash benchmarks/run.sh [--sizes S,M] [--runs 3] [other options of python -m benchmarks.bench]
#   bash benchmarks/run.sh --help
#
# Sets up .venv-bench (benchmarks/setup.sh: featurespark editable + feast[spark,aws]==0.67.0 +
# matplotlib; the jars and .venv come from bootstrap/setup-local.sh), starts an in-memory local
# DynamoDB endpoint (moto's server) on a free 127.0.0.1 port with bootstrap/dynamodb-local/start.sh,
# runs every benchmark in one process and one Spark session, and stops the endpoint on exit.
# Data, registries and outputs go to .featurespark/bench/ (git-ignored). Sizes: XS, S, M, L and
# NAME_skew (e.g. M_skew). Not part of the test suite.
#   bash benchmarks/run.sh aggregations [--sizes S,M] [--runs 3] [other options of python -m benchmarks.agg_bench]
# runs the windowed-aggregation benchmark instead (no DynamoDB, no Feast; data in .featurespark/bench-agg/).
#   bash benchmarks/run.sh online-aggregations [--keys 2000] [--calls 1=300,100=100] [--pushes 10]
#       [--stream-events 20] [--trigger-interval 1]
# runs the online aggregation benchmark (lookups against raw BatchGetItem, push and streaming freshness; no Feast).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

for arg in "$@"; do
  case "$arg" in
    -h|--help)
      sed -n '2,17p' "$0"
      echo
      module=benchmarks.bench
      if [ "${1:-}" = "aggregations" ]; then module=benchmarks.agg_bench; fi
      if [ "${1:-}" = "online-aggregations" ]; then module=benchmarks.online_aggs; fi
      if [ -x .venv-bench/bin/python ]; then .venv-bench/bin/python -m "$module" --help; fi
      exit 0 ;;
  esac
done

bash benchmarks/setup.sh

# The windowed-aggregation benchmark (issue #13) needs neither DynamoDB nor Feast.
if [ "${1:-}" = "aggregations" ]; then
  shift
  export TZ=UTC PYSPARK_PYTHON="$ROOT/.venv-bench/bin/python"
  exec .venv-bench/bin/python -m benchmarks.agg_bench "$@"
fi

WORK="$ROOT/.featurespark/bench"
mkdir -p "$WORK"
PORT="$(.venv-bench/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
PID_FILE="$WORK/dynamodb-local-$PORT.pid"
LOG_FILE="$WORK/dynamodb-local-$PORT.log"
bash bootstrap/dynamodb-local/start.sh --port "$PORT" --pid-file "$PID_FILE" --log-file "$LOG_FILE" --timeout 120
cleanup() { bash bootstrap/dynamodb-local/stop.sh --pid-file "$PID_FILE" >/dev/null 2>&1 || true; }
trap cleanup EXIT

# The local endpoint accepts any credentials of letters and digits; never real ones.
export AWS_ACCESS_KEY_ID=benchLocal AWS_SECRET_ACCESS_KEY=benchLocal AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true TZ=UTC
unset AWS_PROFILE AWS_SESSION_TOKEN
export BENCH_DYNAMODB_ENDPOINT="http://127.0.0.1:$PORT"
export PYSPARK_PYTHON="$ROOT/.venv-bench/bin/python"
module=benchmarks.bench
if [ "${1:-}" = "online-aggregations" ]; then
  module=benchmarks.online_aggs
  shift
fi
.venv-bench/bin/python -m "$module" --endpoint-url "$BENCH_DYNAMODB_ENDPOINT" "$@"
