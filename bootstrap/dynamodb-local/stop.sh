#!/usr/bin/env bash
# Stop the local DynamoDB endpoint (moto's server) started by start.sh.
#
#   bash bootstrap/dynamodb-local/stop.sh                   # the one on port 8000
#   bash bootstrap/dynamodb-local/stop.sh --port 8001
#   bash bootstrap/dynamodb-local/stop.sh --pid-file FILE
#
# Only a process whose command line is moto's server is signalled (a stale pid file whose
# number was reused by another process is just removed). TERM first, KILL after 15 s
# (bootstrap/lib/server.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HOME_DIR="${DYNAMODB_LOCAL_HOME:-$ROOT/.dynamodb-local}"
port="${DYNAMODB_LOCAL_PORT:-8000}"
pid_file=""

while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --pid-file) pid_file="${2:?--pid-file needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "dynamodb: unknown option $1" >&2; exit 1 ;;
  esac
done
pid_file="${pid_file:-$HOME_DIR/dynamodb-$port.pid}"
# shellcheck source=bootstrap/lib/server.sh
source "$ROOT/bootstrap/lib/server.sh"
stop_process dynamodb "$pid_file" moto.server
