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

die() { echo "dynamodb-local: $*" >&2; exit 1; }

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
  command -v mvn >/dev/null || die "mvn not found: Maven is needed once to resolve DynamoDB Local into $LIB"
  echo "dynamodb-local: resolving DynamoDB Local with Maven into $LIB" >&2
  mvn -q -B -f "$HERE/pom.xml" dependency:copy-dependencies -DoutputDirectory="$LIB" >&2 \
    || die "Maven could not resolve DynamoDB Local (see the output above)"
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
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
  die "port $port on $host is already in use; pick another with --port"
fi

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
(cd "$HOME_DIR" && exec nohup java -Djava.library.path="$LIB" -cp "$LIB/*:$CLASSES" LoopbackServerRunner "${args[@]}") \
  >"$log_file" 2>&1 </dev/null &
pid=$!
echo "$pid" >"$pid_file"

answers() {
  if command -v curl >/dev/null; then
    # Any HTTP status (DynamoDB Local answers 400 to an unsigned GET) means it is serving.
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$host:$port/" || true)" != "000" ]
  else
    (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
  fi
}

deadline=$((SECONDS + timeout_s))
until answers; do
  if ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$pid_file"
    echo "dynamodb-local: the server exited during start-up; its log ($log_file):" >&2
    tail -n 40 "$log_file" >&2 || true
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    kill "$pid" 2>/dev/null || true
    rm -f "$pid_file"
    echo "dynamodb-local: no answer on http://$host:$port after ${timeout_s}s; its log ($log_file):" >&2
    tail -n 40 "$log_file" >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "dynamodb-local: up at http://$host:$port (pid $pid, pid file $pid_file, log $log_file)"
