#!/usr/bin/env bash
# EMR bootstrap action: install featurespark (a wheel on S3, built by bootstrap/package.sh) and its
# runtime dependencies (pyyaml, boto3, resolved from the wheel's metadata) into the cluster's Python.
# EMR runs bootstrap actions on every node before the applications start; PySpark and Delta Lake come
# with EMR and are not installed here.
#
#   aws emr create-cluster ... --bootstrap-actions \
#     Name=featurespark,Path=s3://BUCKET/featurespark/bootstrap/emr-bootstrap.sh,Args=[s3://BUCKET/featurespark/dist/featurespark-0.1.0-py3-none-any.whl]
#
# Usage: emr-bootstrap.sh [--python PATH] [--pip PATH] [--force] s3://BUCKET/PREFIX/featurespark-VERSION-py3-none-any.whl
#   --python PATH  interpreter to install into (default: $FEATURESPARK_PYTHON or /usr/bin/python3);
#                  pip runs as `PATH -m pip`
#   --pip PATH     a pip executable to use instead of `<python> -m pip`
#   --force        reinstall even when the same featurespark version is already installed
#
# Idempotent: when the wheel's version is already installed it does nothing (rebuild with a new version,
# or pass --force, to replace a wheel of the same version). Runs pip through sudo unless already root
# (EMR runs bootstrap actions as the hadoop user). Needs the aws CLI (present on EMR) and network access
# to PyPI, or a mirror configured in /etc/pip.conf, for the dependencies. Logs go to stdout/stderr, which
# EMR keeps under /mnt/var/log/bootstrap-actions/ and the cluster's log URI. No credentials are read or
# written: the download uses the nodes' instance profile.
set -euo pipefail

readonly PROG="featurespark-bootstrap"
PYTHON="${FEATURESPARK_PYTHON:-/usr/bin/python3}"
PIP=""
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
  echo "usage: emr-bootstrap.sh [--python PATH] [--pip PATH] [--force] s3://BUCKET/PREFIX/featurespark-VERSION-py3-none-any.whl"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --python)
      [ $# -ge 2 ] || die 2 "--python needs the path of a Python interpreter. $(usage)"
      PYTHON=$2
      shift 2
      ;;
    --pip)
      [ $# -ge 2 ] || die 2 "--pip needs the path of a pip executable. $(usage)"
      PIP=$2
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
  die 2 "missing argument: the S3 URI of the featurespark wheel, e.g." \
    "s3://my-bucket/featurespark/dist/featurespark-0.1.0-py3-none-any.whl (build it with bootstrap/package.sh," \
    "upload it with aws s3 cp). $(usage)"
fi
[ $# -eq 1 ] || die 2 "expected one argument, the S3 URI of the featurespark wheel; got $#: $*. $(usage)"
WHEEL_URI=$1

case "$WHEEL_URI" in
  s3://?*/*.whl) ;;
  *) die 2 "'$WHEEL_URI' is not the S3 URI of a wheel (s3://BUCKET/PREFIX/featurespark-VERSION-py3-none-any.whl)." ;;
esac
WHEEL_FILE=${WHEEL_URI##*/}
case "$WHEEL_FILE" in
  featurespark-?*-*.whl) ;;
  *) die 2 "'$WHEEL_FILE' is not a featurespark wheel file name (featurespark-VERSION-py3-none-any.whl)." ;;
esac
VERSION=${WHEEL_FILE#featurespark-}
VERSION=${VERSION%%-*}

command -v aws >/dev/null 2>&1 || die 1 "the aws CLI is not on PATH; it is needed to download $WHEEL_URI."
command -v "$PYTHON" >/dev/null 2>&1 || die 1 "Python interpreter '$PYTHON' not found; pass --python PATH."
if [ -n "$PIP" ]; then
  PIP_CMD=("$PIP")
else
  PIP_CMD=("$PYTHON" -m pip)
fi
"${PIP_CMD[@]}" --version >/dev/null 2>&1 \
  || die 1 "pip does not run ('${PIP_CMD[*]} --version' failed); install pip for $PYTHON or pass --pip PATH."
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
# Run a command as root: the system Python's site-packages belong to root.
as_root() {
  if [ -n "$SUDO" ]; then
    sudo "$@"
  else
    "$@"
  fi
}

# `pip show` exits 1 when the package is absent: that is an answer here, not a failure.
installed_version() {
  { "${PIP_CMD[@]}" show featurespark 2>/dev/null || true; } | sed -n 's/^Version: *//p'
}

INSTALLED=$(installed_version)
if [ "$INSTALLED" = "$VERSION" ] && [ "$FORCE" -eq 0 ]; then
  log "featurespark $VERSION is already installed for $PYTHON; nothing to do (--force reinstalls)."
  exit 0
fi
log "installing featurespark $VERSION for $PYTHON (installed: ${INSTALLED:-none}) from $WHEEL_URI"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/featurespark-bootstrap.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
log "downloading $WHEEL_URI to $WORK"
aws s3 cp --only-show-errors "$WHEEL_URI" "$WORK/$WHEEL_FILE" \
  || die 1 "could not download $WHEEL_URI: check that it exists (aws s3 ls $WHEEL_URI) and that the cluster's" \
    "EC2 instance profile may s3:GetObject it."
[ -s "$WORK/$WHEEL_FILE" ] || die 1 "the download of $WHEEL_URI is empty or missing."

PIP_ARGS=(install --no-cache-dir --disable-pip-version-check)
if [ "$INSTALLED" = "$VERSION" ]; then
  # Only reached with --force: replace the package itself, its dependencies are already there.
  PIP_ARGS+=(--force-reinstall --no-deps)
fi
log "running: ${SUDO:+$SUDO }${PIP_CMD[*]} ${PIP_ARGS[*]} $WHEEL_FILE (with pyyaml, boto3; pyspark and delta come with EMR)"
as_root "${PIP_CMD[@]}" "${PIP_ARGS[@]}" "$WORK/$WHEEL_FILE" \
  || die 1 "pip could not install $WHEEL_FILE for $PYTHON (see pip's output above; the nodes need PyPI" \
    "or a mirror in /etc/pip.conf for pyyaml and boto3)."

NOW=$(installed_version)
[ "$NOW" = "$VERSION" ] || die 1 "after installing, pip reports featurespark '${NOW:-none}', expected $VERSION."
log "featurespark $VERSION installed for $PYTHON"
