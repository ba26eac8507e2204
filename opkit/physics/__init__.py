"""Physics objects: PDE residuals that estimators take as parameters (``pde=``)."""

from .darcy_weak import DarcyWeak
from .ns_residual import residual_norm

__all__ = ["DarcyWeak", "residual_norm"]
