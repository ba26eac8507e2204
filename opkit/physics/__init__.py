"""Physics objects: PDE residuals that estimators take as parameters (``pde=``)."""

from .burgers_weak import BurgersWeak
from .darcy_weak import DarcyWeak

__all__ = ["BurgersWeak", "DarcyWeak"]
