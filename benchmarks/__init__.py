"""Benchmarks of featurespark against Feast (run with ``bash benchmarks/run.sh --help``).

Not part of the library: nothing under ``featurespark/`` imports this package.
"""
