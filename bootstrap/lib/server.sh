#!/usr/bin/env bash
# Shared by the start/stop scripts of the local test servers (sourced, not run): the DynamoDB
# endpoint (bootstrap/dynamodb-local/, moto's server) and the Kafka broker (bootstrap/kafka/). Every function takes the
# server's NAME first and prefixes its messages with it.
#
#   resolve_with_maven NAME POM LIB        resolve a pom's dependencies into LIB (atomically, once)
#   refuse_used_port NAME HOST PORT        fail if something already listens on HOST:PORT
#   start_in_background PID_FILE LOG_FILE CMD...
#                                          run CMD detached, its output in LOG_FILE, its pid in PID_FILE
#   wait_until_ready NAME PID PID_FILE LOG_FILE TIMEOUT_S WHERE CHECK...
#                                          poll CHECK until it succeeds; on death or timeout print the
#                                          log's tail, remove the pid file and fail
#   stop_process NAME PID_FILE PATTERN     TERM (KILL after 15 s) the pid in PID_FILE if its command line
#                                          contains PATTERN; a stale pid file is just removed

server_die() {
  local name="$1"
  shift
  echo "$name: $*" >&2
  exit 1
}

resolve_with_maven() {
  local name="$1" pom="$2" lib="$3"
  command -v mvn >/dev/null || server_die "$name" "mvn not found: Maven is needed once to resolve $name into $lib"
  echo "$name: resolving with Maven into $lib" >&2
  rm -rf "$lib.tmp"
  mvn -q -B -f "$pom" dependency:copy-dependencies -DoutputDirectory="$lib.tmp" >&2 \
    || server_die "$name" "Maven could not resolve $pom (see the output above)"
  rm -rf "$lib" && mv "$lib.tmp" "$lib"
}

port_open() {
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

refuse_used_port() {
  local name="$1" host="$2" port="$3"
  if port_open "$host" "$port"; then
    server_die "$name" "port $port on $host is already in use; pick another with --port"
  fi
}

start_in_background() {
  local pid_file="$1" log_file="$2"
  shift 2
  (exec nohup "$@") >>"$log_file" 2>&1 </dev/null &
  echo "$!" >"$pid_file"
}

wait_until_ready() {
  local name="$1" pid="$2" pid_file="$3" log_file="$4" timeout_s="$5" where="$6"
  shift 6
  local deadline=$((SECONDS + timeout_s))
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pid_file"
      echo "$name: the server exited during start-up; its log ($log_file):" >&2
      tail -n 40 "$log_file" >&2 || true
      exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      kill "$pid" 2>/dev/null || true
      rm -f "$pid_file"
      echo "$name: no answer on $where after ${timeout_s}s; its log ($log_file):" >&2
      tail -n 40 "$log_file" >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

stop_process() {
  local name="$1" pid_file="$2" pattern="$3" pid
  pid="$(cat "$pid_file" 2>/dev/null || true)"
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    rm -f "$pid_file"
    echo "$name: not running (no live process in $pid_file)"
    return 0
  fi
  if [ -r "/proc/$pid/cmdline" ] && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$pattern"; then
    rm -f "$pid_file"
    echo "$name: pid $pid is not $name; stale pid file removed" >&2
    return 0
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 75); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  echo "$name: stopped (pid $pid)"
}
