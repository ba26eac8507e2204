"""The contract between a solver module and the shared machinery.

A solver module defines one :class:`SolverSpec`, conventionally named ``SOLVER``,
and ends with ``if __name__ == "__main__": raise SystemExit(run_cli(SOLVER))``.
The spec says what the solver is (name, title, PDE), which parameters it takes
(:class:`Parameter`: name, default, units, help, type), how to check them
(``validate``), how to compute a batch of samples (``generate``) and which
global attributes describe its files (``global_attrs``). Everything else, the
command line, presets, seeding, chunked and resumable writing, parallel runs,
lives in :mod:`solvers._cli` and :mod:`solvers._io` and is the same for every
solver.

``generate(params, indices, rngs)`` receives the resolved parameters (a dict
holding every solver parameter and ``resolution``), the sample indices of the
batch and one ``numpy.random.Generator`` per sample (see
:mod:`solvers._seed`). It returns an ``xarray.Dataset`` whose data variables
carry a leading ``sample`` dimension of ``len(indices)`` (variables without
``sample`` are static, e.g. a forcing field, and are stored once), coordinates
``x`` (``y``, ``time``, ...) with ``units``, and on every variable
``long_name``, ``units`` and ``opkit_role`` (the machinery fills a missing
``opkit_role`` from ``opkit_inputs``/``opkit_outputs``). Fields (variables with
a spatial dimension) are stored float32. It must not depend on the other samples of the
batch: sample ``i`` has to come out bitwise the same in batches of 1 or 16.

Common parameters handled by the machinery and never declared by a solver:
``n_samples``, ``seed``, ``out``, ``preset``, ``workers``, ``scheduler``,
``chunk_size``, ``no_resume``, ``dry_run``. ``resolution`` (stored grid points
per spatial dimension) is common too, but a solver may declare its own
``Parameter("resolution", ...)`` to give it a default and a help text; if it
does not, the machinery adds one with default ``None``.

``backend``, ``threads`` and ``dtype`` are runtime options of every command
line (:mod:`solvers._runtime`): a solver that offers a real choice declares
them as parameters (``solvers/navier_stokes.py``), which makes them part of the
configuration; for the others :attr:`SolverSpec.backends` and
:attr:`SolverSpec.dtypes` say what the solver computes with, and the command
line accepts those values only.
"""

from __future__ import annotations

import difflib
import math
import warnings
from dataclasses import dataclass, field
from typing import Callable

__all__ = [
    "BlowUpError",
    "COMMON_NAMES",
    "ImplausibleParameterWarning",
    "Parameter",
    "RESOLUTION",
    "SolverSpec",
]

#: Names the machinery owns; a solver may not declare them (``resolution`` aside).
COMMON_NAMES = frozenset(
    {"n_samples", "seed", "out", "preset", "workers", "scheduler", "chunk_size", "no_resume", "dry_run", "set"}
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class BlowUpError(FloatingPointError):
    """A sample's solution became non-finite (NaN or inf).

    The message names the sample index, the time reached and the parameters, so
    the failing sample can be rerun on its own.
    """


class ImplausibleParameterWarning(UserWarning):
    """A parameter is far outside the range the solver's presets and tests cover.

    The run goes ahead (the value may be meant), but nothing verifies the
    solver there: a viscosity of 1e30, say, runs and writes fields of 1e-18.
    """


@dataclass(frozen=True)
class Parameter:
    """One physical or numerical parameter of a solver.

    Parameters
    ----------
    name : str
        Python identifier; the command-line flag is ``--name-with-dashes``.
    default : object
        Default value (``None`` allowed where the solver treats it as "unset").
    units : str
        Units as a string; ``"1"`` for dimensionless quantities.
    help : str
        One or two sentences for ``--help`` (units and default are appended).
    type : type, optional
        ``float`` (default), ``int``, ``str`` or ``bool``.
    choices : tuple, optional
        Allowed values, if the parameter is an enumeration.
    plausible : (float, float), optional
        Range the solver's presets and tests cover, with a margin: a numeric
        value outside it is accepted with an :class:`ImplausibleParameterWarning`
        (see :meth:`plausibility`).
    """

    name: str
    default: object
    units: str
    help: str
    type: type = float
    choices: tuple | None = None
    plausible: tuple | None = None

    def __post_init__(self):
        if not self.name.isidentifier():
            raise ValueError(f"parameter name {self.name!r} is not a Python identifier")
        if self.type not in (float, int, str, bool):
            raise ValueError(f"parameter {self.name!r}: type must be float, int, str or bool, got {self.type!r}")
        if self.plausible is not None and not (len(self.plausible) == 2 and self.plausible[0] <= self.plausible[1]):
            raise ValueError(f"parameter {self.name!r}: plausible must be (low, high) with low <= high, got {self.plausible!r}")

    @property
    def flag(self):
        """The command-line flag, ``--name-with-dashes``."""
        return "--" + self.name.replace("_", "-")

    def convert(self, value):
        """Convert ``value`` (possibly a command-line string) to this parameter's type.

        Parameters
        ----------
        value : object
            A value of the right type, or a string to parse.

        Returns
        -------
        object
            The converted value (``None`` stays ``None``).

        Raises
        ------
        ValueError
            If the value cannot be converted, is not finite (floats) or is not
            one of ``choices``; the message names the parameter.
        """
        if value is None:
            return None
        where = f"parameter {self.name!r} ({self.flag})"
        try:
            if self.type is bool:
                if isinstance(value, str):
                    low = value.strip().lower()
                    if low not in _TRUE | _FALSE:
                        raise ValueError
                    out = low in _TRUE
                elif isinstance(value, (bool, int)) and value in (0, 1):
                    out = bool(value)
                else:
                    raise ValueError
            elif self.type is int:
                if isinstance(value, bool):
                    raise ValueError
                if isinstance(value, float):
                    if not value.is_integer():
                        raise ValueError
                    out = int(value)
                else:
                    out = int(str(value).strip()) if isinstance(value, str) else int(value)
                    if not isinstance(value, str) and out != value:
                        raise ValueError
            elif self.type is float:
                if isinstance(value, bool):
                    raise ValueError
                out = float(value)
                if not math.isfinite(out):
                    raise ValueError(f"{where} must be finite, got {value!r}")
            else:
                out = str(value)
        except ValueError as exc:
            if exc.args:
                raise
            raise ValueError(f"{where} expects {self.type.__name__}, got {value!r}") from None
        except TypeError:
            raise ValueError(f"{where} expects {self.type.__name__}, got {value!r}") from None
        if self.choices is not None and out not in self.choices:
            raise ValueError(f"{where} must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        return out

    def plausibility(self, value, solver="this"):
        """Say whether ``value`` lies outside :attr:`plausible`.

        Parameters
        ----------
        value : object
            A converted value.
        solver : str, optional
            Solver name for the message.

        Returns
        -------
        str or None
            A message naming the parameter, its value and the covered range,
            or None when the value is inside it (or not a number, or no range
            is declared).
        """
        if self.plausible is None or value is None or isinstance(value, (bool, str)):
            return None
        low, high = self.plausible
        if low <= value <= high:
            return None
        return (
            f"parameter {self.name!r} ({self.flag}) = {value!r} is far outside the range [{low:g}, {high:g}] that "
            f"the {solver} solver's presets and tests cover; the run goes ahead, but nothing verifies the solver there "
            "(check the value and its units)"
        )


#: The common ``resolution`` parameter, used when a solver does not declare its own.
RESOLUTION = Parameter(
    "resolution", None, "1", "Stored grid points per spatial dimension (solver's choice when unset).", int
)


@dataclass(frozen=True)
class SolverSpec:
    """Everything the machinery needs to know about one solver.

    Parameters
    ----------
    name : str
        Module name under ``solvers`` (``"burgers"``); also the ``solver`` key
        of its presets.
    title : str
        One line for ``--help`` and the ``title`` attribute.
    pde : str
        The equation as text.
    parameters : tuple of Parameter
        Physical and numerical parameters (not the common ones).
    generate : callable
        ``generate(params, indices, rngs) -> xarray.Dataset`` (see module doc).
    global_attrs : callable
        ``global_attrs(params) -> dict`` with ``title``, ``pde``, ``equation``,
        ``domain``, ``bc_<dim>``, ``opkit_inputs``, ``opkit_outputs``,
        ``method`` and whatever else describes the run.
    validate : callable, optional
        ``validate(params) -> None``; raises ``ValueError`` naming the culprit.
    derive : callable, optional
        ``derive(params) -> dict``: values for parameters left unset whose
        choice depends on others (the solve grid from ``resolution``); applied
        by :meth:`resolve` before ``validate``, so files record them.
    backends : tuple of str, optional
        The compute backends of a solver that declares no ``backend``
        parameter (default ``("numpy",)``, numpy and scipy); ``--backend``
        accepts these and ``auto``. A solver with several must declare a
        ``backend`` parameter, so that the choice reaches ``generate``.
    dtypes : tuple of str, optional
        Working precisions of a solver that declares no ``dtype`` parameter
        (default ``("float64",)``); ``--dtype`` accepts only these, and a
        solver with several must declare a ``dtype`` parameter.
    """

    name: str
    title: str
    pde: str
    parameters: tuple = field(default_factory=tuple)
    generate: Callable | None = None
    global_attrs: Callable | None = None
    validate: Callable | None = None
    derive: Callable | None = None
    backends: tuple = ("numpy",)
    dtypes: tuple = ("float64",)

    def __post_init__(self):
        names = [p.name for p in self.parameters]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"solver {self.name!r}: duplicate parameters {sorted(dup)}")
        bad = COMMON_NAMES.intersection(names)
        if bad:
            raise ValueError(f"solver {self.name!r}: parameters {sorted(bad)} are reserved for the machinery")
        for option, values in (("backend", self.backends), ("dtype", self.dtypes)):
            if not values or not all(isinstance(v, str) for v in values):
                raise ValueError(f"solver {self.name!r}: {option}s must be a non-empty tuple of names, got {values!r}")
            if len(values) > 1 and option not in names:
                raise ValueError(
                    f"solver {self.name!r} lists several {option}s {tuple(values)} but declares no {option!r} "
                    "parameter to pass the choice to generate"
                )

    def all_parameters(self):
        """The solver's parameters plus ``resolution`` if it does not declare it.

        Returns
        -------
        tuple of Parameter
        """
        if any(p.name == "resolution" for p in self.parameters):
            return tuple(self.parameters)
        return (RESOLUTION,) + tuple(self.parameters)

    def parameter(self, name):
        """Look a parameter up by name (dashes accepted), with a suggestion on typos.

        Parameters
        ----------
        name : str

        Returns
        -------
        Parameter

        Raises
        ------
        ValueError
            If there is no such parameter.
        """
        key = name.replace("-", "_")
        for p in self.all_parameters():
            if p.name == key:
                return p
        known = [p.name for p in self.all_parameters()]
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(known)}"
        raise ValueError(f"unknown parameter {name!r} for solver {self.name!r}{hint}")

    def defaults(self):
        """Default value of every parameter (``resolution`` included).

        Returns
        -------
        dict
        """
        return {p.name: p.default for p in self.all_parameters()}

    def resolve(self, overrides=None):
        """Defaults updated by ``overrides``, converted, completed by ``derive``, then validated.

        Parameters
        ----------
        overrides : dict, optional
            Parameter values by name (dashes or underscores).

        Returns
        -------
        dict
            Every parameter, in declaration order.

        Raises
        ------
        ValueError
            Unknown name, wrong type, or rejected by the solver's ``validate``.

        Warns
        -----
        ImplausibleParameterWarning
            For each value outside its parameter's ``plausible`` range.
        """
        params = self.defaults()
        for key, value in (overrides or {}).items():
            p = self.parameter(key)
            params[p.name] = p.convert(value)
        if self.derive is not None:
            params.update(self.derive(params))
        if self.validate is not None:
            self.validate(params)
        for p in self.all_parameters():
            message = p.plausibility(params[p.name], self.name)
            if message is not None:
                warnings.warn(message, ImplausibleParameterWarning, stacklevel=2)
        return params
