#!/usr/bin/env bash
# EMR bootstrap action: install featurespark and its cluster-side dependencies (pandas, pyarrow, numpy,
# pyyaml, boto3) into a virtualenv of their own, from a wheelhouse on S3 only: no PyPI, no internet, so it
# works in private subnets and on nodes added later by scaling (EMR runs bootstrap actions on every node,
# also those that join later). The system Python is never changed (on Amazon Linux 2023, pip cannot
# upgrade packages the OS installed). PySpark and Delta Lake come with EMR and are not installed here.
# bootstrap/package.sh builds the wheelhouse (Python 3.9 wheels, EMR 7.x's Python) and prints the upload.
#
#   aws emr create-cluster ... --bootstrap-actions \
#     Name=featurespark,Path=s3://BUCKET/featurespark/bootstrap/emr-bootstrap.sh,Args=[s3://BUCKET/featurespark/wheelhouse/]
#
# Usage: emr-bootstrap.sh [--venv DIR] [--python PATH] [--bin-dir DIR] [--force] s3://BUCKET/PREFIX/wheelhouse/
#   --venv DIR     the virtualenv to create (default /opt/featurespark/venv; bootstrap/emr-configurations.json
#                  points PYSPARK_PYTHON at DIR/bin/python)
#   --python PATH  the interpreter the virtualenv is made from (default: $FEATURESPARK_PYTHON or
#                  /usr/bin/python3, Python 3.9 on EMR 7.x)
#   --bin-dir DIR  where to link the `featurespark` command (default /usr/local/bin; '' for no link)
#   --force        reinstall even when the same featurespark version is already installed
#
# Idempotent: when the virtualenv already has the wheelhouse's featurespark version it does nothing.
# Runs the installs through sudo unless already root (EMR runs bootstrap actions as the hadoop user). Needs
# the aws CLI (present on EMR). Logs go to stdout/stderr, which EMR keeps under
# /mnt/var/log/bootstrap-actions/ and the cluster's log URI. No credentials are read or written: the
# download uses the nodes' instance profile.
set -euo pipefail

readonly PROG="featurespark-bootstrap"
PYTHON="${FEATURESPARK_PYTHON:-/usr/bin/python3}"
VENV="/opt/featurespark/venv"
BIN_DIR="/usr/local/bin"
FORCE=0

timestamp() { date -u '+%Y-%m-%dT%H:%M:%SZ'; }
log() { printf '%s [%s] %s\n' "$(timestamp)" "$PROG" "$*"; }
# die EXIT_CODE MESSAGE...: report on stderr and stop.
die() {
  local code=$1
  shift
  printf '%s [%s] ERROR: %s\n' "$(timestamp)" "$PROG" "$*" >&2
  exit "$code"
}
usage() {
  echo "usage: emr-bootstrap.sh [--venv DIR] [--python PATH] [--bin-dir DIR] [--force] s3://BUCKET/PREFIX/wheelhouse/"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --venv | --python | --bin-dir)
      [ $# -ge 2 ] || die 2 "$1 needs a value. $(usage)"
      case "$1" in
        --venv) VENV=$2 ;;
        --python) PYTHON=$2 ;;
        --bin-dir) BIN_DIR=$2 ;;
      esac
      shift 2
      ;;
    --force)
      FORCE=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    --)
      shift
      break
      ;;
    -*) die 2 "unknown option '$1'. $(usage)" ;;
    *) break ;;
  esac
done

if [ $# -eq 0 ]; then
  die 2 "missing argument: the S3 folder of the wheelhouse, e.g. s3://my-bucket/featurespark/wheelhouse/" \
    "(build it with bootstrap/package.sh, which prints the upload command). $(usage)"
fi
[ $# -eq 1 ] || die 2 "expected one argument, the S3 folder of the wheelhouse; got $#: $*. $(usage)"
WHEELHOUSE_URI=${1%/}/
case "$WHEELHOUSE_URI" in
  s3://?*/*) ;;
  *) die 2 "'$1' is not an S3 folder (s3://BUCKET/PREFIX/wheelhouse/)." ;;
esac
case "$VENV" in
  /*) ;;
  *) die 2 "--venv must be an absolute path; got '$VENV'." ;;
esac

command -v aws >/dev/null 2>&1 || die 1 "the aws CLI is not on PATH; it is needed to download $WHEELHOUSE_URI."
command -v "$PYTHON" >/dev/null 2>&1 || die 1 "Python interpreter '$PYTHON' not found; pass --python PATH."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
# Run a command as root: the virtualenv lives in a system folder, readable by every user.
as_root() {
  if [ -n "$SUDO" ]; then
    sudo "$@"
  else
    "$@"
  fi
}

# The featurespark version installed in the virtualenv, or nothing. `pip show` exits 1 when the package is
# absent: that is an answer here, not a failure.
installed_version() {
  [ -x "$VENV/bin/python" ] || return 0
  { "$VENV/bin/python" -m pip show featurespark 2>/dev/null || true; } | sed -n 's/^Version: *//p'
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/featurespark-bootstrap.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "downloading the wheelhouse $WHEELHOUSE_URI to $WORK/wheelhouse"
aws s3 sync --only-show-errors "$WHEELHOUSE_URI" "$WORK/wheelhouse" \
  || die 1 "could not download $WHEELHOUSE_URI: check that it exists (aws s3 ls $WHEELHOUSE_URI) and that the" \
    "cluster's EC2 instance profile may s3:ListBucket the bucket and s3:GetObject the objects."
shopt -s nullglob
wheels=("$WORK"/wheelhouse/featurespark-*.whl)
shopt -u nullglob
[ ${#wheels[@]} -eq 1 ] || die 1 "expected one featurespark-<version>-*.whl in $WHEELHOUSE_URI, found ${#wheels[@]}" \
  "(rebuild it with bootstrap/package.sh and sync it with --delete)."
WHEEL_FILE=${wheels[0]##*/}
VERSION=${WHEEL_FILE#featurespark-}
VERSION=${VERSION%%-*}

INSTALLED=$(installed_version)
if [ "$INSTALLED" = "$VERSION" ] && [ "$FORCE" -eq 0 ]; then
  log "featurespark $VERSION is already installed in $VENV; nothing to do (--force reinstalls)."
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  log "creating the virtualenv $VENV with $PYTHON ($("$PYTHON" --version 2>&1))"
  as_root "$PYTHON" -m venv "$VENV" || die 1 "could not create the virtualenv $VENV with '$PYTHON -m venv'."
fi
log "installing featurespark[emr]==$VERSION into $VENV from the wheelhouse only (installed: ${INSTALLED:-none})"
PIP_ARGS=(install --no-index --find-links "$WORK/wheelhouse" --no-cache-dir --disable-pip-version-check)
if [ "$FORCE" -eq 1 ]; then
  PIP_ARGS+=(--force-reinstall)
fi
as_root "$VENV/bin/python" -m pip "${PIP_ARGS[@]}" "featurespark[emr]==$VERSION" \
  || die 1 "pip could not install featurespark[emr]==$VERSION from $WHEELHOUSE_URI (see pip's output above; a" \
    "wheel missing from the wheelhouse means it was built for another Python or platform: rebuild it with" \
    "bootstrap/package.sh --platform for the cluster's instances)."

NOW=$(installed_version)
[ "$NOW" = "$VERSION" ] || die 1 "after installing, pip reports featurespark '${NOW:-none}' in $VENV, expected $VERSION."
if [ -n "$BIN_DIR" ] && [ -x "$VENV/bin/featurespark" ]; then
  as_root ln -sfn "$VENV/bin/featurespark" "$BIN_DIR/featurespark"
  log "linked $BIN_DIR/featurespark -> $VENV/bin/featurespark"
fi
log "featurespark $VERSION installed in $VENV (PYSPARK_PYTHON=$VENV/bin/python)"
