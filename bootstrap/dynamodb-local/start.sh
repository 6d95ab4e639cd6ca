#!/usr/bin/env bash
# Start DynamoDB Local (the AWS DynamoDB emulator) on 127.0.0.1 for featurespark's online store.
#
#   bash bootstrap/dynamodb-local/start.sh                    # in memory on 127.0.0.1:8000
#   bash bootstrap/dynamodb-local/start.sh --port 8001 --db-path .dynamodb-local/data
#   bash bootstrap/dynamodb-local/stop.sh [--port 8001]
#
# Resolves DynamoDB Local with Maven into the git-ignored .dynamodb-local/lib the first time (from
# bootstrap/dynamodb-local/pom.xml), compiles the small loopback launcher (DynamoDB Local itself binds
# every interface), starts the server in the background, writes a pid file and waits until it
# answers HTTP. Point clients at http://127.0.0.1:<port> with any non-empty AWS credentials.
#
# Options:
#   --port N          port (default $DYNAMODB_LOCAL_PORT or 8000)
#   --host ADDR       address to bind (default 127.0.0.1)
#   --in-memory       keep tables in memory (default)
#   --db-path DIR     keep tables in DIR instead
#   --no-shared-db    one database per access key and region (DynamoDB Local's default); by default
#                     all clients share one database whatever their credentials and region
#   --pid-file FILE   default .dynamodb-local/dynamodb-local-<port>.pid
#   --log-file FILE   default .dynamodb-local/dynamodb-local-<port>.log
#   --timeout S       seconds to wait for the server to answer (default 60)
#   --resolve-only    resolve and compile, do not start
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HOME_DIR="${DYNAMODB_LOCAL_HOME:-$ROOT/.dynamodb-local}"
LIB="$HOME_DIR/lib"
CLASSES="$HOME_DIR/classes"

port="${DYNAMODB_LOCAL_PORT:-8000}"
host="127.0.0.1"
db_path=""
shared=1
pid_file=""
log_file=""
timeout_s=60
resolve_only=0

# shellcheck source=bootstrap/lib/server.sh
source "$ROOT/bootstrap/lib/server.sh"
die() { server_die dynamodb-local "$@"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --host) host="${2:?--host needs a value}"; shift 2 ;;
    --in-memory) db_path=""; shift ;;
    --db-path) db_path="${2:?--db-path needs a value}"; shift 2 ;;
    --no-shared-db) shared=0; shift ;;
    --pid-file) pid_file="${2:?--pid-file needs a value}"; shift 2 ;;
    --log-file) log_file="${2:?--log-file needs a value}"; shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
    --resolve-only) resolve_only=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$port" in ''|*[!0-9]*) die "--port must be a number, got '$port'" ;; esac

command -v java >/dev/null || die "java not found: DynamoDB Local 3.x needs Java 17 or newer on PATH"
command -v javac >/dev/null || die "javac not found: a JDK 17+ is needed to compile the loopback launcher"

if ! compgen -G "$LIB/DynamoDBLocal-*.jar" >/dev/null || ! compgen -G "$LIB/libsqlite4java-linux-amd64-*.so" >/dev/null; then
  resolve_with_maven dynamodb-local "$HERE/pom.xml" "$LIB"
fi
if [ ! -f "$CLASSES/LoopbackServerRunner.class" ] || [ "$HERE/LoopbackServerRunner.java" -nt "$CLASSES/LoopbackServerRunner.class" ]; then
  mkdir -p "$CLASSES"
  javac -nowarn -d "$CLASSES" -cp "$LIB/*" "$HERE/LoopbackServerRunner.java" || die "could not compile the loopback launcher"
fi
[ "$resolve_only" = 1 ] && exit 0

mkdir -p "$HOME_DIR"
pid_file="${pid_file:-$HOME_DIR/dynamodb-local-$port.pid}"
log_file="${log_file:-$HOME_DIR/dynamodb-local-$port.log}"

if [ -f "$pid_file" ]; then
  old_pid="$(cat "$pid_file" 2>/dev/null || true)"
  if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
    echo "dynamodb-local: already running (pid $old_pid, pid file $pid_file) at http://$host:$port"
    exit 0
  fi
  rm -f "$pid_file"
fi
refuse_used_port dynamodb-local "$host" "$port"

args=(-host "$host" -port "$port" -disableTelemetry)
if [ -n "$db_path" ]; then
  mkdir -p "$db_path"
  args+=(-dbPath "$(cd "$db_path" && pwd)")
else
  args+=(-inMemory)
fi
[ "$shared" = 1 ] && args+=(-sharedDb)

# The sqlite4java native library sits in $LIB and is found through java.library.path. The server runs
# in $HOME_DIR so that files it drops in its working directory stay in the git-ignored folder.
: >"$log_file"
(cd "$HOME_DIR" && start_in_background "$pid_file" "$log_file" \
  java -Djava.library.path="$LIB" -cp "$LIB/*:$CLASSES" LoopbackServerRunner "${args[@]}")
pid="$(cat "$pid_file")"

answers() {
  if command -v curl >/dev/null; then
    # Any HTTP status (DynamoDB Local answers 400 to an unsigned GET) means it is serving.
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$host:$port/" || true)" != "000" ]
  else
    port_open "$host" "$port"
  fi
}

wait_until_ready dynamodb-local "$pid" "$pid_file" "$log_file" "$timeout_s" "http://$host:$port" answers
echo "dynamodb-local: up at http://$host:$port (pid $pid, pid file $pid_file, log $log_file)"
