# shellcheck shell=bash
# Sourced by the fakes in tests/fake_bin: append this invocation to $FAKE_LOG as one line,
# the program name and its arguments separated by tabs.
record() {
  local name=$1
  shift
  local IFS=$'\t'
  printf '%s\t%s\n' "$name" "$*" >>"${FAKE_LOG:?FAKE_LOG must name the log file of the fakes}"
}

# The fake pip, shared by `pip` and `python3 -m pip`. State: $FAKE_STATE/featurespark.version.
fake_pip() {
  local state="${FAKE_STATE:?FAKE_STATE must name a folder for the fakes state}/featurespark.version"
  case "${1:-}" in
    --version)
      echo "pip 24.0 from /fake/site-packages/pip (python 3.9)"
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
        echo "ERROR: Could not find a version that satisfies the requirement pyyaml>=6.0" >&2
        return 1
      fi
      local arg wheel="" version
      for arg in "$@"; do
        case "$arg" in *.whl) wheel=$arg ;; esac
      done
      [ -n "$wheel" ] || return 0
      [ -s "$wheel" ] || { echo "ERROR: $wheel does not exist" >&2; return 1; }
      version=${wheel##*/featurespark-}
      printf '%s\n' "${version%%-*}" >"$state"
      ;;
  esac
}
