#!/usr/bin/env bash
# Install PostgreSQL from Debian's packages, for the JdbcSource tests (a server started on 127.0.0.1 by the
# test suite: tests/postgres_local.py). Run by bootstrap/setup-local.sh; idempotent (does nothing when the
# server binaries are already there). Needs root and apt-get (Debian/Ubuntu); elsewhere install PostgreSQL
# yourself and put its bin folder (initdb, pg_ctl, postgres, psql) on PATH or in $FEATURESPARK_PG_BIN.
set -euo pipefail

log() { printf '[postgresql] %s\n' "$*"; }

pg_bin() {
  if [ -n "${FEATURESPARK_PG_BIN:-}" ] && [ -x "$FEATURESPARK_PG_BIN/initdb" ]; then echo "$FEATURESPARK_PG_BIN"; return 0; fi
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return 0; fi
  local found
  found="$(find /usr/lib/postgresql -maxdepth 3 -name initdb -type f 2>/dev/null | sort -V | tail -1)"
  [ -n "$found" ] && dirname "$found"
}

if bin="$(pg_bin)" && [ -n "$bin" ]; then
  log "PostgreSQL server binaries in $bin"
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian's packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  log "PostgreSQL server binaries in $(pg_bin)"
else
  echo "[postgresql] error: PostgreSQL is not installed and apt-get is not usable here; install the postgresql" \
       "package and rerun (the JdbcSource tests need it)." >&2
  exit 1
fi
