"""Modules loaded on first use, so ``python -m solvers.<name> --help`` stays fast.

A solver module binds ``xr = lazy_module("xarray")`` instead of ``import
xarray as xr``: the name works as the module does, but xarray (and pandas
behind it) load only when an attribute is first looked up, i.e. when a run
builds its Dataset, not when the command line is parsed.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["lazy_module"]


def lazy_module(name):
    """The module ``name``, executed on its first attribute access.

    Parameters
    ----------
    name : str
        Absolute module name, e.g. ``"xarray"`` or ``"scipy.fft"``.

    Returns
    -------
    module
        The module itself if it is imported already, else a lazily loading one
        (:class:`importlib.util.LazyLoader`) registered in ``sys.modules``.
    """
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None:
        raise ModuleNotFoundError(f"no module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
