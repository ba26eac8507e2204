"""opkit: learn solution operators of PDEs with a scikit-learn-style API on xarray fields.

Estimators take xarray fields with a ``sample`` dim (or NumPy arrays), follow
scikit-learn's contract (``fit``/``predict``/``score``, ``get_params``, ``clone``,
``GridSearchCV``) and return xarray objects with coordinates and attributes
carried through. :class:`OpKit` fits a whole Dataset written by opkit's solvers.
"""

import importlib

__version__ = "0.1.0"

# Each public name is imported from its module on first use (PEP 562), so
# ``import opkit`` stays cheap and neither torch's model stack nor dask loads
# until an estimator, the I/O or the metrics are asked for.
_EXPORTS = {
    "DGNOSolver": ".models",
    "ESTIMATORS": ".registry",
    "EquiNO": ".models",
    "FieldSamples": "._validation",
    "FieldSpec": "._validation",
    "LSMOperator": ".models",
    "MgNOOperator": ".models",
    "OpKit": ".kit",
    "OperatorEstimator": ".base",
    "PoseidonRegressor": ".models",
    "OpkitEstimator": ".estimator",
    "PROSE": ".models",
    "SpectralRefiner": ".models",
    "TFNORegressor": ".models",
    "as_samples": "._validation",
    "load": ".persistence",
}
_SUBMODULES = ("io", "metrics", "physics")

__all__ = ["__version__", *sorted(_EXPORTS), *_SUBMODULES]


def __getattr__(name):
    if name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name == "ESTIMATORS":  # the registry, with opkit's own estimators in it
        value = importlib.import_module(".registry", __name__).load_builtin()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
