"""Checks every solver module must pass, each run at a tiny size.

The list of solvers is discovered (every ``solvers/*.py`` defining a
``SolverSpec`` named ``SOLVER``), so a new solver fails here until it has tiny
settings in :data:`TINY` and meets the conventions.
"""

import importlib
import warnings
from pathlib import Path

import pytest
import xarray as xr

import solvers
from solvers._cli import generate_dataset, list_presets, load_preset
from opkit.io._format import SPATIAL_DIMS
from solvers._spec import ImplausibleParameterWarning, SolverSpec

SOLVERS_DIR = Path(solvers.__file__).resolve().parent
#: Settings small enough that two samples take well under a second.
TINY = {
    "allen_cahn": dict(resolution=16, solver_resolution=32, n_times=3, final_time=2e-5, max_dt=2e-6, epsilon=60.0),
    "burgers": dict(resolution=16, solver_resolution=64, grf_resolution=64, n_times=3, max_dt=0.02),
    "euler": dict(resolution=8, solver_resolution=16, n_times=3, final_time=0.02),
    "odes": dict(families="lorenz", n_times=5, final_time=0.5, n_input_times=2, states_per_equation=1),
    "darcy": dict(resolution=11, solver_resolution=41, grf_modes=41),
    "elasticity_rve": dict(n_elements=4, n_increments=1),
    "helmholtz": dict(resolution=9, solver_resolution=33),
    "navier_stokes": dict(resolution=16, solver_resolution=32, ic_resolution=32, t_end=2.0),
    "poisson": dict(resolution=9, solver_resolution=33),
    "wave": dict(resolution=16, solver_resolution=32, n_times=3, record_interval=0.02),
}
BC_VALUES = {"periodic", "dirichlet", "neumann"}
#: Solvers whose fields have no spatial dims (ODE trajectories; RVE fields at nodes and Gauss points), so no bc_* to carry.
NON_SPATIAL = {"odes", "elasticity_rve"}


def solver_modules():
    """Names of the modules under solvers/ that define a SolverSpec SOLVER."""
    found = []
    for path in sorted(SOLVERS_DIR.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        module = importlib.import_module(f"solvers.{path.stem}")
        if isinstance(getattr(module, "SOLVER", None), SolverSpec):
            found.append(path.stem)
    return found


def test_every_solver_has_tiny_settings():
    names = solver_modules()
    assert {"darcy", "poisson", "helmholtz", "burgers", "navier_stokes", "wave", "allen_cahn"} <= set(names)
    assert sorted(TINY) == names


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """name -> path of a two-sample file written by that solver (computed on first use)."""
    folder = tmp_path_factory.mktemp("tiny")
    cache = {}

    def get(name):
        if name not in cache:
            spec = importlib.import_module(f"solvers.{name}").SOLVER
            cache[name] = generate_dataset(spec, folder / f"{name}.nc", 2, progress=False, **TINY[name])
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(TINY))
def test_every_field_carries_the_boundary_conditions_of_the_file(name, tiny_files):
    with xr.open_dataset(tiny_files(name)) as ds:
        spatial = [d for d in ds.dims if d in SPATIAL_DIMS]
        if name in NON_SPATIAL:
            assert not spatial and not any(k.startswith("bc_") for k in ds.attrs), name
            return
        assert spatial, name
        for d in spatial:
            assert ds.attrs.get(f"bc_{d}") in BC_VALUES, (name, d, ds.attrs.get(f"bc_{d}"))
        fields = [v for v in ds.data_vars if any(d in SPATIAL_DIMS for d in ds[v].dims)]
        assert fields, name
        for v in fields:
            for d in spatial:
                # What est.fit(ds.w0, ds.w) reads: the DataArray's own attrs.
                assert ds[v].attrs.get(f"bc_{d}") == ds.attrs[f"bc_{d}"], (name, v, d)


# ----------------------------------------------------------------------------- plausible ranges


def _spec(name):
    return importlib.import_module(f"solvers.{name}").SOLVER


@pytest.mark.parametrize("name", sorted(TINY))
def test_defaults_presets_and_tiny_settings_are_plausible(name):
    spec = _spec(name)
    ranged = [p for p in spec.all_parameters() if p.plausible is not None]
    assert ranged, f"{name} declares no plausible range"
    settings = [{}, TINY[name]] + [load_preset(p, name)["parameters"] for p in list_presets(name)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ImplausibleParameterWarning)
        for overrides in settings:
            spec.resolve(overrides)


def _outside(p):
    low, high = p.plausible
    values = [high * 1e3 + 1.0]
    if low > 0:
        values.append(low / 1e3)
    elif low < 0:
        values.append(low * 1e3 - 1.0)
    return values


@pytest.mark.parametrize("name", sorted(TINY))
def test_value_far_outside_the_covered_range_warns_with_name_value_and_range(name):
    spec = _spec(name)
    checked = 0
    for p in spec.all_parameters():
        if p.plausible is None:
            continue
        for value in _outside(p):
            value = p.type(value)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    spec.resolve({p.name: value})
                except ValueError:
                    continue  # rejected outright by validate (e.g. sigma_min > sigma_max): even better
            messages = [str(w.message) for w in caught if issubclass(w.category, ImplausibleParameterWarning)]
            assert len(messages) == 1, (name, p.name, value, messages)
            low, high = p.plausible
            assert f"{p.name!r}" in messages[0] and repr(value) in messages[0], messages[0]
            assert f"[{low:g}, {high:g}]" in messages[0] and name in messages[0], messages[0]
            checked += 1
    assert checked, name


def test_absurd_viscosity_warns_in_a_real_run(tmp_path):
    spec = _spec("navier_stokes")
    with pytest.warns(ImplausibleParameterWarning, match=r"'viscosity' \(--viscosity\) = 1e\+30 is far outside"):
        generate_dataset(spec, tmp_path / "ns.nc", 1, progress=False, **dict(TINY["navier_stokes"], viscosity=1e30))
