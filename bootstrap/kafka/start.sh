#!/usr/bin/env bash
# Start a single-node Apache Kafka broker (KRaft mode, no ZooKeeper) on 127.0.0.1, for the
# streaming tests and for trying jobs/stream_features.py locally.
#
#   bash bootstrap/kafka/start.sh                       # broker on 127.0.0.1:9092
#   bash bootstrap/kafka/start.sh --port 19092 --data-dir /tmp/kafka-data
#   bash bootstrap/kafka/stop.sh [--port 19092]
#
# Resolves the broker with Maven into the git-ignored .kafka/lib the first time (from
# bootstrap/kafka/pom.xml), formats a fresh data folder, starts the broker in the background,
# writes a pid file and waits until it accepts connections. Topics are created on first use.
#
# Options:
#   --port N            client port (default $KAFKA_LOCAL_PORT or 9092); the controller uses N+1
#   --controller-port N controller port (default: client port + 1)
#   --data-dir DIR      log folder, wiped and formatted on start (default .kafka/data-<port>)
#   --pid-file FILE     default .kafka/kafka-<port>.pid
#   --log-file FILE     default .kafka/kafka-<port>.log
#   --timeout S         seconds to wait for the broker (default 90)
#   --resolve-only      resolve the jars, do not start
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
HOME_DIR="${KAFKA_LOCAL_HOME:-$ROOT/.kafka}"
LIB="$HOME_DIR/lib"
HOST=127.0.0.1

port="${KAFKA_LOCAL_PORT:-9092}"
controller_port=""
data_dir=""
pid_file=""
log_file=""
timeout_s=90
resolve_only=0

# shellcheck source=bootstrap/lib/server.sh
source "$ROOT/bootstrap/lib/server.sh"
die() { server_die kafka "$@"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?--port needs a value}"; shift 2 ;;
    --controller-port) controller_port="${2:?--controller-port needs a value}"; shift 2 ;;
    --data-dir) data_dir="${2:?--data-dir needs a value}"; shift 2 ;;
    --pid-file) pid_file="${2:?--pid-file needs a value}"; shift 2 ;;
    --log-file) log_file="${2:?--log-file needs a value}"; shift 2 ;;
    --timeout) timeout_s="${2:?--timeout needs a value}"; shift 2 ;;
    --resolve-only) resolve_only=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
done
case "$port" in ''|*[!0-9]*) die "--port must be a number, got '$port'" ;; esac
controller_port="${controller_port:-$((port + 1))}"

command -v java >/dev/null || die "java not found: the Kafka broker needs Java 17 on PATH"
if ! compgen -G "$LIB/kafka_2.13-*.jar" >/dev/null; then
  resolve_with_maven kafka "$HERE/pom.xml" "$LIB"
fi
[ "$resolve_only" = 1 ] && exit 0

mkdir -p "$HOME_DIR"
data_dir="${data_dir:-$HOME_DIR/data-$port}"
pid_file="${pid_file:-$HOME_DIR/kafka-$port.pid}"
log_file="${log_file:-$HOME_DIR/kafka-$port.log}"
for p in "$port" "$controller_port"; do
  refuse_used_port kafka "$HOST" "$p"
done

rm -rf "$data_dir" && mkdir -p "$data_dir"
config="$data_dir/server.properties"
cat >"$config" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$controller_port
listeners=PLAINTEXT://$HOST:$port,CONTROLLER://$HOST:$controller_port
advertised.listeners=PLAINTEXT://$HOST:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data_dir/logs
num.partitions=2
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
PROPERTIES

java_opts=(-Xms128m -Xmx512m "-Dlog4j.configuration=file:$HERE/log4j.properties" -cp "$LIB/*")
cluster_id="$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
java "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$config" >"$log_file" 2>&1 \
  || { tail -n 20 "$log_file" >&2; die "could not format $data_dir"; }

start_in_background "$pid_file" "$log_file" java "${java_opts[@]}" kafka.Kafka "$config"
pid="$(cat "$pid_file")"
broker_ready() { port_open "$HOST" "$port" && grep -q "Kafka Server started" "$log_file"; }

wait_until_ready kafka "$pid" "$pid_file" "$log_file" "$timeout_s" "$HOST:$port" broker_ready
echo "kafka: up at $HOST:$port (pid $pid, pid file $pid_file, log $log_file)"
