#!/usr/bin/env bash
# Package featurespark for a cluster, into dist/ (git-ignored):
#   - dist/featurespark-<version>-py3-none-any.whl  the wheel, built from setup.cfg with `pip wheel --no-deps`;
#     bootstrap/emr-bootstrap.sh installs it (and pyyaml, boto3) on every EMR node;
#   - dist/featurespark-<version>.zip               the `featurespark` package alone, for `--py-files` on
#     clusters without the bootstrap action (pyyaml and boto3 must then already be on the nodes).
# Usage: bash bootstrap/package.sh [--dist DIR]
# Environment: PYTHON (default .venv/bin/python, else python3). pip builds in an isolated environment
# and fetches setuptools from PyPI; set PIP_NO_BUILD_ISOLATION=0 to use the interpreter's own setuptools
# (>= 64) and wheel instead. Sources are copied to a temporary folder first, so stale build/ output and
# __pycache__ folders never reach the artifacts.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="$ROOT/dist"

log() { printf '[package] %s\n' "$*"; }
die() { printf '[package] error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dist)
      [ $# -ge 2 ] || die "--dist needs a folder"
      DIST=$2
      shift 2
      ;;
    -h | --help)
      echo "usage: bash bootstrap/package.sh [--dist DIR]"
      exit 0
      ;;
    *) die "unknown argument '$1' (usage: bash bootstrap/package.sh [--dist DIR])" ;;
  esac
done

if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi
command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found; set PYTHON to a Python 3.9+ interpreter."
mkdir -p "$DIST"
DIST="$(cd "$DIST" && pwd)"

# The version without importing featurespark (its __init__ imports pyspark).
VERSION="$("$PYTHON" - <<'PY'
import ast, pathlib
tree = ast.parse(pathlib.Path("featurespark/__init__.py").read_text(encoding="utf-8"))
print(next(node.value.value for node in tree.body if isinstance(node, ast.Assign)
           and any(getattr(t, "id", None) == "__version__" for t in node.targets)))
PY
)"
[ -n "$VERSION" ] || die "no __version__ in featurespark/__init__.py"
log "featurespark $VERSION -> $DIST"

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

log "wheel: $WHEEL"
log "zip:   $ZIP"
log "next: upload them, the jobs and the bootstrap files (BUCKET is yours; see docs/emr.md):"
log "  aws s3 cp $WHEEL s3://BUCKET/featurespark/dist/"
log "  aws s3 cp $ZIP s3://BUCKET/featurespark/dist/"
log "  aws s3 sync jobs/ s3://BUCKET/featurespark/jobs/ --exclude '*' --include '*.py'"
log "  aws s3 cp bootstrap/emr-bootstrap.sh s3://BUCKET/featurespark/bootstrap/"
