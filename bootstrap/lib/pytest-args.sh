#!/usr/bin/env bash
# Sourced by bootstrap/run-tests.sh and bootstrap/run-compat-tests.sh: the pytest arguments both runs share.
#
# Test files are spread over pytest-xdist workers (`--dist loadfile`: a file's tests stay on one worker, so
# module fixtures are built once; `--no-loadscope-reorder`: files are handed out in collection order, which
# tests/conftest.py starts with the slowest files), each with its own Spark session, metastore folder and local servers on
# free 127.0.0.1 ports. Workers: one per core, at most 4 (each worker's JVM takes about 1.5 GiB). One worker
# per two cores looked right (a worker's local[2] Spark keeps about 1.8 of two cores busy on its own), but
# the whole main run on two cores took 1652 s on one worker against 1453 s on two: the end-to-end tests wait
# on other processes (drivers of their own, Kafka, the stream's batches), and a second worker fills that time.
# FEATURESPARK_TEST_WORKERS=N overrides, and 0 runs everything in the calling process (e.g. for --pdb).
# The slowest tests are listed at the end, to keep the suite's time in view.
pytest_shared_args() {
  local workers="${FEATURESPARK_TEST_WORKERS:-}"
  if [ -z "$workers" ]; then
    workers="$(nproc 2>/dev/null || echo 2)"
    [ "$workers" -le 4 ] || workers=4
  fi
  PYTEST_SHARED_ARGS=(--durations=15)
  if [ "$workers" != "0" ]; then
    PYTEST_SHARED_ARGS+=(-n "$workers" --dist loadfile --no-loadscope-reorder)
  fi
}
