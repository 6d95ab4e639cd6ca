# shellcheck shell=bash
# Sourced by the fakes in tests/fake_bin: append this invocation to $FAKE_LOG as one line,
# the program name and its arguments separated by tabs.
record() {
  local name=$1
  shift
  local IFS=$'\t'
  printf '%s\t%s\n' "$name" "$*" >>"${FAKE_LOG:?FAKE_LOG must name the log file of the fakes}"
}

# The fake pip of a virtualenv made by the fake `python3 -m venv`. State: $FAKE_STATE/featurespark.version.
# `install ... featurespark[emr]==VERSION` "installs" VERSION and the `featurespark` command next to the
# virtualenv's python ($1 is that folder).
fake_pip() {
  local bin_dir=$1
  shift
  local state="${FAKE_STATE:?FAKE_STATE must name a folder for the fakes state}/featurespark.version"
  case "${1:-}" in
    --version)
      echo "pip 23.0.1 from /fake/site-packages/pip (python 3.9)"
      ;;
    show)
      if [ "${2:-}" = featurespark ] && [ -f "$state" ]; then
        printf 'Name: featurespark\nVersion: %s\nRequires: boto3, pyyaml\n' "$(cat "$state")"
      else
        echo "WARNING: Package(s) not found: ${2:-}" >&2
        return 1
      fi
      ;;
    install)
      if [ -n "${FAKE_PIP_FAIL:-}" ]; then
        echo "ERROR: Could not find a version that satisfies the requirement pandas==2.3.3" >&2
        return 1
      fi
      local arg requirement=""
      for arg in "$@"; do
        case "$arg" in featurespark*==*) requirement=$arg ;; esac
      done
      [ -n "$requirement" ] || return 0
      printf '%s\n' "${requirement##*==}" >"$state"
      printf '#!/bin/sh\necho featurespark\n' >"$bin_dir/featurespark"
      chmod +x "$bin_dir/featurespark"
      ;;
  esac
}
