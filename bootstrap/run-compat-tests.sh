#!/usr/bin/env bash
# The compatibility run: the test suite on Python 3.9 + Spark 3.5.6 + Delta Lake 3.3.2 (what EMR 7.12/7.13
# ship), with the EMR dress rehearsal (tests/test_emr_rehearsal.py), in its own virtualenv (.venv-spark35)
# with its own jars (.jars-spark35), both set up by bootstrap/setup-compat.sh.
# The main environment (.venv, .jars; bootstrap/run-tests.sh) is not touched.
# Extra arguments go to pytest (e.g. `bash bootstrap/run-compat-tests.sh -k registry`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash bootstrap/setup-compat.sh
# Sessions built from conf/local.yaml (jobs, the CLI, the notebook) read the jars folder from here;
# the test fixture would find .jars-spark35 by pyspark's version anyway.
export FEATURESPARK_JARS_DIR="$ROOT/.jars-spark35"
# The main run already searches the join logic with the full hypothesis example counts; here the point
# is that everything works on Spark 3.5, so property tests run at most 6 examples (conftest.py).
export FEATURESPARK_HYPOTHESIS_PROFILE="${FEATURESPARK_HYPOTHESIS_PROFILE:-compat}"
echo "[compat-tests] pytest on $(.venv-spark35/bin/python -c 'import pyspark, delta; print("pyspark", pyspark.__version__)')"
source bootstrap/lib/pytest-args.sh
pytest_shared_args
exec .venv-spark35/bin/python -m pytest "${PYTEST_SHARED_ARGS[@]}" "$@"
