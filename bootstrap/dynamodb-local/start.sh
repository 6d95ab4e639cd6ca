#!/usr/bin/env bash
# Start a local DynamoDB endpoint on 127.0.0.1 for featurespark's online store: moto's server
# (https://github.com/getmoto/moto, Apache License 2.0), installed by the `dev` extra.
#
#   bash bootstrap/dynamodb-local/start.sh                    # in memory on 127.0.0.1:8000
#   bash bootstrap/dynamodb-local/start.sh --port 8001
#   bash bootstrap/dynamodb-local/stop.sh [--port 8001]
#
# AWS's own emulator, DynamoDB Local, is distributed under AWS's licence terms, not an open-source
# licence, so the project does not use it; moto implements the DynamoDB API calls featurespark makes
# (tables, TTL settings, batch and conditional writes, BatchGetItem) and checks the same item-size and
# request limits the online store relies on. Tables live in memory and go away with the server.
# Starts the server in the background, writes a pid file and waits until it answers HTTP. Point
# clients at http://127.0.0.1:<port> with any non-empty AWS credentials and one region (tables are
# kept per region, as in AWS).
#
# Options:
#   --port N          port (default $DYNAMODB_LOCAL_PORT or 8000)
#   --host ADDR       address to bind (default 127.0.0.1)
#   --python PY       Python with moto[server] (default $FEATURESPARK_PYTHON, else .venv/bin/python)
#   --pid-file FILE   default .dynamodb-local/dynamodb-<port>.pid
#   --log-file FILE   default .dynamodb-local/dynamodb-<port>.log
#   --timeout S       seconds to wait for the server to answer (default 60)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HOME_DIR="${DYNAMODB_LOCAL_HOME:-$ROOT/.dynamodb-local}"

port="${DYNAMODB_LOCAL_PORT:-8000}"
host="127.0.0.1"
python="${FEATURESPARK_PYTHON:-$ROOT/.venv/bin/python}"
pid_file=""
log_file=""
timeout_s=60

# shellcheck source=bootstrap/lib/server.sh
source "$ROOT/bootstrap/lib/server.sh"
die() { server_die dynamodb "$@"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --host) host="${2:?--host needs a value}"; shift 2 ;;
    --python) python="${2:?--python needs a value}"; shift 2 ;;
    --pid-file) pid_file="${2:?--pid-file needs a value}"; shift 2 ;;
    --log-file) log_file="${2:?--log-file needs a value}"; shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$port" in ''|*[!0-9]*) die "--port must be a number, got '$port'" ;; esac

[ -x "$python" ] || die "no Python at $python: run bash bootstrap/setup-local.sh first, or pass --python"
"$python" -c "import moto.server, flask" 2>/dev/null \
  || die "$python has no moto[server]: install featurespark's dev extra (pip install -e '.[dev]')"

mkdir -p "$HOME_DIR"
pid_file="${pid_file:-$HOME_DIR/dynamodb-$port.pid}"
log_file="${log_file:-$HOME_DIR/dynamodb-$port.log}"

if [ -f "$pid_file" ]; then
  old_pid="$(cat "$pid_file" 2>/dev/null || true)"
  if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
    echo "dynamodb: already running (pid $old_pid, pid file $pid_file) at http://$host:$port"
    exit 0
  fi
  rm -f "$pid_file"
fi
refuse_used_port dynamodb "$host" "$port"

: >"$log_file"
(cd "$HOME_DIR" && start_in_background "$pid_file" "$log_file" "$python" -m moto.server -H "$host" -p "$port")
pid="$(cat "$pid_file")"

answers() {
  if command -v curl >/dev/null; then
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$host:$port/moto-api/" || true)" = "200" ]
  else
    port_open "$host" "$port"
  fi
}

wait_until_ready dynamodb "$pid" "$pid_file" "$log_file" "$timeout_s" "http://$host:$port" answers
echo "dynamodb: up at http://$host:$port (moto server, pid $pid, pid file $pid_file, log $log_file)"
