"""The package's side of bench/compare.py: the no-op job that notes when it began, and a job that holds the pool.

An instance of bench/compare.py includes this package (its directory,
bench/zope, is on the instances' PYTHONPATH); the peers' job, in
bench/peers/common.py, is the same: it appends the time of its first line
to the file named by BENCH_MARKS and returns "done".
"""
