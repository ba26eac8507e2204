"""The registry of estimator classes by name.

:func:`opkit.load` and :class:`opkit.OpKit` look estimators up here; every
public subclass of :class:`opkit.estimator.OpkitEstimator` registers itself
when its class is created. A module of its own, so that the estimator base
and :mod:`opkit.persistence` both import it without importing each other.
"""

from __future__ import annotations

__all__ = ["ESTIMATORS", "PHYSICS", "register", "get_estimator_class", "load_builtin"]

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


def load_builtin() -> dict:
    """Import opkit's own estimators so that they are registered, and return :data:`ESTIMATORS`.

    ``import opkit`` loads no model (its exports are lazy), so a look-up by
    name, e.g. in :func:`opkit.load` in a fresh interpreter, calls this first.

    Returns
    -------
    dict
        :data:`ESTIMATORS`.
    """
    import importlib

    importlib.import_module("opkit.models")
    importlib.import_module("opkit.physics")  # the physics objects estimators take as parameters
    return ESTIMATORS


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
        load_builtin()
    if name not in ESTIMATORS:
        raise ValueError(f"unknown estimator {name!r}; choose from {sorted(ESTIMATORS)}")
    return ESTIMATORS[name]
