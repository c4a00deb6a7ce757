"""Benchmarks, run from the repository root as modules: ``python -m bench.render``.

Each bench prints its figures and appends them to ``bench/results/<bench>.json`` through
`bench.record.record`; ``python -m bench.results`` turns those files into the tables of
bench/RESULTS.md.
"""
