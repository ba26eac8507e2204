"""Symmetries of an operator, declared by its data and used to augment training.

If rotating or mirroring every input field maps the true output to the same
rotation or mirror image (Darcy flow on a square with an isotropic random
coefficient, for instance), each training pair has transformed twins that are
just as valid. Drawing them at random in every batch gives the network more
distinct samples in the same number of epochs.

Only whoever made the data knows whether such a symmetry holds: it depends on
the equation, the boundary conditions, the law of the random inputs and the
grid. So it is declared in the attribute ``opkit_symmetries`` (a
space-separated list of names, on the Dataset and on each variable), as
``bc_x`` declares boundary conditions. Names:

``flip_<dim>``
    Reversal of the grid dim ``<dim>``. Exact only if the grid points are
    placed symmetrically in the domain (a nodal grid with both end points,
    or a cell-centred one). Subsampling a nodal grid with a stride that drops
    the last point breaks it; when the coordinate records the span of its
    grid in the CF attribute ``actual_range`` (``solvers`` write it), such a
    grid is refused.
``swap_<dim1>_<dim2>``
    Exchange of two grid dims with the same points (a transpose).

Every field is transformed as a scalar field: a velocity or a vorticity
changes sign or components under these maps, so such data should not declare
them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["SYMMETRY_ATTR", "declared_symmetries", "resolve_symmetries", "random_symmetric_copies"]

#: Attribute naming the symmetries of the data (see the module docstring).
SYMMETRY_ATTR = "opkit_symmetries"


def _names(value) -> tuple:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(value.split())
    return tuple(str(v) for v in value)


def declared_symmetries(spec) -> tuple:
    """The symmetry names a field declares in its attributes.

    Parameters
    ----------
    spec : FieldSpec
        From :func:`opkit._validation.extract_fields`.

    Returns
    -------
    tuple of str
        From the Dataset's (or DataArray's) ``opkit_symmetries``; failing
        that, the names every variable of the Dataset declares.
    """
    if SYMMETRY_ATTR in spec.attrs:
        return _names(spec.attrs[SYMMETRY_ATTR])
    per_variable = [_names(spec.var_attrs.get(name, {}).get(SYMMETRY_ATTR)) for name in spec.names]
    if not per_variable:
        return ()
    return tuple(name for name in per_variable[0] if all(name in other for other in per_variable[1:]))


def _check_mirror_grid(name, coord):
    """Refuse a flip whose grid is not symmetric in the coordinate's ``actual_range``.

    A file that records the range its grid spans (CF ``actual_range``) lets a
    subsample that dropped an end point be caught: the attribute survives
    ``isel`` while the points no longer mirror onto each other.
    """
    values, span = coord["values"], coord["attrs"].get("actual_range")
    if values is None or span is None or len(values) < 2:
        return
    values = np.asarray(values, dtype=float)
    centre = 0.5 * (float(np.min(span)) + float(np.max(span)))
    if not np.allclose(values + values[::-1], 2 * centre, rtol=0, atol=1e-6 * (np.ptp(values) or 1.0)):
        raise ValueError(
            f"symmetry {name!r}: the grid points {values[0]:g} ... {values[-1]:g} do not mirror about the "
            f"centre {centre:g} of the coordinate's actual_range {list(span)} (a subsample that dropped an end?); "
            "pass symmetries without it"
        )


def _parse(name: str, spec) -> tuple:
    """``name`` as an operation on the tensor axes of ``(sample, channel, *grid)`` batches."""
    dims = list(spec.grid_dims)
    if name.startswith("flip_") and name[5:] in dims:
        _check_mirror_grid(name, spec.coords[name[5:]])
        return ("flip", 2 + dims.index(name[5:]))
    pairs = [(first, second) for first in dims for second in dims if name == f"swap_{first}_{second}"]
    if pairs and pairs[0][0] != pairs[0][1]:
        first, second = pairs[0]
        if spec.sizes[first] != spec.sizes[second]:
            raise ValueError(
                f"symmetry {name!r} exchanges '{first}' ({spec.sizes[first]} points) and "
                f"'{second}' ({spec.sizes[second]} points); it needs equal sizes"
            )
        values = [spec.coords[d]["values"] for d in (first, second)]
        if None not in values and not np.allclose(values[0], values[1]):
            raise ValueError(f"symmetry {name!r} exchanges '{first}' and '{second}', whose coordinates differ")
        return ("swap", 2 + dims.index(first), 2 + dims.index(second))
    raise ValueError(
        f"unknown symmetry {name!r} for grid dims {tuple(dims)}: use 'flip_<dim>' or "
        f"'swap_<dim1>_<dim2>' with dims among {tuple(dims)}"
    )


def resolve_symmetries(setting, input_spec, output_spec) -> tuple:
    """The symmetries a fit augments with, as names and as tensor operations.

    Parameters
    ----------
    setting : "auto", None, str or sequence of str
        An estimator's ``symmetries``: ``"auto"`` takes those both ``X`` and
        ``y`` declare in ``opkit_symmetries``; ``None`` or an empty sequence
        none; a space-separated string or a sequence names them.
    input_spec, output_spec : FieldSpec
        Of ``X`` and ``y``; ``X`` is on ``y``'s grid by now.

    Returns
    -------
    names : tuple of str
    operations : tuple of tuple
        ``("flip", axis)`` or ``("swap", axis1, axis2)`` per name.

    Raises
    ------
    ValueError
        An unknown name, a dim not on the grid, a swap of unequal dims or a
        flip of a grid that does not mirror onto itself. Under ``"auto"``
        such a declared name is left out with a ``UserWarning`` instead.
    """
    if isinstance(setting, str) and setting == "auto":
        from_x = declared_symmetries(input_spec)
        names, operations = [], []
        for name in (n for n in declared_symmetries(output_spec) if n in from_x):
            try:
                operations.append(_parse(name, output_spec))
            except ValueError as err:
                # Declared by the data but not valid on this grid: train without it.
                warnings.warn(f"{err}; training without it", UserWarning, stacklevel=3)
                continue
            names.append(name)
        return tuple(names), tuple(operations)
    if setting is None or isinstance(setting, str) or isinstance(setting, Sequence):
        names = _names(setting)
    else:
        raise ValueError(f"symmetries must be 'auto', None, a string or a sequence of names; got {setting!r}")
    return names, tuple(_parse(name, output_spec) for name in names)


def _apply(tensor, operation):
    if operation[0] == "flip":
        return tensor.flip(operation[1])
    return tensor.transpose(operation[1], operation[2])


def random_symmetric_copies(X, y, operations, generator, rank=0, world_size=1):
    """Apply each operation to a random half of the samples of a batch, to ``X`` and ``y`` alike.

    Independent coin flips per operation and sample make every element of the
    group the operations generate (for ``flip_x``, ``flip_y`` and
    ``swap_x_y``: the eight symmetries of the square) equally likely.

    Parameters
    ----------
    X, y : torch.Tensor
        Batches ``(sample, channel, *grid)`` on the same grid.
    operations : sequence of tuple
        From :func:`resolve_symmetries`.
    generator : torch.Generator
        The CPU generator of the fit (keeps ``random_state`` runs repeatable).
    rank, world_size : int, default 0, 1
        Under data-parallel training, ``X`` and ``y`` are this process's share
        ``[rank::world_size]`` of a global batch ``world_size`` times larger:
        the coins are drawn for the global batch and sliced the same way, so
        the run matches one process with the global batch.

    Returns
    -------
    X, y : torch.Tensor
    """
    for operation in operations:
        coins = torch.rand(X.shape[0] * world_size, generator=generator)[rank::world_size]
        chosen = (coins < 0.5).to(X.device)
        mask = chosen.view(-1, *([1] * (X.dim() - 1)))
        X = torch.where(mask, _apply(X, operation), X)
        y = torch.where(mask, _apply(y, operation), y)
    return X, y
