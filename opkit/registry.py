"""The registry of estimator classes by name.

:func:`opkit.load` and :class:`opkit.OpKit` look estimators up here; every
public subclass of :class:`opkit.estimator.OpkitEstimator` registers itself
when its class is created. A module of its own, so that the estimator base
and :mod:`opkit.persistence` both import it without importing each other.
"""

from __future__ import annotations

__all__ = ["ESTIMATORS", "PHYSICS", "register", "get_estimator_class"]

#: Estimator classes by class name.
ESTIMATORS: dict = {}
#: Physics-object classes (weak residuals, PDE descriptions) by class name; a
#: saved estimator stores such a parameter as its name and parameters.
PHYSICS: dict = {}


def register(cls):
    """Add ``cls`` to :data:`ESTIMATORS` under its class name and return it.

    Parameters
    ----------
    cls : type

    Returns
    -------
    type
        ``cls``, so that this can serve as a class decorator.
    """
    ESTIMATORS[cls.__name__] = cls
    return cls


def get_estimator_class(name: str):
    """The registered class called ``name``.

    Parameters
    ----------
    name : str

    Returns
    -------
    type

    Raises
    ------
    ValueError
        No estimator of that name is registered.
    """
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose from {sorted(ESTIMATORS)}")
    return ESTIMATORS[name]
