"""Physics objects: PDE residuals that estimators take as parameters (``pde=``), and the periodic RVE.

The names load on first use, so ``from opkit.physics.rve import PeriodicRVE``
(what ``solvers.elasticity_rve`` does) does not pull in torch.
"""

import importlib

_EXPORTS = {
    "BurgersWeak": ".burgers_weak",
    "DarcyWeak": ".darcy_weak",
    "PeriodicRVE": ".rve",
    "circular_fibre_mesh": ".rve",
    "read_equino_csv": ".rve",
    "rectangular_mesh": ".rve",
    "residual_norm": ".ns_residual",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
