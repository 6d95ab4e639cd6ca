#!/usr/bin/env bash
# Shared by the stop.sh scripts of the local servers (sourced, not run).
#
#   stop_process NAME PID_FILE PATTERN
#
# Stops the process whose pid is in PID_FILE, but only if its command line contains PATTERN (a
# stale pid file whose number was reused by another process is just removed): TERM first, KILL
# after 15 s. Removes the pid file and says what it did, prefixed with NAME.

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
