# shellcheck shell=bash
# Find a Python 3.9 interpreter, the Python of EMR 7.x nodes (Amazon Linux 2023's /usr/bin/python3).
# Sourced by bootstrap/setup-compat.sh and bootstrap/package.sh; defines find_python39, which prints the
# path of the interpreter, or prints what to do on stderr and returns 1.
#
# Looked for, in order: $PYTHON39 (must be a 3.9), `python3.9` on PATH, the newest 3.9.x installed with
# pyenv (`pyenv prefix 3.9.18`). A candidate counts only if it runs and reports version 3.9: pyenv's
# shim `python3.9` exists even when no 3.9 is selected, and then fails when run.

# is_python39 PATH: true when PATH runs and is Python 3.9 with the venv module.
is_python39() {
  [ -n "${1:-}" ] || return 1
  "$1" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 9) else 1)' >/dev/null 2>&1
}

find_python39() {
  local candidate version
  if [ -n "${PYTHON39:-}" ]; then
    if is_python39 "$PYTHON39"; then
      echo "$PYTHON39"
      return 0
    fi
    echo "PYTHON39=$PYTHON39 is not a working Python 3.9 (with the venv module)." >&2
    return 1
  fi
  candidate="$(command -v python3.9 2>/dev/null || true)"
  if is_python39 "$candidate"; then
    echo "$candidate"
    return 0
  fi
  if command -v pyenv >/dev/null 2>&1; then
    # The newest installed 3.9.x, e.g. 3.9.18.
    version="$(pyenv versions --bare 2>/dev/null | grep -E '^3\.9\.[0-9]+$' | sort -t. -k3,3n | tail -n 1 || true)"
    if [ -n "$version" ]; then
      candidate="$(pyenv prefix "$version" 2>/dev/null || true)/bin/python3.9"
      if is_python39 "$candidate"; then
        echo "$candidate"
        return 0
      fi
    fi
  fi
  cat >&2 <<'EOF'
Python 3.9 was not found. EMR 7.x runs Python 3.9, so the compatibility run and the cluster packages
are built with it. Install it, then rerun:
  - with pyenv:  pyenv install 3.9.18          (found automatically: pyenv prefix 3.9.18)
  - on Debian/Ubuntu: apt-get install python3.9 python3.9-venv (where the release has it)
  - or point at any Python 3.9:  export PYTHON39=/path/to/python3.9
EOF
  return 1
}
