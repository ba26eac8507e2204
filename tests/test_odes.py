"""solvers.odes: PROSE's chaotic ODE families, their equations as text, sampling and files."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy
import xarray as xr
from scipy.integrate import solve_ivp

from solvers import odes
from solvers._cli import compute_chunk, generate_dataset, load_preset, run_cli
from solvers._seed import sample_rng, sample_rngs
from solvers._spec import BlowUpError

ROOT = Path(__file__).resolve().parent.parent
#: Short trajectories for the file tests (the physics is the presets').
SHORT = dict(final_time=1.0, n_times=17, n_input_times=5)
#: PROSE's horizon, few stored times (escapes to max|u| >= 1e3 happen late).
LONG = dict(final_time=6.0, n_times=25, n_input_times=8)


def _params(**overrides):
    return odes.SOLVER.resolve({**SHORT, **overrides})


# ----------------------------------------------------------------------------- text and data agree


def _eval_prefix(tokens, u):
    """Evaluate prefix tokens (one component) at states u (d, n); returns (value, rest)."""
    head, rest = tokens[0], tokens[1:]
    binary = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}
    unary = {"neg": np.negative, "sin": np.sin, "cos": np.cos, "pow2": np.square}
    if head in binary:
        a, rest = _eval_prefix(rest, u)
        b, rest = _eval_prefix(rest, u)
        return binary[head](a, b), rest
    if head in unary:
        a, rest = _eval_prefix(rest, u)
        return unary[head](a), rest
    if head == "pow":
        a, rest = _eval_prefix(rest, u)
        return a ** int(rest[0]), rest[1:]
    if head in ("+", "-"):
        mantissa, exponent = int(rest[0][1:]), int(rest[1][1:])
        assert rest[0].startswith("N") and len(rest[0]) == 4 and rest[1].startswith("E") and -10 <= exponent <= 10
        return (1 if head == "+" else -1) * mantissa * 10.0**exponent + 0 * u[0], rest[2:]
    if head.startswith("u_"):
        return u[int(head[2:])], rest
    value = int(head)  # an integer token
    assert -10 <= value <= 10
    return value + 0 * u[0], rest


def _prefix_field(text, u):
    out = []
    for part in text.split(" | "):
        value, rest = _eval_prefix(part.split(), u)
        assert rest == []
        out.append(value)
    return np.array(out)


@pytest.mark.parametrize("name", list(odes.FAMILIES))
def test_vector_field_is_the_parsed_equation(name):
    # Text and data must never diverge: the integrated right-hand side equals the
    # sympy parse of the written infix equation (and the prefix tokens) at random states.
    family = odes.FAMILIES[name]
    rng = np.random.default_rng(3)
    for draw in range(3):
        p = odes.draw_parameters(family, odes.equation_rng(11, draw))
        field = family.tree(p)
        exprs = odes.parse_equation(odes.infix(field), family.dim)
        symbols = [sympy.Symbol(f"u_{i}") for i in range(family.dim)]
        u = rng.uniform(-3, 3, (family.dim, 50))
        f = family.rhs(p)(0.0, u)
        g = np.array([np.broadcast_to(sympy.lambdify(symbols, e, "numpy")(*u), u.shape[1:]) for e in exprs])
        scale = np.maximum(1.0, np.abs(f))
        assert np.abs(f - g).max() / scale.max() < 1e-12, odes.infix(field)
        assert np.abs(f - _prefix_field(odes.prefix(field), u)).max() / scale.max() < 1e-12, odes.prefix(field)
        # Exactly the constants drawn, each of at most 3 significant digits and within the ±10 % law.
        scale_of = dict(family.scale)
        for (key, nominal), value in zip(family.parameters, p.values()):
            assert value == odes.round_sig(value)
            centre = scale_of.get(key, 1.0) * nominal
            assert abs(value - centre) <= 0.1 * abs(centre) * (1 + 1e-2), (key, value)
            if key in family.fixed:
                assert value == nominal


def test_lorenz_text_matches_the_documented_form():
    field = odes.FAMILIES["lorenz"].tree({"sigma": 10.1, "rho": 28.3, "beta": 2.67})
    assert odes.infix(field) == "10.1*(u_1 - u_0) | u_0*(28.3 - u_2) - u_1 | u_0*u_1 - 2.67*u_2"
    assert odes.prefix(field) == (
        "mul + N101 E-1 sub u_1 u_0 | sub mul u_0 sub + N283 E-1 u_2 u_1 | sub mul u_0 u_1 mul + N267 E-2 u_2"
    )


def test_negative_and_small_constants_are_written_exactly():
    field = odes.FAMILIES["chen_lee"].tree({"a": 5.0, "b": -10.0, "d": -0.38})
    assert odes.infix(field) == "5*u_0 - u_1*u_2 | -10*u_1 + u_0*u_2 | -0.38*u_2 + u_0*u_1/3"
    assert odes.prefix(field).split(" | ")[1] == "add mul - N100 E-1 u_1 mul u_0 u_2"
    assert odes.infix([("sub", "u_0", ("mul", -0.00954, "u_1"))]) == "u_0 + 0.00954*u_1"
    assert odes.prefix([0.00954]) == "+ N954 E-5"
    with pytest.raises(ValueError, match="3 significant digits"):
        odes.prefix([1.2345])


def test_parse_equation_errors_name_the_component():
    with pytest.raises(ValueError, match="component 1"):
        odes.parse_equation("u_0 | u_1 +* 2")
    with pytest.raises(ValueError, match="expected 3"):
        odes.parse_equation("u_0 | u_1", 3)


# ----------------------------------------------------------------------------- accuracy


@pytest.mark.parametrize("name", list(odes.FAMILIES))
def test_short_horizon_error_against_tight_dop853(name):
    # Relative L2 error over t in [0, 1] of the family's integrator at rtol 1e-5, atol 1e-6,
    # against DOP853 at rtol = atol = 1e-12: at most 10 rtol (largest seen: 7.8e-5, Lorenz-96 5-D).
    family = odes.FAMILIES[name]
    times = np.linspace(0.0, 1.0, 33)
    for e in range(2):
        p = odes.draw_parameters(family, odes.equation_rng(0, e))
        rng = sample_rng(0, e)
        y, tries = odes.sample_trajectory(family, p, rng, times)
        again = sample_rng(0, e)
        for _ in range(tries):
            u0 = again.uniform(-2, 2, family.dim)
        assert np.array_equal(y[0], u0)
        ref = odes.integrate(family, p, u0, times, method="DOP853", rtol=1e-12, atol=1e-12)
        assert np.linalg.norm(y - ref) / np.linalg.norm(ref) <= 10 * 1e-5


def test_accurate_mode_removes_the_late_lorenz_error():
    family = odes.FAMILIES["lorenz"]
    p = {"sigma": 10.0, "rho": 28.0, "beta": 2.67}
    times = np.linspace(0.0, 6.0, 192)
    u0 = np.array([1.0, -1.0, 0.5])
    ref = odes.integrate(family, p, u0, times, method="DOP853", rtol=1e-13, atol=1e-13)
    default = odes.integrate(family, p, u0, times)
    accurate = odes.integrate(family, p, u0, times, **odes.ACCURATE)
    err = [np.abs(y - ref).max() / np.abs(ref).max() for y in (default, accurate)]
    assert err[0] > 1e-5  # chaos amplifies rtol 1e-5 over t = 6
    assert err[1] < 1e-7
    # The solver parameter selects it.
    assert odes._solver_options(_params(accurate=True)) == odes.ACCURATE


# ----------------------------------------------------------------------------- sampling


def test_same_seed_same_arrays_and_samples_independent_of_the_batch():
    params = _params(families="sprott_linz_f,lorenz", states_per_equation=3)
    a = compute_chunk(odes.SOLVER, params, np.arange(8), seed=4)
    b = compute_chunk(odes.SOLVER, params, np.arange(8), seed=4)
    for name in a.data_vars:
        assert np.array_equal(a[name].values, b[name].values), name
    # Sample 5 alone, without its group-mates 3 and 4: same equation, same trajectory.
    alone = compute_chunk(odes.SOLVER, params, np.array([5]), seed=4)
    for name in ("state", "equation", "equation_prefix", "parameters", "n_tries", "family"):
        assert np.array_equal(alone[name].values[0], a[name].values[5]), name
    # Groups of 3 share the equation; families alternate by group.
    assert list(a.family.values) == ["sprott_linz_f"] * 3 + ["lorenz"] * 3 + ["sprott_linz_f"] * 2
    assert len(set(a.equation.values[:3])) == 1 and a.equation.values[3] != a.equation.values[0]
    assert not np.array_equal(a.state.values[0], a.state.values[1])
    other = compute_chunk(odes.SOLVER, params, np.arange(2), seed=5)
    assert not np.array_equal(other.state.values, a.state.values[:2])


def test_rejection_consumes_only_the_sample_generator():
    # Sprott-Linz F rejects about half of U(-2, 2)^3: find samples that needed several tries.
    params = _params(families="sprott_linz_f", states_per_equation=4, **LONG)
    indices = np.arange(8)
    rngs = sample_rngs(2, indices)
    ds = odes.generate(params, indices, rngs)
    tries = ds.n_tries.values
    assert tries.max() > 1
    for k, i in enumerate(indices):
        fresh = sample_rng(2, int(i))
        states = [fresh.uniform(-2, 2, 3) for _ in range(tries[k])]
        # The stored trajectory starts at the last state drawn ...
        np.testing.assert_array_equal(ds.state.values[k, 0], states[-1].astype(np.float32))
        # ... and the sample's generator drew nothing else (same state afterwards).
        assert rngs[k].bit_generator.state == fresh.bit_generator.state
    # The equation comes from its own stream, never from the samples'.
    family = odes.FAMILIES["sprott_linz_f"]
    p = odes.draw_parameters(family, odes.equation_rng(2, 1))
    assert ds.equation.values[4] == odes.infix(family.tree(p))
    np.testing.assert_array_equal(ds.parameters.values[4, :1], [p["a"]])


def test_exhausted_tries_name_the_sample():
    params = _params(families="sprott_linz_f", max_tries=1, **LONG)
    bad = next(i for i in range(50) if odes.generate(_params(families="sprott_linz_f", **LONG), [i],
                                                     sample_rngs(0, [i])).n_tries.values[0] > 1)
    with pytest.raises(BlowUpError, match=f"sample {bad} \\(sprott_linz_f"):
        odes.generate(params, np.array([bad]), sample_rngs(0, [bad]))


# ----------------------------------------------------------------------------- files and CLI


def test_cli_writes_a_file_xarray_reads(tmp_path, capsys):
    out = tmp_path / "odes.nc"
    code = run_cli(odes.SOLVER, [
        "--n-samples", "5", "--seed", "1", "--chunk-size", "2", "--out", str(out), "--no-progress",
        "--families", "lorenz,thomas,rossler", "--states-per-equation", "2",
        "--final-time", "1", "--n-times", "17", "--n-input-times", "5",
    ])
    assert code == 0, capsys.readouterr().err
    with xr.open_dataset(out) as ds:
        assert ds.state.dims == ("sample", "time", "component") and ds.state.shape == (5, 17, 3)
        assert ds.state.dtype == np.float32
        np.testing.assert_allclose(ds.time.values, np.linspace(0, 1, 17))
        assert ds.attrs["opkit_inputs"] == "state" and ds.attrs["opkit_outputs"] == "state equation"
        assert ds.attrs["n_input_times"] == 5 and ds.attrs["solver"] == "odes"
        assert list(ds.family.values) == ["lorenz", "lorenz", "thomas", "thomas", "rossler"]
        for k in range(5):
            family = odes.FAMILIES[str(ds.family.values[k])]
            names = str(ds.parameter_names.values[k]).split()
            p = dict(zip(names, ds.parameters.values[k, : len(names)]))
            assert str(ds.equation.values[k]) == odes.infix(family.tree(p))
            assert str(ds.equation_prefix.values[k]) == odes.prefix(family.tree(p))
            # The stored trajectory solves the written equation: integrate the sympy parse
            # from the stored initial state (float32 rounding and rtol 1e-5 set the tolerance).
            exprs = odes.parse_equation(str(ds.equation.values[k]), 3)
            rhs = sympy.lambdify([sympy.Symbol(f"u_{i}") for i in range(3)], exprs, "numpy")
            y = ds.state.values[k].astype(float)
            ref = solve_ivp(lambda t, u: [float(v) for v in rhs(*u)], (0, 1), y[0], t_eval=ds.time.values,
                            method="DOP853", rtol=1e-11, atol=1e-11).y.T
            assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 1e-3
        assert ds.state.attrs["opkit_role"] == "input" and ds.family.attrs["opkit_role"] == "auxiliary"
    # Same command again: nothing to do; the file is kept.
    assert run_cli(odes.SOLVER, ["--n-samples", "5", "--seed", "1", "--chunk-size", "2", "--out", str(out),
                                 "--no-progress", "--families", "lorenz,thomas,rossler", "--states-per-equation",
                                 "2", "--final-time", "1", "--n-times", "17", "--n-input-times", "5"]) == 0
    assert "nothing to do" in capsys.readouterr().out


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"families": "lorenz,lorentz"}, r"unknown families \['lorentz'\].*known: all, thomas, lorenz, aizawa"),
        ({"families": "lorenz,lorenz_96_4d"}, "mixes dimensions"),
        ({"families": " , "}, "comma-separated list"),
        ({"final_time": 0.0}, "final_time"),
        ({"final_time": -1.0}, "final_time"),
        ({"n_times": 1}, "time step"),
        ({"n_input_times": 17}, "n_input_times"),
        ({"rtol": 0.0}, "rtol"),
        ({"max_tries": 0}, "max_tries"),
    ],
)
def test_bad_input_is_refused(overrides, match):
    with pytest.raises(ValueError, match=match):
        _params(**overrides)


def test_cli_unknown_family_exits_2_listing_the_known_ones(tmp_path, capsys):
    code = run_cli(odes.SOLVER, ["--n-samples", "2", "--out", str(tmp_path / "x.nc"), "--families", "lorenz63"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown families ['lorenz63']" in err and "duffing" in err
    assert not (tmp_path / "x.nc").exists()


def test_presets_resolve_and_help_stays_light():
    for preset in ("prose-odes", "prose-odes-small"):
        recipe = odes.SOLVER.resolve(load_preset(preset, "odes")["parameters"])
        assert odes.resolve_families(recipe["families"])
    code = (
        "import sys; from solvers import odes; from solvers._cli import build_parser; build_parser(odes.SOLVER).format_help(); "
        "bad = [m for m in ('sympy', 'scipy.integrate') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": ""})


@pytest.mark.slow
def test_two_dask_workers_give_the_serial_file(tmp_path):
    kw = dict(n_samples=6, seed=3, chunk_size=2, progress=False, families="fabrikant,duffing", states_per_equation=2,
              **SHORT)
    a = generate_dataset(odes.SOLVER, tmp_path / "a.nc", **kw)
    b = generate_dataset(odes.SOLVER, tmp_path / "b.nc", workers=2, **kw)
    assert a.read_bytes() == b.read_bytes()
