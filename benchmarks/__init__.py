"""Benchmarks of the models and of the workflow (``python benchmarks/bench_models.py --help``,
``python benchmarks/dag_time.py --help``). FLOP formulas: ``benchmarks/flops.py`` and
``docs/performance.md``."""
