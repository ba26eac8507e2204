r"""Chaotic ODE systems with their equations as text: PROSE's data.

Each sample is one trajectory :math:`u(t) \in \mathbb{R}^d` of
:math:`\dot u = f(u; p)` for one of the chaotic families of "PROSE: Predicting
Operators and Symbolic Expressions" (felix-lyx/prose), written out together
with the vector field it solves, constants included, so that a model can learn
both the trajectory and the equation. Run ``python -m solvers.odes --help``.

Families (parameter ``families``; ``all`` is the twelve 3-D ones)
-----------------------------------------------------------------
Thomas, Lorenz, Aizawa, Chen--Lee, Dadras, Rössler, Halvorsen, Fabrikant,
Sprott B, Sprott--Linz F, four-wing and Duffing (with time as the first state,
:math:`\dot u_0 = 1`), plus the optional Lorenz-96 systems in 4 and 5
dimensions (``lorenz_96_4d``, ``lorenz_96_5d``; a run's families must share
one dimension). :data:`FAMILIES` holds each vector field, nominal parameters
and integrator; ``equation`` in a file is the authoritative text.

Sampling
--------
Samples come in groups of ``states_per_equation`` (20) that share one
equation: group ``e`` uses family ``families[e % len(families)]`` and draws
each free parameter :math:`p \sim U[p_0 - s|p_0|, p_0 + s|p_0|]`
(``parameter_spread`` :math:`s = 0.1`), rounded to 3 significant digits, so
the written constants are exactly the ones integrated. Fabrikant's
:math:`z` coefficient is :math:`-2a` with :math:`a \sim 0.98 \pm 10\,\%`,
rounded after the product; Chen--Lee's :math:`b = -10` is fixed. The
equation's draws come from ``SeedSequence(seed, spawn_key=(EQUATION_STREAM, e))``.
Each sample then draws its initial state :math:`u_0 \sim U(-r, r)^d`
(``initial_range`` :math:`r = 2`) from its own generator until one is
accepted, rejecting solver failures and trajectories with
:math:`\max|u| \ge 10^3` (:math:`10^5` for Fabrikant); a sample depends only
on the run seed and its index. PROSE draws a pool of 10 states per needed
state for each equation; the accepted states follow the same law (uniform
conditioned on acceptance), but a per-sample cap of 10 would fail about one
Sprott--Linz F or Fabrikant sample in a thousand (about half of their draws
escape), so ``max_tries`` defaults to 100.

Integration
-----------
``scipy.integrate.solve_ivp`` with each family's integrator (BDF, LSODA or
RK45, as PROSE), ``rtol = 1e-5``, ``atol = 1e-6``, on :math:`t \in [0, 6]`
at 192 equally spaced times (the first 64 observed, the last 128 predicted:
``n_input_times``). ``accurate = true`` uses DOP853 at ``rtol = 1e-10``,
``atol = 1e-12`` for every family: Lorenz errors grow like :math:`e^{5.4}`
over :math:`t = 6`, so the default tolerances leave about 1e-3 late on.

Output
------
``state(sample, time, component)`` (float32), ``family(sample)``,
``equation(sample)``: the vector field as infix text with variables
``u_0 ... u_{d-1}``, components separated by ``" | "``, parseable by
``sympy.sympify`` (e.g. ``10.1*(u_1 - u_0) | u_0*(28.3 - u_2) - u_1 |
u_0*u_1 - 2.67*u_2``), ``equation_prefix(sample)``: the same tree in prefix
tokens (PROSE's vocabulary: ``add sub mul div neg sin cos pow2 pow``, integers,
variables, ``|``, floats as sign, 3-digit mantissa and exponent, e.g.
``mul + N101 E-1 sub u_1 u_0``), ``parameters(sample, parameter)`` with the
names in ``parameter_names(sample)`` (unused slots 0), ``equation_index`` and
``n_tries`` (initial states drawn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import xarray as xr

from opkit.io._equations import parse_equation

from ._cli import run_cli
from ._seed import run_seed
from ._spec import BlowUpError, Parameter, SolverSpec

__all__ = [
    "EQUATION_STREAM",
    "FAMILIES",
    "THREE_D",
    "Family",
    "draw_parameters",
    "equation_rng",
    "generate",
    "global_attrs",
    "infix",
    "integrate",
    "prefix",
    "parse_equation",
    "resolve_families",
    "round_sig",
    "sample_trajectory",
    "time_levels",
    "validate",
]

PDE = "du/dt = f(u; p), u in R^d, f from one of PROSE's chaotic families (text per sample in 'equation')"
#: First spawn-key word of the per-equation generators (sample generators use one word).
EQUATION_STREAM = 0x0DE5
#: Tolerances and integrator of the ``accurate`` mode.
ACCURATE = {"method": "DOP853", "rtol": 1e-10, "atol": 1e-12}


# ----------------------------------------------------------------------------- expression trees
#
# A vector field is a list of trees, one per component. A tree is a variable
# name ("u_0"), an int (exact integer constant), a float (a constant already
# rounded to 3 significant digits) or a tuple (operator, *children) with
# operator in add sub mul div neg sin cos pow2 pow (pow's second child is an int).

_BINARY = {"add", "sub", "mul", "div"}
_UNARY = {"neg", "sin", "cos", "pow2"}


def round_sig(value, digits=3):
    """``value`` rounded to ``digits`` significant decimal digits.

    Parameters
    ----------
    value : float
    digits : int, optional

    Returns
    -------
    float
    """
    return float(f"{float(value):.{digits - 1}e}")


def _const_text(v):
    if isinstance(v, int):
        return str(v)
    text = repr(float(v))
    return text[:-2] if text.endswith(".0") and "e" not in text else text


def _infix(tree):
    """(text, precedence): 1 sum, 2 product/negation, 3 power, 4 atom."""
    if isinstance(tree, str):
        return tree, 4
    if isinstance(tree, (int, float)):
        text = _const_text(tree)
        return text, 2 if text.startswith("-") else 4
    op, *args = tree
    if op in ("add", "sub"):
        a, _ = _infix(args[0])
        b, pb = _infix(args[1])
        if b.startswith("-"):
            # a + (-x) is written a - x (and a - (-x) as a + x): "-x" parses as -(x).
            return f"{a} {'-' if op == 'add' else '+'} {b[1:]}", 1
        if op == "sub" and pb <= 1:
            b = f"({b})"
        return f"{a} {'+' if op == 'add' else '-'} {b}", 1
    if op in ("mul", "div"):
        a, pa = _infix(args[0])
        b, pb = _infix(args[1])
        if pa < 2:
            a = f"({a})"
        if pb < 2 or b.startswith("-") or (op == "div" and pb < 3):
            b = f"({b})"
        return f"{a}{'*' if op == 'mul' else '/'}{b}", 2
    if op == "neg":
        a, pa = _infix(args[0])
        return (f"-({a})" if pa < 2 or a.startswith("-") else f"-{a}"), 2
    if op in ("sin", "cos"):
        return f"{op}({_infix(args[0])[0]})", 4
    if op in ("pow2", "pow"):
        a, pa = _infix(args[0])
        if pa < 4 or a.startswith("-"):
            a = f"({a})"
        return f"{a}**{2 if op == 'pow2' else int(args[1])}", 3
    raise ValueError(f"unknown operator {op!r} in an expression tree")


def infix(field):
    """Infix text of a vector field, components separated by ``" | "``.

    Parameters
    ----------
    field : list of tree
        One expression tree per component.

    Returns
    -------
    str
        Parseable component by component by ``sympy.sympify``.

    Examples
    --------
    >>> infix([("mul", 10.1, ("sub", "u_1", "u_0"))])
    '10.1*(u_1 - u_0)'
    """
    return " | ".join(_infix(t)[0] for t in field)


def _float_tokens(v):
    """Sign, 3-digit mantissa and exponent: 10.1 -> + N101 E-1."""
    sign = "-" if v < 0 else "+"
    a = abs(float(v))
    if a == 0:
        return [sign, "N000", "E0"]
    exponent = math.floor(math.log10(a)) - 2
    mantissa = round(a / 10.0**exponent)
    if mantissa >= 1000:  # 999.5 rounds up a decade
        mantissa, exponent = mantissa // 10, exponent + 1
    if mantissa * 10.0**exponent != a and round_sig(mantissa * 10.0**exponent) != a:
        raise ValueError(f"constant {v!r} has more than 3 significant digits; round it first")
    return [sign, f"N{mantissa:03d}", f"E{exponent}"]


def _prefix(tree, out):
    if isinstance(tree, str):
        out.append(tree)
    elif isinstance(tree, bool):
        raise ValueError("a boolean is not a constant")
    elif isinstance(tree, int):
        out.append(str(tree))
    elif isinstance(tree, float):
        out.extend(_float_tokens(tree))
    else:
        op, *args = tree
        if op == "pow":
            out.append("pow")
            _prefix(args[0], out)
            out.append(str(int(args[1])))
            return out
        if op not in _BINARY | _UNARY:
            raise ValueError(f"unknown operator {op!r} in an expression tree")
        out.append(op)
        for a in args:
            _prefix(a, out)
    return out


def prefix(field):
    """Prefix tokens of a vector field, components separated by ``|``.

    Parameters
    ----------
    field : list of tree

    Returns
    -------
    str
        Space-separated tokens.

    Examples
    --------
    >>> prefix([("mul", 10.1, ("sub", "u_1", "u_0"))])
    'mul + N101 E-1 sub u_1 u_0'
    """
    words = []
    for k, tree in enumerate(field):
        if k:
            words.append("|")
        _prefix(tree, words)
    return " ".join(words)


# ----------------------------------------------------------------------------- families


@dataclass(frozen=True)
class Family:
    """One family of vector fields.

    Attributes
    ----------
    name : str
    title : str
    dim : int
        State dimension d.
    parameters : tuple of (str, float)
        Names and nominal values, in drawing order.
    fixed : tuple of str
        Parameters kept at their nominal value.
    method : str
        ``solve_ivp`` method (PROSE's choice).
    bound : float
        Trajectories with ``max|u| >= bound`` are rejected.
    tree : callable
        ``tree(p) -> list of trees``: the written vector field.
    rhs : callable
        ``rhs(p) -> f(t, u)``, vectorised over trailing axes of ``u``.
    scale : tuple of (str, float)
        Factor applied to a drawn value before rounding (Fabrikant's -2a).
    """

    name: str
    title: str
    dim: int
    parameters: tuple
    method: str
    tree: Callable
    rhs: Callable
    fixed: tuple = ()
    bound: float = 1e3
    scale: tuple = ()

    @property
    def parameter_names(self):
        """Names of the parameters, in order."""
        return tuple(n for n, _ in self.parameters)


def _u(i):
    return f"u_{i}"


def _thomas_tree(p):
    b = p["b"]
    return [("sub", ("sin", _u((k + 1) % 3)), ("mul", b, _u(k))) for k in range(3)]


def _thomas_rhs(p):
    b = p["b"]
    return lambda t, u: np.array([np.sin(u[1]) - b * u[0], np.sin(u[2]) - b * u[1], np.sin(u[0]) - b * u[2]])


def _lorenz_tree(p):
    return [
        ("mul", p["sigma"], ("sub", "u_1", "u_0")),
        ("sub", ("mul", "u_0", ("sub", p["rho"], "u_2")), "u_1"),
        ("sub", ("mul", "u_0", "u_1"), ("mul", p["beta"], "u_2")),
    ]


def _lorenz_rhs(p):
    s, r, b = p["sigma"], p["rho"], p["beta"]
    return lambda t, u: np.array([s * (u[1] - u[0]), u[0] * (r - u[2]) - u[1], u[0] * u[1] - b * u[2]])


def _aizawa_tree(p):
    zb = ("sub", "u_2", p["b"])
    return [
        ("sub", ("mul", zb, "u_0"), ("mul", p["d"], "u_1")),
        ("add", ("mul", p["d"], "u_0"), ("mul", zb, "u_1")),
        ("add", ("sub", ("sub", ("add", p["c"], ("mul", p["a"], "u_2")), ("div", ("pow", "u_2", 3), 3)),
                        ("pow2", "u_0")),
         ("mul", ("mul", p["f"], "u_2"), ("pow", "u_0", 3))),
    ]


def _aizawa_rhs(p):
    a, b, c, d, f = (p[k] for k in "abcdf")
    return lambda t, u: np.array([
        (u[2] - b) * u[0] - d * u[1],
        d * u[0] + (u[2] - b) * u[1],
        c + a * u[2] - u[2] ** 3 / 3 - u[0] ** 2 + f * u[2] * u[0] ** 3,
    ])


def _chen_lee_tree(p):
    return [
        ("sub", ("mul", p["a"], "u_0"), ("mul", "u_1", "u_2")),
        ("add", ("mul", p["b"], "u_1"), ("mul", "u_0", "u_2")),
        ("add", ("mul", p["d"], "u_2"), ("div", ("mul", "u_0", "u_1"), 3)),
    ]


def _chen_lee_rhs(p):
    a, b, d = p["a"], p["b"], p["d"]
    return lambda t, u: np.array([a * u[0] - u[1] * u[2], b * u[1] + u[0] * u[2], d * u[2] + u[0] * u[1] / 3])


def _dadras_tree(p):
    return [
        ("add", ("sub", ("div", "u_1", 2), ("mul", p["a"], "u_0")), ("mul", ("mul", p["b"], "u_1"), "u_2")),
        ("add", ("sub", ("mul", p["c"], "u_1"), ("div", ("mul", "u_0", "u_2"), 2)), ("div", "u_2", 2)),
        ("sub", ("mul", ("mul", p["d"], "u_0"), "u_1"), ("mul", p["e"], "u_2")),
    ]


def _dadras_rhs(p):
    a, b, c, d, e = (p[k] for k in "abcde")
    return lambda t, u: np.array([
        u[1] / 2 - a * u[0] + b * u[1] * u[2],
        c * u[1] - u[0] * u[2] / 2 + u[2] / 2,
        d * u[0] * u[1] - e * u[2],
    ])


def _rossler_tree(p):
    return [
        ("sub", ("neg", "u_1"), "u_2"),
        ("add", "u_0", ("mul", p["a"], "u_1")),
        ("add", p["b"], ("mul", "u_2", ("sub", "u_0", p["c"]))),
    ]


def _rossler_rhs(p):
    a, b, c = p["a"], p["b"], p["c"]
    return lambda t, u: np.array([-u[1] - u[2], u[0] + a * u[1], b + u[2] * (u[0] - c)])


def _halvorsen_tree(p):
    a = p["a"]
    out = []
    for k in range(3):
        x, y, z = _u(k), _u((k + 1) % 3), _u((k + 2) % 3)
        out.append(("sub", ("sub", ("sub", ("mul", a, x), y), z), ("div", ("pow2", y), 4)))
    return out


def _halvorsen_rhs(p):
    a = p["a"]

    def f(t, u):
        x, y, z = u[0], u[1], u[2]
        return np.array([a * x - y - z - y**2 / 4, a * y - z - x - z**2 / 4, a * z - x - y - x**2 / 4])

    return f


def _fabrikant_tree(p):
    g = p["gamma"]
    return [
        ("add", ("mul", "u_1", ("add", ("sub", "u_2", 1), ("pow2", "u_0"))), ("mul", g, "u_0")),
        ("add", ("mul", "u_0", ("sub", ("add", ("mul", 3, "u_2"), 1), ("pow2", "u_0"))), ("mul", g, "u_1")),
        ("sub", ("mul", p["alpha"], "u_2"), ("mul", ("mul", ("mul", 2, "u_0"), "u_1"), "u_2")),
    ]


def _fabrikant_rhs(p):
    al, g = p["alpha"], p["gamma"]
    return lambda t, u: np.array([
        u[1] * (u[2] - 1 + u[0] ** 2) + g * u[0],
        u[0] * (3 * u[2] + 1 - u[0] ** 2) + g * u[1],
        al * u[2] - 2 * u[0] * u[1] * u[2],
    ])


def _sprott_b_tree(p):
    return [
        ("mul", ("mul", p["a"], "u_1"), "u_2"),
        ("sub", "u_0", ("mul", p["b"], "u_1")),
        ("sub", p["c"], ("mul", "u_0", "u_1")),
    ]


def _sprott_b_rhs(p):
    a, b, c = p["a"], p["b"], p["c"]
    return lambda t, u: np.array([a * u[1] * u[2], u[0] - b * u[1], c - u[0] * u[1]])


def _sprott_linz_f_tree(p):
    return [("add", "u_1", "u_2"), ("add", ("neg", "u_0"), ("mul", p["a"], "u_1")), ("sub", ("pow2", "u_0"), "u_2")]


def _sprott_linz_f_rhs(p):
    a = p["a"]
    return lambda t, u: np.array([u[1] + u[2], -u[0] + a * u[1], u[0] ** 2 - u[2]])


def _four_wing_tree(p):
    return [
        ("add", ("mul", p["a"], "u_0"), ("mul", "u_1", "u_2")),
        ("sub", ("add", ("mul", p["b"], "u_0"), ("mul", p["c"], "u_1")), ("mul", "u_0", "u_2")),
        ("sub", ("neg", "u_2"), ("mul", "u_0", "u_1")),
    ]


def _four_wing_rhs(p):
    a, b, c = p["a"], p["b"], p["c"]
    return lambda t, u: np.array([a * u[0] + u[1] * u[2], b * u[0] + c * u[1] - u[0] * u[2], -u[2] - u[0] * u[1]])


def _duffing_tree(p):
    return [
        1,
        "u_2",
        ("add", ("add", ("add", ("mul", p["delta"], "u_2"), ("mul", p["alpha"], "u_1")),
                        ("mul", p["beta"], ("pow", "u_1", 3))),
         ("mul", p["gamma"], ("cos", ("mul", p["omega"], "u_0")))),
    ]


def _duffing_rhs(p):
    al, be, ga, de, om = (p[k] for k in ("alpha", "beta", "gamma", "delta", "omega"))
    return lambda t, u: np.array([
        np.ones_like(u[0]),
        u[2],
        de * u[2] + al * u[1] + be * u[1] ** 3 + ga * np.cos(om * u[0]),
    ])


def _lorenz96_tree(dim):
    def tree(p):
        # du_i/dt = (u_{i+1} - u_{i-2}) u_{i-1} - u_i + F, indices mod d.
        return [
            ("add", ("sub", ("mul", ("sub", _u((i + 1) % dim), _u((i - 2) % dim)), _u((i - 1) % dim)), _u(i)), p["F"])
            for i in range(dim)
        ]

    return tree


def _lorenz96_rhs(dim):
    def rhs(p):
        F = p["F"]
        ip, im2, im1 = [(np.arange(dim) + s) % dim for s in (1, -2, -1)]
        return lambda t, u: (u[ip] - u[im2]) * u[im1] - u + F

    return rhs


_ALL = [
    Family("thomas", "Thomas", 3, (("b", 0.17),), "BDF", _thomas_tree, _thomas_rhs),
    Family("lorenz", "Lorenz", 3, (("sigma", 10.0), ("rho", 28.0), ("beta", 8.0 / 3.0)), "BDF", _lorenz_tree,
           _lorenz_rhs),
    Family("aizawa", "Aizawa", 3, (("a", 0.95), ("b", 0.7), ("c", 0.6), ("d", 3.5), ("f", 0.1)), "BDF",
           _aizawa_tree, _aizawa_rhs),
    Family("chen_lee", "Chen-Lee", 3, (("a", 5.0), ("b", -10.0), ("d", -0.38)), "LSODA", _chen_lee_tree,
           _chen_lee_rhs, fixed=("b",)),
    Family("dadras", "Dadras", 3, (("a", 1.25), ("b", 1.15), ("c", 0.75), ("d", 0.8), ("e", 4.0)), "LSODA",
           _dadras_tree, _dadras_rhs),
    Family("rossler", "Rossler", 3, (("a", 0.1), ("b", 0.1), ("c", 14.0)), "LSODA", _rossler_tree, _rossler_rhs),
    Family("halvorsen", "Halvorsen", 3, (("a", -0.35),), "RK45", _halvorsen_tree, _halvorsen_rhs),
    Family("fabrikant", "Rabinovich-Fabrikant", 3, (("alpha", 0.98), ("gamma", 0.1)), "BDF", _fabrikant_tree,
           _fabrikant_rhs, bound=1e5, scale=(("alpha", -2.0),)),
    Family("sprott_b", "Sprott B", 3, (("a", 0.4), ("b", 1.2), ("c", 1.0)), "BDF", _sprott_b_tree, _sprott_b_rhs),
    Family("sprott_linz_f", "Sprott-Linz F", 3, (("a", 0.5),), "BDF", _sprott_linz_f_tree, _sprott_linz_f_rhs),
    Family("four_wing", "four-wing", 3, (("a", 0.2), ("b", 0.01), ("c", -0.4)), "BDF", _four_wing_tree,
           _four_wing_rhs),
    Family("duffing", "forced Duffing (time as state u_0)", 3,
           (("alpha", -1.0), ("beta", -5.0), ("gamma", 8.0), ("delta", -0.02), ("omega", 0.5)), "BDF",
           _duffing_tree, _duffing_rhs),
    Family("lorenz_96_4d", "Lorenz-96, 4 variables", 4, (("F", 8.0),), "BDF", _lorenz96_tree(4), _lorenz96_rhs(4)),
    Family("lorenz_96_5d", "Lorenz-96, 5 variables", 5, (("F", 8.0),), "BDF", _lorenz96_tree(5), _lorenz96_rhs(5)),
]

#: Every family by name.
FAMILIES = {f.name: f for f in _ALL}
#: The twelve 3-D families of PROSE's main set, in its order (``families = "all"``).
THREE_D = tuple(f.name for f in _ALL if f.dim == 3)
#: Most parameters of any family (size of the ``parameter`` dimension).
MAX_PARAMETERS = max(len(f.parameters) for f in _ALL)


def resolve_families(text):
    """Family names from ``"all"`` or a comma-separated list.

    Parameters
    ----------
    text : str

    Returns
    -------
    tuple of str

    Raises
    ------
    ValueError
        Unknown or repeated name (the message lists the known ones), empty
        list, or families of different dimensions.
    """
    names = THREE_D if text.strip() == "all" else tuple(n.strip() for n in text.split(",") if n.strip())
    if not names:
        raise ValueError(f"families must be 'all' or a comma-separated list of: {', '.join(FAMILIES)}")
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown} in families={text!r}; known: all, {', '.join(FAMILIES)}")
    if len(set(names)) != len(names):
        raise ValueError(f"families={text!r} names a family twice")
    dims = {FAMILIES[n].dim for n in names}
    if len(dims) > 1:
        raise ValueError(
            f"families={text!r} mixes dimensions {sorted(dims)}; one run stores one 'component' size"
        )
    return names


def equation_rng(seed, equation):
    """Generator of the equation (family parameters) shared by a group of samples.

    Parameters
    ----------
    seed : int
        Run seed.
    equation : int
        Group index ``sample // states_per_equation``.

    Returns
    -------
    numpy.random.Generator
        ``Generator(PCG64(SeedSequence(seed, spawn_key=(EQUATION_STREAM, equation))))``, a
        stream no sample generator (one-word spawn keys) shares.
    """
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(EQUATION_STREAM, equation))))


def draw_parameters(family, rng, spread=0.1):
    """Draw a family's parameters, ±``spread`` around nominal, 3 significant digits.

    Parameters
    ----------
    family : Family
    rng : numpy.random.Generator
        One uniform is drawn per free parameter, in the family's order.
    spread : float, optional
        Relative half-width of the uniform law (0.1).

    Returns
    -------
    dict
        ``{name: value}``; every value has at most 3 significant digits.
    """
    scale = dict(family.scale)
    out = {}
    for name, nominal in family.parameters:
        if name in family.fixed:
            out[name] = float(nominal)
            continue
        half = spread * abs(nominal)
        out[name] = round_sig(scale.get(name, 1.0) * rng.uniform(nominal - half, nominal + half))
    return out


def time_levels(params):
    """Recording times ``linspace(0, final_time, n_times)``.

    Parameters
    ----------
    params : dict

    Returns
    -------
    ndarray
    """
    return np.linspace(0.0, float(params["final_time"]), int(params["n_times"]))


def integrate(family, p, u0, times, method=None, rtol=1e-5, atol=1e-6):
    """Integrate one trajectory; None when the solver fails or it leaves the bound.

    Parameters
    ----------
    family : Family
    p : dict
        Parameters (rounded).
    u0 : ndarray, shape (d,)
    times : ndarray
        Increasing recording times, ``times[0]`` the initial time.
    method : str, optional
        ``solve_ivp`` method (default the family's).
    rtol, atol : float, optional

    Returns
    -------
    ndarray, shape (len(times), d), or None
    """
    from scipy.integrate import solve_ivp

    f = family.rhs(p)
    bound = family.bound
    u0 = np.asarray(u0, dtype=float)

    def escape(t, u):
        return bound - np.max(np.abs(u))

    escape.terminal = True
    method = method or family.method
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            sol = solve_ivp(
                f, (times[0], times[-1]), u0, method=method, t_eval=times,
                rtol=rtol, atol=atol, events=escape, vectorized=method in ("BDF", "Radau"),
            )
    except (ValueError, FloatingPointError, np.linalg.LinAlgError, OverflowError):
        return None
    if sol.status != 0 or sol.y.shape[1] != len(times):
        return None
    y = sol.y.T.copy()
    # LSODA's dense output at t0 differs from u0 in the last bits; the record starts at u0.
    y[0] = u0
    if not np.isfinite(y).all() or np.abs(y).max() >= bound:
        return None
    return y


def sample_trajectory(family, p, rng, times, max_tries=10, initial_range=2.0, **solver):
    """Rejection-sample an initial state from ``rng`` and integrate it.

    Parameters
    ----------
    family : Family
    p : dict
    rng : numpy.random.Generator
        The sample's own generator; it alone is consumed.
    times : ndarray
    max_tries : int, optional
    initial_range : float, optional
        States are drawn from ``U(-initial_range, initial_range)^d``.
    **solver
        ``method``, ``rtol``, ``atol`` for :func:`integrate`.

    Returns
    -------
    (ndarray, int)
        Trajectory (len(times), d) and the number of states drawn, or
        ``(None, max_tries)`` if every try was rejected.
    """
    for attempt in range(1, max_tries + 1):
        u0 = rng.uniform(-initial_range, initial_range, family.dim)
        y = integrate(family, p, u0, times, **solver)
        if y is not None:
            return y, attempt
    return None, max_tries


def validate(params):
    """Reject parameter sets the generator cannot run, naming the culprit.

    Parameters
    ----------
    params : dict

    Raises
    ------
    ValueError
    """
    resolve_families(params["families"])
    if not params["final_time"] > 0:
        raise ValueError(f"final_time (the horizon) must be > 0, got {params['final_time']!r}")
    if params["n_times"] < 2:
        raise ValueError(
            f"n_times must be >= 2 (the time step final_time/(n_times - 1) must be positive), got {params['n_times']!r}"
        )
    if not 1 <= params["n_input_times"] < params["n_times"]:
        raise ValueError(
            f"n_input_times must be in [1, n_times - 1] = [1, {params['n_times'] - 1}], got {params['n_input_times']!r}"
        )
    for key in ("rtol", "atol", "initial_range"):
        if not params[key] > 0:
            raise ValueError(f"{key} must be > 0, got {params[key]!r}")
    if not 0 <= params["parameter_spread"] < 1:
        raise ValueError(f"parameter_spread must be in [0, 1), got {params['parameter_spread']!r}")
    for key in ("states_per_equation", "max_tries"):
        if params[key] < 1:
            raise ValueError(f"{key} must be >= 1, got {params[key]!r}")


def _run_seed(rng):
    """The run seed behind a per-sample generator (``SeedSequence(seed, spawn_key=(i,))``).

    The machinery passes generators, not the seed; the equation shared by a
    group of samples needs the seed itself.
    """
    try:
        return run_seed(rng)
    except ValueError:
        raise ValueError("solvers.odes needs the per-sample generators of solvers._seed.sample_rng") from None


def _solver_options(params):
    if params["accurate"]:
        return dict(ACCURATE)
    return {"method": None, "rtol": float(params["rtol"]), "atol": float(params["atol"])}


def generate(params, indices, rngs):
    """Compute a batch of trajectories (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict
        Resolved parameters.
    indices : ndarray of int
        Sample indices.
    rngs : list of numpy.random.Generator
        One per sample (:func:`solvers._seed.sample_rng`); each draws its
        initial states only.

    Returns
    -------
    xarray.Dataset

    Raises
    ------
    BlowUpError
        Every one of ``max_tries`` initial states was rejected; the message
        names the sample, family and parameters.
    """
    names = resolve_families(params["families"])
    dim = FAMILIES[names[0]].dim
    times = time_levels(params)
    options = _solver_options(params)
    n = len(indices)
    state = np.empty((n, len(times), dim))
    values = np.zeros((n, MAX_PARAMETERS))
    out = {k: [] for k in ("family", "equation", "equation_prefix", "parameter_names")}
    eq_index = np.empty(n, dtype=np.int64)
    tries = np.empty(n, dtype=np.int64)
    for k, (i, rng) in enumerate(zip(indices, rngs)):
        e = int(i) // int(params["states_per_equation"])
        family = FAMILIES[names[e % len(names)]]
        p = draw_parameters(family, equation_rng(_run_seed(rng), e), params["parameter_spread"])
        y, used = sample_trajectory(
            family, p, rng, times, int(params["max_tries"]), float(params["initial_range"]), **options
        )
        if y is None:
            raise BlowUpError(
                f"odes: sample {int(i)} ({family.name}, parameters {p}): all {used} initial states were rejected "
                f"(solver failure or max|u| >= {family.bound:g})"
            )
        field = family.tree(p)
        state[k] = y
        values[k, : len(p)] = list(p.values())
        out["family"].append(family.name)
        out["equation"].append(infix(field))
        out["equation_prefix"].append(prefix(field))
        out["parameter_names"].append(" ".join(p))
        eq_index[k], tries[k] = e, used

    def aux(long_name):
        return {"long_name": long_name, "units": "1", "opkit_role": "auxiliary"}

    strings = {k: np.array(v, dtype=object) for k, v in out.items()}
    data = {
        "state": (("sample", "time", "component"), state.astype(np.float32),
                  {"long_name": "state u(t)", "units": "1"}),
        "family": ("sample", strings["family"], aux("ODE family")),
        "equation": ("sample", strings["equation"], {
            "long_name": "vector field f(u) in infix (components separated by ' | ', variables u_0 ... u_{d-1})",
            "units": "1",
        }),
        "equation_prefix": ("sample", strings["equation_prefix"],
                            aux("vector field f(u) in prefix tokens (components separated by '|')")),
        "parameters": (("sample", "parameter"), values,
                       aux("family parameters, in the order of parameter_names (unused slots 0)")),
        "parameter_names": ("sample", strings["parameter_names"], aux("names of the family parameters")),
        "equation_index": ("sample", eq_index, aux("equation group: sample // states_per_equation")),
        "n_tries": ("sample", tries, aux("initial states drawn (rejection sampling)")),
    }
    coords = {
        "time": ("time", times, {"long_name": "time", "units": "1", "axis": "T"}),
        "component": ("component", np.arange(dim), {"long_name": "state component index i of u_i", "units": "1"}),
    }
    return xr.Dataset(data, coords=coords)


def global_attrs(params):
    """Global attributes of an ``odes`` file (see :class:`solvers._spec.SolverSpec`).

    Parameters
    ----------
    params : dict

    Returns
    -------
    dict
    """
    names = resolve_families(params["families"])
    if params["accurate"]:
        method = f"scipy.integrate.solve_ivp, DOP853, rtol {ACCURATE['rtol']:g}, atol {ACCURATE['atol']:g}"
    else:
        chosen = ", ".join(f"{n} {FAMILIES[n].method}" for n in names)
        method = f"scipy.integrate.solve_ivp ({chosen}), rtol {params['rtol']:g}, atol {params['atol']:g}"
    n_in = int(params["n_input_times"])
    return {
        "title": "Chaotic ODE trajectories with their vector fields as text (PROSE families)",
        "pde": PDE,
        "equation": "du/dt = f(u); f per sample in the variables 'equation' (infix) and 'equation_prefix'",
        "domain": f"t in [0, {params['final_time']:g}], {params['n_times']} equally spaced times",
        "family_list": " ".join(names),
        "opkit_inputs": "state",
        "opkit_outputs": "state equation",
        "time_windows": f"observed (input): time[:{n_in}]; predicted (output): time[{n_in}:]",
        "method": method,
        "rejection": (
            f"initial states U(-{params['initial_range']:g}, {params['initial_range']:g})^d from the sample's "
            f"generator, up to {params['max_tries']} tries; rejected on solver failure or max|u| >= 1e3 "
            "(1e5 for fabrikant)"
        ),
        "parameter_sampling": (
            f"p ~ U[p0 - {params['parameter_spread']:g}|p0|, p0 + {params['parameter_spread']:g}|p0|] rounded to 3 "
            "significant digits, one draw per group of states_per_equation samples from "
            f"SeedSequence(seed, spawn_key=({EQUATION_STREAM}, sample // states_per_equation))"
        ),
    }


SOLVER = SolverSpec(
    name="odes",
    title="Chaotic ODE systems (PROSE's 12 3-D families, Lorenz-96) with their equations as text",
    pde=PDE,
    parameters=(
        Parameter("families", "all", "1",
                  "'all' (the twelve 3-D families) or a comma-separated list of: " + ", ".join(FAMILIES) + ".", str),
        Parameter("states_per_equation", 20, "1", "Consecutive samples sharing one equation (family and parameters).",
                  int),
        Parameter("final_time", 6.0, "1", "Horizon T of each trajectory, t in [0, T].", float, plausible=(0.01, 100.0)),
        Parameter("n_times", 192, "1", "Stored equally spaced times on [0, T], both ends included (>= 2).", int),
        Parameter("n_input_times", 64, "1", "Leading times that are the observed window (recorded in the attributes).",
                  int),
        Parameter("rtol", 1e-5, "1", "Relative tolerance of solve_ivp (ignored when accurate).", float),
        Parameter("atol", 1e-6, "1", "Absolute tolerance of solve_ivp (ignored when accurate).", float),
        Parameter("accurate", False, "1", "Use DOP853 at rtol 1e-10, atol 1e-12 for every family.", bool),
        Parameter("parameter_spread", 0.1, "1", "Relative half-width of the uniform parameter law.", float,
                  plausible=(0.0, 0.5)),
        Parameter("initial_range", 2.0, "1", "Initial states are drawn from U(-r, r)^d.", float, plausible=(0.01, 100.0)),
        Parameter("max_tries", 100, "1", "Initial states drawn per sample before giving up (the law of accepted states does not depend on it).", int),
    ),
    generate=generate,
    global_attrs=global_attrs,
    validate=validate,
)


if __name__ == "__main__":
    raise SystemExit(run_cli(SOLVER))
