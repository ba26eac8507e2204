"""neuraloperator ``.pt`` dictionaries (and torch-cfd's), read without unpickling code.

``torch.load(path, weights_only=True)`` only rebuilds tensors, dicts, lists
and plain numbers; a file that asks for anything else (a class, a function,
``os.system`` in a ``__reduce__``) makes torch stop before calling it, and the
reader turns that into a ``ValueError``. The result must then be a dict of
tensors (or lists of tensors / numbers); anything else is refused too.

Layouts:

- Darcy (``x`` bool, ``y`` float, both (N, H, W)) → ``a`` (0/1 phase, float32),
  ``u``: the same Dataset as :func:`opkit.data.load_darcy_small`.
- Burgers (``x`` (N, X), ``y`` (N, T, X), ``visc``) → ``u0``, ``u``
  (sample, time, x), periodic, attribute ``viscosity``.
- torch-cfd (``vorticity``, ``stream``, ``vort_t``, ``residual`` (B, T, n, n),
  possibly empty, ``random_states`` (B,)) → the non-empty ones, periodic.
- Any other ``x``, ``y`` of one shape (e.g. ``nsforcing_*.pt``) → ``input``,
  ``output`` with 1 to 3 spatial dims.

Zip-format files are memory-mapped (``mmap=True``), so a large file is paged
in as it is used rather than read at once; the arrays are wrapped in dask,
chunked by sample.
"""

from __future__ import annotations

import pickle
import re

import numpy as np

from ..data import DARCY_SYMMETRIES
from ._common import (
    coord,
    file_token,
    finish,
    lazy,
    normalised_time,
    periodic_grid,
    require_kind,
    samples_per_chunk,
    SPATIAL,
    variable,
)

NAME = "neuralop"
DESCRIPTION = "neuraloperator / torch-cfd .pt dicts of tensors (x/y, visc; vorticity/stream/...), read with weights_only=True"
DETECTION = "a torch.save zip archive (holding data.pkl) or a pickle stream (torch's legacy format)"

_CFD_KEYS = ("vorticity", "stream", "vort_t", "residual")


def matches(p):
    return p.kind in ("torch-zip", "pickle")


def load_tensors(path, p=None):
    """``torch.load(path, weights_only=True)``, checked to be a dict of tensors/lists.

    Raises
    ------
    ValueError
        The file asks for objects other than tensors and containers (refused
        before anything is built), is truncated or damaged, or is not a dict
        of tensors and lists.
    """
    import torch

    kind = p.kind if p is not None else None
    try:
        try:
            obj = torch.load(path, weights_only=True, map_location="cpu", mmap=kind == "torch-zip")
        except RuntimeError as err:
            if kind == "torch-zip" and "mmap" in str(err).lower():
                obj = torch.load(path, weights_only=True, map_location="cpu")
            else:
                raise
    except pickle.UnpicklingError as err:
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
        # torch's message is long; its useful part names the refused global.
        found = re.search(r"WeightsUnpickler error: (.*?)(?: was not an allowed|\n|$)", text)
        first = found.group(1) if found else (text.strip().splitlines() or [type(err).__name__])[0]
        raise ValueError(
            f"{NAME}: refused to load {path}: it holds Python objects other than tensors, dicts, lists and numbers, "
            f"which torch.load(weights_only=True) will not build, and opkit never unpickles arbitrary code "
            f"(torch: {first})"
        ) from None
    except (RuntimeError, EOFError, OSError, KeyError, ValueError) as err:
        raise ValueError(
            f"{NAME}: cannot read {path} as a torch file; it is probably truncated or damaged "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
        ) from None
    if not isinstance(obj, dict):
        raise ValueError(f"{NAME}: {path} holds a {type(obj).__name__}, not a dict of tensors; opkit reads dicts of tensors or lists")
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise ValueError(f"{NAME}: {path} has a non-string key {key!r}; opkit reads dicts of named tensors")
        if isinstance(value, torch.Tensor):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (torch.Tensor, int, float, bool)) for v in value):
            try:
                out[key] = torch.stack([torch.as_tensor(v) for v in value]) if value else torch.zeros(0)
            except RuntimeError as err:
                raise ValueError(f"{NAME}: {path}: list {key!r} holds tensors of different shapes ({err})") from None
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = torch.as_tensor(value)
        else:
            raise ValueError(
                f"{NAME}: {path}: entry {key!r} is a {type(value).__name__}; opkit reads dicts of tensors or lists of tensors"
            )
    return out


def _numpy(t):
    # A memory-mapped tensor's .numpy() shares its pages: no copy, no read.
    return t.detach().numpy()


def read(path, p, chunks=None):
    require_kind(NAME, p, ("torch-zip", "pickle"), "a torch.save file")
    tensors = load_tensors(path, p)
    keys = set(tensors)
    token = file_token(path)

    def dask(name, arr, k):
        return lazy(arr, 0, k, token + (name,))

    if "x" in keys and "y" in keys:
        x, y = tensors["x"], tensors["y"]
        if x.dtype == _bool() and tuple(x.shape) == tuple(y.shape) and x.ndim == 3:
            return _darcy(path, _numpy(x), _numpy(y), chunks, dask)
        if x.ndim == 2 and y.ndim == 3 and y.shape[0] == x.shape[0] and y.shape[2] == x.shape[1]:
            return _burgers(path, tensors, chunks, dask)
        if tuple(x.shape) == tuple(y.shape) and 2 <= x.ndim <= 4:
            n = x.shape[0]
            xs, ys = _numpy(x), _numpy(y)
            k = samples_per_chunk(n, xs.itemsize * xs[0].size + ys.itemsize * ys[0].size, chunks)
            dims = ("sample",) + SPATIAL[: x.ndim - 1]
            variables = {
                "input": variable(dims, dask("x", xs, k), "input field (neuraloperator 'x')", source_name="x"),
                "output": variable(dims, dask("y", ys, k), "output field (neuraloperator 'y')", source_name="y"),
            }
            coords = {d: coord(d, periodic_grid(m)) for d, m in zip(dims[1:], x.shape[1:])}
            return finish(
                variables, coords, fmt=NAME, layout="x-y", path=path, inputs=("input",), outputs=("output",),
                attrs=_scalars(tensors, {"x", "y"}),
                notes={"coordinates_note": "the file stores no grid; uniform grid j/n on [0, 1)"},
            )
    if keys & set(_CFD_KEYS):
        return _torch_cfd(path, tensors, chunks, dask)
    shapes = ", ".join(f"{k} {tuple(v.shape)} {str(v.dtype).replace('torch.', '')}" for k, v in sorted(tensors.items()))
    raise ValueError(
        f"{NAME}: {path} holds no known layout (found: {shapes or 'an empty dict'}); expected 'x' and 'y' "
        f"(neuraloperator) or {', '.join(_CFD_KEYS)} (torch-cfd)"
    )


def _bool():
    import torch

    return torch.bool


def _scalars(tensors, used):
    out = {}
    for key, t in tensors.items():
        if key not in used and t.numel() == 1 and t.dtype.is_floating_point:
            out[key] = float(t.reshape(-1)[0])
    return out


def _darcy(path, x, y, chunks, dask):
    # The same Dataset as opkit.data.load_darcy_small: a (0/1 phase) and u,
    # float32, on the grid j/n, zero Dirichlet boundary.
    n, nx, ny = y.shape
    k = samples_per_chunk(n, 8 * nx * ny, chunks)
    bc = {"x": "dirichlet", "y": "dirichlet"}
    variables = {
        "a": variable(("sample", "x", "y"), dask("x", x, k).astype(np.float32), "permeability phase (1 = high, 0 = low)",
                      source_name="x", **DARCY_SYMMETRIES),
        "u": variable(("sample", "x", "y"), dask("y", y, k).astype(np.float32), "pressure (rescaled)",
                      source_name="y", **DARCY_SYMMETRIES),
    }
    coords = {"x": coord("x", periodic_grid(nx)), "y": coord("y", periodic_grid(ny))}
    return finish(
        variables, coords, fmt=NAME, layout="darcy", path=path, bc=bc, inputs=("a",), outputs=("u",),
        attrs={"pde": "-div(a grad u) = 1 on (0,1)^2, u = 0 on the boundary", **DARCY_SYMMETRIES},
        notes={"coordinates_note": "the file stores no grid; j/n on [0, 1), as opkit.data.load_darcy_small and neuraloperator's grid embedding"},
    )


def _burgers(path, tensors, chunks, dask):
    x, y = _numpy(tensors["x"]), _numpy(tensors["y"])
    n, n_t, nx = y.shape
    k = samples_per_chunk(n, x.itemsize * x[0].size + y.itemsize * y[0].size, chunks)
    attrs = {}
    if "visc" in tensors and tensors["visc"].numel() == 1:
        attrs["viscosity"] = float(tensors["visc"].reshape(-1)[0])
    attrs.update(_scalars(tensors, {"x", "y", "visc"}))
    variables = {
        "u0": variable(("sample", "x"), dask("x", x, k), "initial velocity u(x, 0)", source_name="x"),
        "u": variable(("sample", "time", "x"), dask("y", y, k), "velocity u(x, t)", source_name="y"),
    }
    coords = {"x": coord("x", periodic_grid(nx)), "time": coord("time", normalised_time(n_t))}
    return finish(
        variables, coords, fmt=NAME, layout="burgers", path=path, bc={"x": "periodic"},
        inputs=("u0",), outputs=("u",), attrs=attrs,
        notes={
            "coordinates_note": "the file stores no grid; periodic grid j/n on [0, 1)",
            "time_note": "the file stores no times; time levels normalised to [0, 1] (y[:, 0] is the initial condition)",
        },
    )


def _torch_cfd(path, tensors, chunks, dask):
    present = [k for k in _CFD_KEYS if k in tensors and tensors[k].numel() > 0]
    if not present:
        raise ValueError(f"{NAME}: {path}: every torch-cfd field ({', '.join(_CFD_KEYS)}) is empty")
    ref = tensors[present[0]]
    if ref.ndim != 4:
        raise ValueError(f"{NAME}: torch-cfd field {present[0]!r} must be (B, T, n, n), got {tuple(ref.shape)}")
    b, n_t, nx, ny = ref.shape
    arrays = {}
    for key in present:
        if tuple(tensors[key].shape) != tuple(ref.shape):
            raise ValueError(f"{NAME}: torch-cfd field {key!r} {tuple(tensors[key].shape)} differs from {present[0]!r} {tuple(ref.shape)}")
        arrays[key] = _numpy(tensors[key])
    k = samples_per_chunk(b, sum(a.itemsize * a[0].size for a in arrays.values()), chunks)
    long = {"vorticity": "vorticity", "stream": "stream function", "vort_t": "time derivative of vorticity", "residual": "equation residual"}
    variables = {key: variable(("sample", "time", "x", "y"), dask(key, a, k), long[key], source_name=key) for key, a in arrays.items()}
    if "random_states" in tensors and tuple(tensors["random_states"].shape) == (b,):
        variables["random_states"] = variable(("sample",), _numpy(tensors["random_states"]), "random state (seed) of the sample", source_name="random_states")
    coords = {
        "x": coord("x", periodic_grid(nx)),
        "y": coord("y", periodic_grid(ny)),
        "time": coord("time", np.arange(n_t, dtype=np.float64), long_name="snapshot index"),
    }
    return finish(
        variables, coords, fmt=NAME, layout="torch-cfd", path=path, bc={"x": "periodic", "y": "periodic"},
        attrs=_scalars(tensors, set(_CFD_KEYS) | {"random_states"}),
        notes={
            "coordinates_note": "the file stores no grid; periodic grid j/n on [0, 1) (torch-cfd domains are often [0, 2 pi))",
            "time_note": "the file stores no times; snapshot indices are used",
        },
    )
