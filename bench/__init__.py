"""Benchmarks for caseflow that print ratios against baselines measured in the same run.

Run ``python -m bench.engine`` from the repository root (``--help`` for the options);
``docs/benchmarks.md`` explains the figures and records a run.
"""
