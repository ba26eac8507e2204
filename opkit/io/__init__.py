"""Open the data sets people already have, in opkit's one xarray convention.

:func:`open_dataset` reads FNO MATLAB files, PDEBench HDF5, Poseidon's PDEgym
netCDF/HDF5, The Well HDF5, neuraloperator ``.pt`` dictionaries and opkit's
own netCDF into an :class:`xarray.Dataset` with dims ``sample``, ``time``,
``x``, ``y``, ``z`` (as present, ``sample`` first), float64 coordinates with
``units``, ``bc_*`` attributes where the source states its boundaries,
``opkit_inputs``/``opkit_outputs`` where its task is known, and a
``source_format`` attribute. :func:`to_netcdf` writes the convention's file
(atomically) and :func:`to_the_well` exports to The Well's schema; both read
back through :func:`open_dataset`.

Laziness: HDF5 and netCDF sources open as dask arrays chunked by sample, and
nothing but small coordinate arrays is read until the data are used. The
HDF5 file stays open while the Dataset needs it; ``ds.close()`` (or a
``with open_dataset(...) as ds:`` block) closes it. MATLAB v5 files (no
random access in that format) are read whole; zip-format ``.pt`` files are
memory-mapped.

Conventions: ``../shared/design/conventions.md``; layouts of the sources:
``../shared/design/solvers.md`` §5.
"""

# The readers (and xarray, h5py, dask behind them) load on first use of a
# public name, so ``solvers`` can use ``opkit.io._format`` without them (PEP 562).
__all__ = ["FORMATS", "open_dataset", "to_netcdf", "to_the_well"]


def __getattr__(name):
    if name in __all__:
        from . import _api

        value = getattr(_api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
