"""The functions :mod:`opkit.io` exports (loaded on first use: see its ``__getattr__``)."""

from __future__ import annotations

import inspect
from pathlib import Path

from . import _fno, _neuralop, _opkit, _pdebench, _pdegym, _the_well
from ._detect import describe, probe

__all__ = ["FORMATS", "open_dataset", "to_netcdf", "to_the_well"]

# Detection order matters: opkit's netCDF before PDEgym's (an opkit file may
# hold a 5-axis 'velocity' too), the specific PDEBench signatures before
# PDEgym's looser ones.
_READERS = (_fno, _the_well, _opkit, _pdebench, _pdegym, _neuralop)
_BY_NAME = {r.NAME: r for r in _READERS}

#: Known format names, each with a one-line description (``format=`` takes the name).
FORMATS = {r.NAME: r.DESCRIPTION for r in _READERS}


def _detect(p):
    for reader in _READERS:
        if reader.matches(p):
            return reader
    tried = "; ".join(f"{r.NAME} ({r.DETECTION})" for r in _READERS)
    raise ValueError(
        f"cannot tell the format of {p.path}: found {describe(p)}. Tried: {tried}. "
        f"If the file is one of these, pass format= (one of {', '.join(FORMATS)})."
    )


def open_dataset(path, format=None, *, chunks=None, **kw):
    """Open a data file of any known format as an opkit-convention Dataset.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    format : str, optional
        One of :data:`FORMATS` (``"fno-mat"``, ``"pdebench"``, ``"pdegym"``,
        ``"the-well"``, ``"neuralop"``, ``"opkit"``). By default the format is
        detected from the file's signature and structure.
    chunks : int, optional
        Samples per dask chunk. By default as many as fit in about 32 MiB
        (for the largest variable), at least one.
    **kw
        Options of one format: ``family=`` and ``swap_xy=`` (pdegym: the
        PDEgym family, normally read from the file name, and the NS-SL axis
        swap), ``channel_names=`` (pdebench, per-sample-group layout).

    Returns
    -------
    xarray.Dataset
        Dims ``sample``, ``time``, ``x``, ``y``, ``z`` as present (plus
        ``component``/``channel`` for vector or unnamed channels); global
        attributes ``source_format``, ``source_layout``, ``source_file``,
        ``bc_*``, ``opkit_inputs``/``opkit_outputs`` where known, and notes
        (``coordinates_note``, ``time_note``) where the reader had to assume.
        Every variable has ``long_name``, ``units``, ``opkit_role`` and,
        when renamed, ``source_name``.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Unknown layout (the message lists what the file holds and which
        formats were tried), a truncated or damaged file, a ``.pt`` file
        holding anything but tensors (refused without running it), or
        missing variables.
    TypeError
        An option that the format does not take.

    Examples
    --------
    >>> import opkit.io
    >>> ds = opkit.io.open_dataset("darcy_test_16.pt")  # doctest: +SKIP
    >>> ds.u.dims, ds.attrs["source_format"]  # doctest: +SKIP
    (('sample', 'x', 'y'), 'neuralop')
    """
    path = Path(path)
    p = probe(path)
    if format is None:
        reader = _detect(p)
    else:
        if format not in _BY_NAME:
            raise ValueError(f"unknown format {format!r}; known formats: {', '.join(FORMATS)}")
        reader = _BY_NAME[format]
    options = [name for name in inspect.signature(reader.read).parameters if name not in ("path", "p", "chunks")]
    unknown = sorted(set(kw) - set(options))
    if unknown:
        raise TypeError(f"format {reader.NAME!r} takes no option {', '.join(unknown)}; its options: {', '.join(options) or 'none'}")
    return reader.read(path, p, chunks=chunks, **kw)


def to_netcdf(ds, path, *, dtype="float32"):
    """Write a Dataset as opkit's netCDF-4 file, atomically.

    The layout is the solvers' (``solvers.md`` §4): engine h5netcdf, floating
    fields (variables with a spatial dim) cast to ``dtype``, zlib level 4 with
    shuffle, HDF5 chunks of one sample, ``Conventions = "CF-1.10"``, every
    variable with an ``opkit_role`` (from ``opkit_inputs``/``opkit_outputs``
    when not set). The file is written under a temporary name in the
    destination folder, fsync'ed and renamed, so ``path`` is either the old
    file or the complete new one. A lazily opened Dataset is written chunk by
    chunk; it may even come from ``path`` itself.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        Fields in opkit's convention.
    path : str or os.PathLike
        Destination; its folder must exist.
    dtype : str or numpy.dtype or None, default="float32"
        Storage type of floating fields; ``None`` keeps theirs.

    Returns
    -------
    path
        ``path`` as given.

    Examples
    --------
    >>> opkit.io.to_netcdf(ds, "darcy.nc")  # doctest: +SKIP
    >>> opkit.io.open_dataset("darcy.nc").attrs["source_format"]  # doctest: +SKIP
    'opkit'
    """
    return _opkit.write(ds, path, dtype=dtype)


def to_the_well(ds, path, *, dataset_name=None):
    """Export a Dataset to The Well's HDF5 schema, atomically.

    Variables with a spatial dim become ``t0_fields`` (scalar fields),
    ``t1_fields`` (a ``component`` dim, one entry per spatial dim) or
    ``t2_fields`` (``component`` and ``component_2``); variables without one
    become ``scalars``. ``sample`` and ``time`` are The Well's trajectory and
    step axes; a static data set gets an empty ``dimensions/time``.
    ``bc_<dim>`` attributes become ``boundary_conditions`` groups (periodic →
    periodic, dirichlet → wall, neumann → open). Fields are stored float32 as
    the schema asks. The Dataset's attributes travel as JSON in the root
    attribute ``opkit_attrs`` and each variable's on its dataset, so
    ``open_dataset`` gives the Dataset back.

    Parameters
    ----------
    ds : xarray.Dataset or xarray.DataArray
        Fields in opkit's convention, with at least one spatial dim.
    path : str or os.PathLike
        Destination ``.hdf5`` file; its folder must exist.
    dataset_name : str, optional
        Root attribute ``dataset_name`` (default: the Dataset's ``title``).

    Returns
    -------
    path
        ``path`` as given.

    Raises
    ------
    ValueError
        A variable has a dim the schema cannot hold (anything but ``sample``,
        ``time``, the spatial dims, ``component``, ``component_2``), a
        component dim of the wrong length, or an unknown ``bc_*`` value.
    """
    return _the_well.write(ds, path, dataset_name=dataset_name)
