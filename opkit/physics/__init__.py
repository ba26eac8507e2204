"""Physics objects: PDE residuals that estimators take as parameters (``pde=``)."""

from .darcy_weak import DarcyWeak

__all__ = ["DarcyWeak"]
