"""opkit: learn solution operators of PDEs with a scikit-learn-style API on xarray fields.

Estimators take xarray fields with a ``sample`` dim (or NumPy arrays), follow
scikit-learn's contract (``fit``/``predict``/``score``, ``get_params``, ``clone``,
``GridSearchCV``) and return xarray objects with coordinates and attributes
carried through. :class:`OpKit` fits a whole Dataset written by opkit's solvers.
"""

__version__ = "0.1.0"

from ._validation import FieldSamples, FieldSpec, as_samples
from . import io, metrics, physics
from .base import OperatorEstimator
from .estimator import OpkitEstimator
from .registry import ESTIMATORS
from .kit import OpKit
from .models import DGNOSolver, LSMOperator, MgNOOperator, TFNORegressor
from .persistence import load

__all__ = [
    "__version__",
    "DGNOSolver",
    "ESTIMATORS",
    "FieldSamples",
    "FieldSpec",
    "LSMOperator",
    "MgNOOperator",
    "OpKit",
    "OperatorEstimator",
    "OpkitEstimator",
    "TFNORegressor",
    "as_samples",
    "io",
    "load",
    "metrics",
    "physics",
]
