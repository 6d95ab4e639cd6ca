#!/usr/bin/env bash
# Package featurespark for EMR 7.x (Python 3.9) into dist/ (git-ignored), and upload it to S3 or print how:
#   - dist/wheelhouse/                 featurespark's wheel and every wheel it needs on the cluster
#                                      (featurespark[emr]: pyyaml, boto3, pandas, pyarrow, numpy and theirs) for
#                                      CPython 3.9 on Amazon Linux 2023 (glibc 2.34), downloaded from PyPI here, so the
#                                      nodes install with `pip --no-index` (bootstrap/emr-bootstrap.sh);
#   - dist/featurespark-<version>.zip  the `featurespark` package alone, for `--py-files` on a cluster
#                                      without the bootstrap action (its dependencies must then be there);
#   - dist/featurespark-venv.tar.gz    with --venv-pack: a packed virtualenv of the same wheels for
#                                      `spark.archives=...#environment` with PYSPARK_PYTHON=./environment/bin/python
#                                      (EMR Serverless, or EMR on EC2 without the bootstrap action);
#   - dist/jars/                       the Kafka connector for Spark 3.5 / Scala 2.12 (the stream-features job
#                                      takes it from S3 with --jars), resolved with Maven from
#                                      bootstrap/jars-spark35/pom.xml.
# Usage: bash bootstrap/package.sh [--dist DIR] [--arch ARCH] [--venv-pack] [--python-prefix PATH]
#                                  [--no-jars] [--upload s3://BUCKET/PREFIX/]
#   --arch ARCH          CPU of the cluster's instances: x86_64 (default; m5, r5...) or aarch64 (Graviton: m6g,
#                        r7g...); wheels for manylinux up to glibc 2.34 (Amazon Linux 2023, EMR 7.x) are taken
#   --venv-pack          also build the packed virtualenv; it needs Python 3.9 here (bootstrap/python39.sh finds
#                        it) and an --arch of this machine
#   --python-prefix PATH where Python 3.9 lives on the cluster, for the packed virtualenv's `python` link
#                        (default /usr: /usr/bin/python3.9 on EMR 7.x and the EMR Serverless 7.x images)
#   --no-jars            skip the Kafka connector
#   --upload URI         copy everything (and jobs/*.py, bootstrap/emr-bootstrap.sh) under URI with the aws CLI;
#                        without it the upload commands are printed
# Needs Python 3.9 (found by bootstrap/python39.sh: $PYTHON39, python3.9 on PATH, pyenv's 3.9.x): pip resolves
# the wheels with it, so dependency markers (botocore's urllib3 < 1.27 on Python < 3.10) are those of the
# cluster's Python. Environment: PYTHON (default .venv/bin/python, else python3) builds the wheel. pip builds in an
# isolated environment and fetches setuptools from PyPI; PIP_NO_BUILD_ISOLATION=0 uses the interpreter's own
# setuptools (>= 64) and wheel instead. Sources are copied to a temporary folder first, so stale build/
# output and __pycache__ folders never reach the artifacts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="$ROOT/dist"
ARCH="x86_64"
VENV_PACK=0
PYTHON_PREFIX="/usr"
JARS=1
UPLOAD=""
# The Kafka connector of jobs/stream_features.py, as listed in bootstrap/jars-spark35/pom.xml.
KAFKA_ARTIFACTS="spark-sql-kafka-0-10_2.12,spark-token-provider-kafka-0-10_2.12,kafka-clients,commons-pool2"

log() { printf '[package] %s\n' "$*"; }
die() { printf '[package] error: %s\n' "$*" >&2; exit 1; }
usage() {
  echo "usage: bash bootstrap/package.sh [--dist DIR] [--arch ARCH] [--venv-pack] [--python-prefix PATH]" \
       "[--no-jars] [--upload s3://BUCKET/PREFIX/]"
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dist | --arch | --python-prefix | --upload)
      [ $# -ge 2 ] || die "$1 needs a value ($(usage))"
      case "$1" in
        --dist) DIST=$2 ;;
        --arch) ARCH=$2 ;;
        --python-prefix) PYTHON_PREFIX=$2 ;;
        --upload) UPLOAD=${2%/} ;;
      esac
      shift 2
      ;;
    --venv-pack) VENV_PACK=1; shift ;;
    --no-jars) JARS=0; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown argument '$1' ($(usage))" ;;
  esac
done
case "$ARCH" in
  x86_64 | aarch64) ;;
  *) die "--arch must be x86_64 or aarch64 (the CPU of the EMR instances); got '$ARCH'" ;;
esac
# Amazon Linux 2023 has glibc 2.34: every manylinux wheel up to manylinux_2_34 runs there.
PLATFORM_ARGS=(--platform "manylinux2014_$ARCH")
for minor in $(seq 17 34); do
  PLATFORM_ARGS+=(--platform "manylinux_2_${minor}_$ARCH")
done
if [ -n "$UPLOAD" ]; then
  case "$UPLOAD" in
    s3://?*) ;;
    *) die "--upload needs an s3:// prefix such as s3://my-bucket/featurespark/; got '$UPLOAD'" ;;
  esac
fi

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found; set PYTHON to a Python 3.9+ interpreter."
# shellcheck source=bootstrap/python39.sh
. "$ROOT/bootstrap/python39.sh"
PY39="$(find_python39)" || die "Python 3.9 is needed to resolve the cluster's wheels (see above)"
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"

# The version without importing featurespark.
VERSION="$("$PYTHON" - <<'PY'
import ast, pathlib
tree = ast.parse(pathlib.Path("featurespark/__init__.py").read_text(encoding="utf-8"))
print(next(node.value.value for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
           and any(getattr(t, "id", None) == "__version__"
                   for t in (node.targets if isinstance(node, ast.Assign) else [node.target]))))
PY
)"
[ -n "$VERSION" ] || die "no __version__ in featurespark/__init__.py"
log "featurespark $VERSION for CPython 3.9 on Linux $ARCH (glibc <= 2.34) -> $DIST"

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/featurespark-package.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT
sources=(setup.cfg pyproject.toml README.md featurespark)
for optional in setup.py MANIFEST.in LICENSE; do
  if [ -e "$optional" ]; then sources+=("$optional"); fi
done
tar --exclude='__pycache__' --exclude='*.pyc' -cf - "${sources[@]}" | tar -xf - -C "$STAGE"

WHEEL="$DIST/featurespark-$VERSION-py3-none-any.whl"
rm -f "$WHEEL"
log "building the wheel (pip wheel --no-deps)"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$DIST" "$STAGE"
[ -f "$WHEEL" ] || die "pip did not produce $WHEEL (is __version__ in featurespark/__init__.py $VERSION?)"

WHEELHOUSE="$DIST/wheelhouse"
rm -rf "$WHEELHOUSE"
mkdir -p "$WHEELHOUSE"
log "downloading the wheels of featurespark[emr]==$VERSION for cp39/$ARCH from PyPI into $WHEELHOUSE"
# --find-links offers this build of featurespark; every other wheel comes from PyPI. Binary wheels only:
# the nodes have no compiler and no internet. pip's list of versions it skipped is cut to its last lines.
if ! "$PY39" -m pip download --quiet --disable-pip-version-check --dest "$WHEELHOUSE" --find-links "$DIST" \
  --only-binary=:all: --implementation cp --python-version 3.9 --abi cp39 "${PLATFORM_ARGS[@]}" \
  "featurespark[emr]==$VERSION" >"$STAGE/pip-download.log" 2>&1; then
  cut -c1-400 "$STAGE/pip-download.log" | tail -n 5 >&2
  die "pip could not download every wheel for Python 3.9 on Linux $ARCH (see above)"
fi
[ -f "$WHEELHOUSE/${WHEEL##*/}" ] || cp "$WHEEL" "$WHEELHOUSE/"
log "$(find "$WHEELHOUSE" -name '*.whl' | wc -l | tr -d ' ') wheels in $WHEELHOUSE"

ZIP="$DIST/featurespark-$VERSION.zip"
log "building the --py-files zip"
"$PYTHON" - "$STAGE" "$ZIP" <<'PY'
import pathlib, sys, zipfile

stage, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files = sorted(p for p in (stage / "featurespark").rglob("*") if p.is_file())
tmp = target.with_suffix(".zip.tmp")
with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
    for path in files:
        # A fixed timestamp makes the zip depend on the sources only.
        info = zipfile.ZipInfo(path.relative_to(stage).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
        info.external_attr = 0o644 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, path.read_bytes())
tmp.replace(target)
print(f"[package] {len(files)} files in {target.name}")
PY

VENV_TAR="$DIST/featurespark-venv.tar.gz"
if [ "$VENV_PACK" -eq 1 ]; then
  machine="$(uname -m)"
  [ "$ARCH" = "$machine" ] || die "--venv-pack builds on this machine ($machine); it cannot pack wheels for $ARCH"
  log "packing a Python 3.9 virtualenv of the wheelhouse into $VENV_TAR (python -> $PYTHON_PREFIX/bin/python3.9)"
  "$PY39" -m venv "$STAGE/venv"
  "$STAGE/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index \
    --find-links "$WHEELHOUSE" "featurespark[emr]==$VERSION"
  rm -f "$VENV_TAR"
  # What venv-pack does, for the one layout needed here: the python links point at the cluster's Python 3.9,
  # pyvenv.cfg names its folder, and scripts find python on PATH; Spark unpacks the archive on every node.
  "$PY39" - "$STAGE/venv" "$VENV_TAR" "$PYTHON_PREFIX" <<'PY'
import pathlib, sys, tarfile, io

venv, target, prefix = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3].rstrip("/")
python = f"{prefix}/bin/python3.9"
tmp = target.with_name(target.name + ".tmp")
with tarfile.open(tmp, "w:gz", compresslevel=4) as archive:
    for path in sorted(venv.rglob("*")):
        name = path.relative_to(venv).as_posix()
        if "__pycache__" in path.parts:
            continue
        info = archive.gettarinfo(str(path), arcname=name)
        if name in ("bin/python", "bin/python3", "bin/python3.9"):
            info.type, info.linkname, info.size = tarfile.SYMTYPE, python, 0
            archive.addfile(info)
        elif name == "pyvenv.cfg":
            text = "".join(f"home = {prefix}/bin\n" if line.startswith("home =") else line
                           for line in path.read_text().splitlines(keepends=True)).encode()
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
        elif path.is_file() and not path.is_symlink() and path.parent.name == "bin" and path.read_bytes()[:2] == b"#!":
            lines = path.read_bytes().split(b"\n", 1)
            text = b"#!/usr/bin/env python3\n" + (lines[1] if len(lines) > 1 else b"")
            info.size = len(text)
            archive.addfile(info, io.BytesIO(text))
        elif path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                archive.addfile(info, handle)
        else:
            archive.addfile(info)
tmp.replace(target)
print(f"[package] {target.name}: {target.stat().st_size // 2**20} MiB")
PY
fi

if [ "$JARS" -eq 1 ]; then
  command -v mvn >/dev/null 2>&1 || die "mvn is needed to resolve the Kafka connector (or pass --no-jars)"
  log "resolving the Kafka connector (Spark 3.5, Scala 2.12) with Maven into $DIST/jars"
  rm -rf "$DIST/jars"
  mvn -q -B -f bootstrap/jars-spark35/pom.xml dependency:copy-dependencies -DoutputDirectory="$DIST/jars" \
    -DincludeArtifactIds="$KAFKA_ARTIFACTS" || die "Maven could not resolve the Kafka connector (see above)"
fi

# The upload, as commands: run here with --upload, printed otherwise.
commands=(
  "aws s3 sync --only-show-errors --delete $WHEELHOUSE/ PREFIX/wheelhouse/"
  "aws s3 cp --only-show-errors $ZIP PREFIX/dist/"
  "aws s3 sync --only-show-errors $ROOT/jobs/ PREFIX/jobs/ --exclude * --include *.py"
  "aws s3 cp --only-show-errors $ROOT/bootstrap/emr-bootstrap.sh PREFIX/bootstrap/"
)
[ "$VENV_PACK" -eq 0 ] || commands+=("aws s3 cp --only-show-errors $VENV_TAR PREFIX/dist/")
[ "$JARS" -eq 0 ] || commands+=("aws s3 sync --only-show-errors --delete $DIST/jars/ PREFIX/jars/")

if [ -n "$UPLOAD" ]; then
  command -v aws >/dev/null 2>&1 || die "--upload needs the aws CLI on PATH"
  for command in "${commands[@]}"; do
    line="${command//PREFIX/$UPLOAD}"
    log "$line"
    # Word splitting is wanted: the commands hold no spaces inside arguments, and `*` must reach aws as is.
    set -f
    # shellcheck disable=SC2086
    $line || die "upload failed: $line"
    set +f
  done
  log "uploaded under $UPLOAD/"
else
  log "next: upload them (PREFIX is yours, e.g. s3://my-bucket/featurespark; see docs/emr.md):"
  for command in "${commands[@]}"; do
    shown="${command/--exclude \*/--exclude \'*\'}"
    log "  ${shown/--include \*.py/--include \'*.py\'}"
  done
fi
log "bootstrap action argument: <PREFIX>/wheelhouse/"
