"""Classical numerical solvers that generate opkit training data.

Each module is runnable as ``python -m solvers.<name>`` and writes one netCDF
file per run, following opkit's data conventions.
"""
