"""Physics objects: PDE residuals that estimators take as parameters (``pde=``)."""

from .burgers_weak import BurgersWeak
from .darcy_weak import DarcyWeak
from .ns_residual import residual_norm

__all__ = ["BurgersWeak", "DarcyWeak", "residual_norm"]
