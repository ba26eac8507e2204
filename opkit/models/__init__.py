"""opkit's estimators, one model per file."""

from .lsm import LSMOperator
from .mgno import MgNOOperator
from .tfno import TFNORegressor

__all__ = ["LSMOperator", "MgNOOperator", "TFNORegressor"]
