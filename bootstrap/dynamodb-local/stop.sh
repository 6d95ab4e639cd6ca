#!/usr/bin/env bash
# Stop a DynamoDB Local started by start.sh.
#
#   bash bootstrap/dynamodb-local/stop.sh                   # the one on port 8000
#   bash bootstrap/dynamodb-local/stop.sh --port 8001
#   bash bootstrap/dynamodb-local/stop.sh --pid-file FILE
#
# Only a process whose command line is the loopback launcher is signalled (a stale pid file whose
# number was reused by another process is just removed). TERM first, KILL after 10 s.
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
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "dynamodb-local: unknown option $1" >&2; exit 1 ;;
  esac
done
pid_file="${pid_file:-$HOME_DIR/dynamodb-local-$port.pid}"

if [ ! -f "$pid_file" ]; then
  echo "dynamodb-local: no pid file $pid_file; nothing to stop"
  exit 0
fi
pid="$(cat "$pid_file" 2>/dev/null || true)"
if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
  rm -f "$pid_file"
  echo "dynamodb-local: not running (stale pid file removed)"
  exit 0
fi
if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q LoopbackServerRunner; then
  rm -f "$pid_file"
  echo "dynamodb-local: pid $pid is not DynamoDB Local; stale pid file removed" >&2
  exit 0
fi
kill -TERM "$pid" 2>/dev/null || true
for _ in $(seq 1 50); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid" 2>/dev/null || true
fi
rm -f "$pid_file"
echo "dynamodb-local: stopped (pid $pid)"
