#!/usr/bin/env bash
# Stop a Kafka broker started by start.sh.
#
#   bash bootstrap/kafka/stop.sh                 # the one on port 9092
#   bash bootstrap/kafka/stop.sh --port 19092
#   bash bootstrap/kafka/stop.sh --pid-file FILE
#
# Only a process whose command line is the broker (kafka.Kafka) is signalled; a stale pid file is
# just removed. TERM first, KILL after 15 s (bootstrap/lib/server.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HOME_DIR="${KAFKA_LOCAL_HOME:-$ROOT/.kafka}"
port="${KAFKA_LOCAL_PORT:-9092}"
pid_file=""

while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --pid-file) pid_file="${2:?--pid-file needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "kafka: unknown option $1" >&2; exit 1 ;;
  esac
done
pid_file="${pid_file:-$HOME_DIR/kafka-$port.pid}"
# shellcheck source=bootstrap/lib/server.sh
source "$ROOT/bootstrap/lib/server.sh"
stop_process kafka "$pid_file" kafka.Kafka
