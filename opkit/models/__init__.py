"""opkit's estimators, one model per file."""

from .tfno import TFNORegressor

__all__ = ["TFNORegressor"]
