"""``--backend``, ``--threads`` and ``--dtype`` on every solver's command line.

Loops over the solvers of ``tests/test_solvers_all.py`` with its tiny
settings. Navier--Stokes declares the three as parameters of its own (a real
choice of FFT backend and precision); every other solver computes in float64
with numpy/scipy and gets the runtime-only options of :mod:`solvers._runtime`.
"""

import dataclasses
import importlib
import json
import sys

import pytest
import xarray as xr
from threadpoolctl import threadpool_info

from solvers._cli import build_parser, run_cli
from solvers._runtime import RUNTIME_OPTIONS, declared, limit_threads
from solvers._spec import Parameter, SolverSpec
from test_solvers_all import TINY

NAMES = sorted(TINY)
#: Values each solver must refuse: the others accept only float64 and numpy.
UNSUPPORTED = {name: {"dtype": "float32", "backend": "torch"} for name in NAMES}
UNSUPPORTED["navier_stokes"] = {"dtype": "float16", "backend": "cuda"}
#: A non-default value each solver must honour.
SUPPORTED = {name: {"dtype": "float64", "backend": "numpy"} for name in NAMES}
SUPPORTED["navier_stokes"] = {"dtype": "float32", "backend": "numpy"}


def _spec(name):
    return importlib.import_module(f"solvers.{name}").SOLVER


def _argv(name, out, *extra):
    argv = ["--n-samples", "2", "--out", str(out), "--no-progress"]
    for key, value in TINY[name].items():
        argv += ["--set", f"{key}={value}"]
    return argv + list(extra)


def _pools():
    return {(p["internal_api"], p["filepath"]): p["num_threads"] for p in threadpool_info()}


def _unchanged(before):
    # A run may load a library (and its pool) for the first time; the pools
    # that were there keep their sizes.
    after = _pools()
    return {k: after.get(k) for k in before} == before


def test_every_solver_of_the_shared_list_is_covered():
    assert set(UNSUPPORTED) == set(SUPPORTED) == set(TINY)
    # Only Navier-Stokes declares the options itself; its behaviour stays its own.
    assert {n for n in NAMES if declared(_spec(n))} == {"navier_stokes"}
    assert declared(_spec("navier_stokes")) == set(RUNTIME_OPTIONS)


@pytest.mark.parametrize("name", NAMES)
def test_help_documents_the_three_options(name, capsys):
    with pytest.raises(SystemExit) as exc:
        run_cli(_spec(name), ["--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--backend", "--threads", "--dtype"):
        assert flag in text, (name, flag)
    if name != "navier_stokes":
        assert "runtime:" in text and "float64" in text and "numpy" in text


@pytest.mark.parametrize("name", NAMES)
def test_threads_one_runs_and_leaves_the_thread_pools_as_they_were(name, tmp_path, capsys):
    before = _pools()
    out = tmp_path / f"{name}.nc"
    assert run_cli(_spec(name), _argv(name, out, "--threads", "1")) == 0, capsys.readouterr().err
    assert _unchanged(before)
    with xr.open_dataset(out) as ds:
        assert ds.sizes["sample"] == 2


@pytest.mark.parametrize("option", ["dtype", "backend"])
@pytest.mark.parametrize("name", NAMES)
def test_unsupported_value_exits_2_naming_the_option(name, option, tmp_path, capsys):
    value = UNSUPPORTED[name][option]
    out = tmp_path / "x.nc"
    assert run_cli(_spec(name), _argv(name, out, f"--{option}", value)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert f"--{option}" in err and value in err, err
    if name != "navier_stokes" and option == "backend":
        assert "its backends: numpy" in err, err
    assert not out.exists() and not (tmp_path / "x.nc.parts").exists()


@pytest.mark.parametrize("name", NAMES)
def test_supported_values_run(name, tmp_path, capsys):
    values = SUPPORTED[name]
    out = tmp_path / f"{name}.nc"
    argv = _argv(name, out, "--dtype", values["dtype"], "--backend", values["backend"])
    assert run_cli(_spec(name), argv) == 0, capsys.readouterr().err
    with xr.open_dataset(out) as ds:
        assert ds.sizes["sample"] == 2


@pytest.mark.parametrize("name", [n for n in NAMES if n != "navier_stokes"])
def test_runtime_options_do_not_change_the_configuration(name, tmp_path, capsys):
    out = tmp_path / f"{name}.nc"
    assert run_cli(_spec(name), _argv(name, out)) == 0
    capsys.readouterr()
    argv = _argv(name, out, "--threads", "1", "--dtype", "float64", "--backend", "auto")
    assert run_cli(_spec(name), argv) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_navier_stokes_float32_is_another_configuration(tmp_path, capsys):
    # Its dtype changes the numbers, so it is part of the configuration (unchanged behaviour).
    out = tmp_path / "ns.nc"
    spec = _spec("navier_stokes")
    assert run_cli(spec, _argv("navier_stokes", out)) == 0
    capsys.readouterr()
    assert run_cli(spec, _argv("navier_stokes", out, "--dtype", "float32")) == 2
    assert "dtype" in capsys.readouterr().err
    with xr.open_dataset(out) as ds:
        assert json.loads(ds.attrs["opkit_config"])["parameters"]["dtype"] == "float64"


def test_limit_threads_caps_threadpools_and_torch_and_restores_them():
    torch = pytest.importorskip("torch")
    assert "torch" in sys.modules
    before, torch_before = _pools(), torch.get_num_threads()
    with limit_threads(3):
        assert all(p["num_threads"] == 3 for p in threadpool_info()), threadpool_info()
        assert torch.get_num_threads() == 3
    assert _unchanged(before) and torch.get_num_threads() == torch_before
    with limit_threads(None):
        assert _unchanged(before)


def test_threads_must_be_a_positive_integer(tmp_path, capsys):
    spec = _spec("burgers")
    for value in ("0", "two"):
        assert run_cli(spec, _argv("burgers", tmp_path / "b.nc", "--threads", value)) == 2
        err = capsys.readouterr().err
        assert "--threads" in err and value in err, err


def test_a_spec_listing_several_dtypes_must_declare_the_parameter():
    with pytest.raises(ValueError, match="several dtypes .* declares no 'dtype' parameter"):
        SolverSpec("toy", "Toy", "u = 0", dtypes=("float64", "float32"))
    spec = SolverSpec(
        "toy", "Toy", "u = 0", backends=("torch",),
        parameters=(Parameter("dtype", "float64", "1", "Precision.", str, ("float64", "float32")),),
        dtypes=("float64", "float32"),
    )
    text = build_parser(spec).format_help()
    assert "toy has torch" in text and "--dtype" in text


def test_threads_are_capped_while_the_solver_computes(tmp_path):
    from solvers import burgers

    seen = []

    def spy(params, indices, rngs):
        seen.append({p["internal_api"]: p["num_threads"] for p in threadpool_info()})
        return burgers.SOLVER.generate(params, indices, rngs)

    spec = dataclasses.replace(burgers.SOLVER, generate=spy)
    before = _pools()
    with limit_threads(2):  # a caller's own setting, different from the run's
        outer = _pools()
        assert run_cli(spec, _argv("burgers", tmp_path / "b.nc", "--threads", "1")) == 0
        assert _unchanged(outer)
    assert _unchanged(before)
    assert seen and all(n == 1 for sizes in seen for n in sizes.values()), seen
