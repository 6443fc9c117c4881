"""Loaded by the server under test when ``bench.load --time-methods`` puts this directory on its PYTHONPATH
(``bench.method_timing``): the methods named in ``BENCH_TIME_METHODS`` are timed as their modules load."""

from bench.method_timing import install_from_environment

install_from_environment()
