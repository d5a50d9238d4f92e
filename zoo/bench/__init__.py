"""The benchmark harness behind `zoo bench`: correctness first, then side-by-side timing.

Each op family has a module here (zoo/bench/<family>.py) that lists its cases;
runner.py checks and times them, report.py prints and saves the results.
A benchmark is never a test: tests check behaviour, benchmarks measure.
"""
