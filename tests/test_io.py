"""``opkit.io``: every external layout, laziness, bad input, writers and round trips.

Each layout is written by the test itself, in exactly the source's layout
(tests/io_fixtures.py), opened with :func:`opkit.io.open_dataset` and compared
value by value, with dims and coordinates checked. The real neuraloperator
files are checked against their documented shapes and statistics.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from pathlib import Path
from unittest import mock

import dask.array as da
import h5py
import numpy as np
import pytest
import torch
import xarray as xr

import opkit.io as oio
from opkit.data import load_darcy_small

import io_fixtures as fx

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "neuralop"
PACKAGED = ROOT / "opkit" / "data" / "files"
SOURCE_ATTRS = ("source_format", "source_layout", "source_file", "original_source_format")


@contextlib.contextmanager
def h5_reads():
    """Record the name of every HDF5 dataset read through h5py."""
    calls = []
    original = h5py.Dataset.__getitem__

    def spy(self, args, *rest, **kw):
        calls.append(self.name)
        return original(self, args, *rest, **kw)

    with mock.patch.object(h5py.Dataset, "__getitem__", spy):
        yield calls


def without_source(ds):
    ds = ds.copy()
    for key in SOURCE_ATTRS:
        ds.attrs.pop(key, None)
    return ds


def check_coords(ds, **sizes):
    assert ds.sample.dtype == np.int64 and np.array_equal(ds.sample, np.arange(ds.sizes["sample"]))
    for dim, n in sizes.items():
        assert ds.sizes[dim] == n, dim
        if dim in ("time", "x", "y", "z"):
            assert ds[dim].dtype == np.float64 and ds[dim].attrs["units"] == "1", dim
    for name, var in ds.data_vars.items():
        assert var.dims[0] == "sample" or "sample" not in var.dims, name
        assert {"long_name", "units", "opkit_role"} <= set(var.attrs), name


# ----------------------------------------------------------------------------- FNO MATLAB


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_fno_navier_stokes(tmp_path, version):
    path = tmp_path / f"NavierStokes_V1e-5_N3_T4_{version}.mat"
    src = fx.fno_ns()
    (fx.write_mat_v5 if version == "v5" else fx.write_mat_v73)(path, src)
    ds = oio.open_dataset(path)
    check_coords(ds, sample=3, time=4, x=8, y=8)
    assert ds.w.dims == ("sample", "time", "x", "y") and ds.w0.dims == ("sample", "x", "y")
    np.testing.assert_array_equal(ds.w.values, src["u"].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(ds.w0.values, src["a"])
    np.testing.assert_array_equal(ds.time.values, [1, 2, 3, 4])
    np.testing.assert_array_equal(ds.x.values, np.arange(8) / 8)
    a = ds.attrs
    assert (a["source_format"], a["source_layout"], a["mat_version"]) == ("fno-mat", "navier-stokes", version[1:])
    assert (a["opkit_inputs"], a["opkit_outputs"], a["bc_x"], a["bc_y"]) == ("w0", "w", "periodic", "periodic")
    assert a["viscosity"] == 1e-5 and ds.w.attrs["source_name"] == "u"
    assert isinstance(ds.w.data, da.Array) == (version == "v7.3")  # v5 has no random access


@pytest.mark.parametrize("version", ["v5", "v7.3"])
def test_fno_darcy_and_burgers(tmp_path, version):
    write = fx.write_mat_v5 if version == "v5" else fx.write_mat_v73
    darcy, burgers = fx.fno_darcy(), fx.fno_burgers()
    write(tmp_path / "piececonst_r9_N3.mat", darcy)
    write(tmp_path / "burgers_data_R10.mat", burgers)
    ds = oio.open_dataset(tmp_path / "piececonst_r9_N3.mat")
    check_coords(ds, sample=3, x=9, y=9)
    np.testing.assert_array_equal(ds.a.values, darcy["coeff"])
    np.testing.assert_array_equal(ds.u.values, darcy["sol"])
    np.testing.assert_allclose(ds.x.values, np.linspace(0, 1, 9))  # nodal, boundary included
    assert (ds.attrs["bc_x"], ds.attrs["opkit_inputs"], ds.attrs["opkit_outputs"]) == ("dirichlet", "a", "u")
    ds = oio.open_dataset(tmp_path / "burgers_data_R10.mat")
    check_coords(ds, sample=4, x=16)
    assert ds.u.dims == ds.u0.dims == ("sample", "x")
    np.testing.assert_array_equal(ds.u0.values, burgers["a"])
    np.testing.assert_array_equal(ds.u.values, burgers["u"])
    assert ds.attrs["bc_x"] == "periodic" and ds.attrs["source_layout"] == "burgers"


def test_fno_v73_is_lazy_and_chunked_by_sample(tmp_path):
    path = tmp_path / "ns_V1e-3_N3_T4.mat"
    fx.write_mat_v73(path, fx.fno_ns())
    with h5_reads() as calls:
        ds = oio.open_dataset(path, chunks=1)
        assert "/u" not in calls and "/a" not in calls
        assert isinstance(ds.w.data, da.Array) and ds.w.data.chunks[0] == (1, 1, 1)
        ds.w.isel(sample=1).values
        assert "/u" in calls and "/a" not in calls
    ds.close()


# ----------------------------------------------------------------------------- PDEBench


def test_pdebench_flat_drops_the_extra_time_entry(tmp_path):
    path = tmp_path / "1D_Burgers_Sols_Nu0.01.hdf5"
    src = fx.pdebench_flat(path)
    with oio.open_dataset(path) as ds:
        check_coords(ds, sample=3, time=5, x=16)
        assert ds.u.dims == ("sample", "time", "x") and ds.u.dtype == np.float32
        np.testing.assert_array_equal(ds.u.values, src["tensor"])
        np.testing.assert_array_equal(ds.x.values, src["x"].astype(np.float64))
        np.testing.assert_array_equal(ds.time.values, src["t"][:-1].astype(np.float64))
        assert ds.attrs["Nu"] == pytest.approx(0.01) and ds.attrs["bc_x"] == "periodic"
        assert "dropped" in ds.attrs["time_note"] and ds.attrs["source_layout"] == "flat"


def test_pdebench_darcy(tmp_path):
    path = tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5"
    src = fx.pdebench_darcy(path)
    with oio.open_dataset(path) as ds:
        check_coords(ds, sample=3, x=8, y=8)
        np.testing.assert_array_equal(ds.u.values, src["tensor"][:, 0])
        np.testing.assert_array_equal(ds.a.values, src["nu"])
        np.testing.assert_array_equal(ds.y.values, src["x"].astype(np.float64))
        a = ds.attrs
        assert (a["opkit_inputs"], a["opkit_outputs"], a["beta"], a["bc_y"]) == ("a", "u", 1.0, "dirichlet")


def test_pdebench_compressible_ns_is_lazy(tmp_path):
    path = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_periodic_128_Train.hdf5"
    src = fx.pdebench_cfd(path)
    with h5_reads() as calls:
        ds = oio.open_dataset(path, chunks=1)
        assert not {"/density", "/pressure", "/Vx", "/Vy"} & set(calls)  # only coordinates read
        assert all(isinstance(v.data, da.Array) and v.data.chunks[0] == (1, 1) for v in ds.data_vars.values())
        check_coords(ds, sample=2, time=3, x=8, y=6)
        for ours, theirs in (("rho", "density"), ("p", "pressure"), ("vx", "Vx"), ("vy", "Vy")):
            np.testing.assert_array_equal(ds[ours].values, src[theirs])
            assert ds[ours].attrs["source_name"] == theirs
        assert ds.time.size == 3 and (ds.attrs["eta"], ds.attrs["M"]) == (0.01, 0.1)
        assert ds.attrs["bc_x"] == ds.attrs["bc_y"] == "periodic"
    ds.close()


def test_pdebench_per_sample_groups(tmp_path):
    path = tmp_path / "2D_diff-react_NA_NA.h5"
    data = fx.pdebench_groups(path)
    with h5_reads() as calls:
        ds = oio.open_dataset(path, chunks=2)
        assert not any(c.endswith("/data") for c in calls)
        check_coords(ds, sample=3, time=4, x=6, y=5)
        assert ds.u.data.chunks[0] == (2, 1)
        np.testing.assert_array_equal(ds.u.values, data[..., 0])
        np.testing.assert_array_equal(ds.v.values, data[..., 1])
    np.testing.assert_allclose(ds.x.values, np.linspace(-1, 1, 6), rtol=1e-6)
    np.testing.assert_allclose(ds.time.values, np.linspace(0, 5, 4), rtol=1e-6)
    assert ds.attrs["bc_x"] == "neumann"
    ds.close()
    # A data set the reader does not know keeps its channels on a dim, or takes names.
    other = tmp_path / "2D_other_NA_NA.h5"
    fx.pdebench_groups(other, channels=3)
    with oio.open_dataset(other) as ds:
        assert ds.data.dims == ("sample", "time", "x", "y", "channel")
    with oio.open_dataset(other, channel_names=["p", "q", "r"]) as ds:
        assert list(ds.data_vars) == ["p", "q", "r"]


def test_pdebench_incompressible_ns(tmp_path):
    path = tmp_path / "ns_incom_inhom_2d_512-0.h5"
    src = fx.pdebench_ns(path)
    with oio.open_dataset(path) as ds:
        check_coords(ds, sample=2, time=3, x=6, y=6, component=2)
        assert ds.velocity.dims == ("sample", "time", "x", "y", "component")
        np.testing.assert_array_equal(ds.velocity.values, src["velocity"])
        np.testing.assert_array_equal(ds.particles.values, src["particles"][..., 0])
        np.testing.assert_array_equal(ds.force.values, src["force"])
        np.testing.assert_array_equal(ds.time.values, src["t"][0].astype(np.float64))
        assert list(ds.component.values) == ["u", "v"] and "coordinates_note" in ds.attrs


# ----------------------------------------------------------------------------- PDEgym


def test_pdegym_navier_stokes_families(tmp_path):
    r = fx.rng(11)
    vel = r.normal(size=(2, 3, 2, 6, 5)).astype(np.float32)
    fx.pdegym_nc(tmp_path / "NS-Sines.nc", velocity=vel)
    fx.pdegym_nc(tmp_path / "NS-SL.nc", velocity=vel)
    tracer = r.normal(size=(2, 3, 3, 6, 6)).astype(np.float32)
    fx.pdegym_nc(tmp_path / "NS-PwC.nc", velocity=tracer)
    with h5_reads() as calls:
        ds = oio.open_dataset(tmp_path / "NS-Sines.nc")
        assert "/velocity" not in calls and isinstance(ds.u.data, da.Array)
        check_coords(ds, sample=2, time=3, x=6, y=5)
        np.testing.assert_array_equal(ds.u.values, vel[:, :, 0])
        np.testing.assert_array_equal(ds.v.values, vel[:, :, 1])
    np.testing.assert_allclose(ds.time.values, [0, 0.5, 1])
    assert ds.attrs["bc_x"] == "periodic" and ds.attrs["pdegym_family"] == "NS-Sines"
    # NS-SL is stored with x and y swapped: the reader swaps them back.
    with oio.open_dataset(tmp_path / "NS-SL.nc") as sl:
        assert sl.sizes["x"] == 5 and sl.sizes["y"] == 6
        np.testing.assert_array_equal(sl.v.values, vel[:, :, 1].swapaxes(-1, -2))
    with oio.open_dataset(tmp_path / "NS-SL.nc", swap_xy=False) as raw:
        np.testing.assert_array_equal(raw.v.values, vel[:, :, 1])
    with oio.open_dataset(tmp_path / "NS-PwC.nc") as pwc:
        np.testing.assert_array_equal(pwc.tracer.values, tracer[:, :, 2])
    ds.close()


def test_pdegym_euler_kolmogorov_wave_ace(tmp_path):
    r = fx.rng(12)
    ce = r.normal(size=(2, 3, 5, 4, 4)).astype(np.float32)
    kf = r.normal(size=(2, 3, 2, 4, 4)).astype(np.float32)
    wave, c = r.normal(size=(2, 4, 4, 4)), r.uniform(1500, 2500, size=(2, 4, 4))
    ace = r.normal(size=(2, 5, 4, 4)).astype(np.float32)
    fx.pdegym_nc(tmp_path / "CE-RP.nc", data=ce)
    fx.pdegym_nc(tmp_path / "FNS-KF.nc", solution=kf)
    fx.pdegym_nc(tmp_path / "Wave-Gauss.nc", solution=wave, c=c)
    fx.pdegym_nc(tmp_path / "ACE.nc", solution=ace)
    with oio.open_dataset(tmp_path / "CE-RP.nc") as ds:
        assert list(ds.data_vars) == ["rho", "u", "v", "p", "E"]
        for i, name in enumerate(ds.data_vars):
            np.testing.assert_array_equal(ds[name].values, ce[:, :, i])
        assert ds.attrs["bc_x"] == "periodic"
    with oio.open_dataset(tmp_path / "FNS-KF.nc") as ds:
        np.testing.assert_array_equal(ds.v.values, kf[:, :, 1])
        assert "forcing" in ds.attrs
    with oio.open_dataset(tmp_path / "Wave-Gauss.nc") as ds:
        check_coords(ds, sample=2, time=4, x=4, y=4)
        np.testing.assert_array_equal(ds.u.values, wave)
        np.testing.assert_array_equal(ds.c.values, c)
        assert "bc_x" not in ds.attrs and "absorbing" in ds.attrs["boundary_note"]
    with oio.open_dataset(tmp_path / "ACE.nc") as ds:
        assert ds.u.dims == ("sample", "time", "x", "y")
        np.testing.assert_array_equal(ds.u.values, ace)


def test_pdegym_steady_sets(tmp_path):
    r = fx.rng(13)
    f, u = r.normal(size=(3, 5, 5)), r.normal(size=(3, 5, 5))
    af = r.normal(size=(3, 2, 5, 5))
    fx.pdegym_nc(tmp_path / "Poisson-Gauss.nc", source=f, solution=u)
    fx.pdegym_nc(tmp_path / "SE-AF.nc", solution=af)
    src = fx.pdegym_helmholtz(tmp_path / "Helmholtz.h5")
    with oio.open_dataset(tmp_path / "Poisson-Gauss.nc") as ds:
        np.testing.assert_array_equal(ds.f.values, f)
        np.testing.assert_array_equal(ds.u.values, u)
        assert (ds.attrs["opkit_inputs"], ds.attrs["opkit_outputs"], ds.attrs["bc_x"]) == ("f", "u", "dirichlet")
        np.testing.assert_allclose(ds.x.values, np.linspace(0, 1, 5))
    with oio.open_dataset(tmp_path / "SE-AF.nc") as ds:
        np.testing.assert_array_equal(ds.a.values, af[:, 0])
        np.testing.assert_array_equal(ds.rho.values, af[:, 1])
    with h5_reads() as calls:
        ds = oio.open_dataset(tmp_path / "Helmholtz.h5", chunks=5)
        assert not calls  # 12 groups, nothing read until used
        check_coords(ds, sample=12, x=8, y=8)
        # Sample_10 and Sample_11 come after Sample_9 (numeric, not lexicographic, order).
        np.testing.assert_array_equal(ds.u.values, src["u"])
        np.testing.assert_array_equal(ds.a.values, src["a"])
        np.testing.assert_array_equal(ds.bc.values, src["bc"])
    assert ds.u.data.chunks[0] == (5, 5, 2) and ds.attrs["opkit_inputs"] == "a bc"
    ds.close()


# ----------------------------------------------------------------------------- The Well


def test_the_well(tmp_path):
    path = tmp_path / "toy_flow.hdf5"
    src = fx.the_well(path)
    with h5_reads() as calls:
        ds = oio.open_dataset(path)
        assert not {"/t0_fields/density", "/t1_fields/velocity", "/t2_fields/stress"} & set(calls)
    check_coords(ds, sample=2, time=3, x=6, y=5, component=2, component_2=2)
    assert ds.density.dims == ("sample", "time", "x", "y")
    assert ds.velocity.dims == ("sample", "time", "x", "y", "component")
    assert ds.stress.dims == ("sample", "time", "x", "y", "component", "component_2")
    assert ds.obstacle.dims == ("x", "y") and ds.energy.dims == ("sample", "time")
    for name in ("density", "obstacle", "velocity", "stress", "energy"):
        np.testing.assert_array_equal(ds[name].values, src[name])
    for name in ("time", "x", "y"):
        np.testing.assert_array_equal(ds[name].values, src[name].astype(np.float64))
    a = ds.attrs
    assert (a["bc_x"], a["bc_y"], a["the_well_bc_y"]) == ("periodic", "dirichlet", "wall")
    assert a["Re"] == 100.0 and a["dataset_name"] == "toy_flow" and a["source_format"] == "the-well"
    assert list(ds.component.values) == ["x", "y"]
    ds.close()


# ----------------------------------------------------------------------------- neuraloperator


def _shipped(name):
    path = SHARED / name
    if not path.exists():
        path = PACKAGED / name
    if not path.exists():
        pytest.skip(f"{name} is not available")
    return path


def test_neuralop_darcy_files_match_documented_statistics_and_load_darcy_small():
    train = oio.open_dataset(_shipped("darcy_train_16.pt"))
    test = oio.open_dataset(_shipped("darcy_test_16.pt"))
    assert train.a.shape == train.u.shape == (1000, 16, 16) and test.u.shape == (50, 16, 16)
    u = train.u.values
    assert (u.min(), u.max()) == pytest.approx((-0.428, 2.057), abs=1e-3)
    assert (u.mean(), u.std()) == pytest.approx((0.386, 0.340), abs=1e-3)
    assert set(np.unique(train.a.values)) == {0.0, 1.0} and train.a.values.mean() == pytest.approx(0.5, abs=0.01)
    assert (test.u.values.min(), test.u.values.max()) == pytest.approx((-0.119, 1.902), abs=1e-3)
    assert train.attrs["bc_x"] == "dirichlet" and train.attrs["opkit_inputs"] == "a"
    # The same Dataset as the embedded copy, values, coordinates and variable attributes.
    for ours, ref in ((train, load_darcy_small("train")), (test, load_darcy_small("test"))):
        xr.testing.assert_identical(ours[["a", "u"]].drop_attrs(deep=False).pipe(_no_source_name), ref[["a", "u"]].drop_attrs(deep=False))
    packaged = PACKAGED / "darcy_test_16.pt"
    if packaged.exists():
        xr.testing.assert_equal(oio.open_dataset(packaged), test)


def _no_source_name(ds):
    # load_darcy_small names neither the source variables nor the sample index.
    for var in ds.data_vars.values():
        var.attrs.pop("source_name", None)
    ds["sample"].attrs = {}
    return ds


def test_neuralop_burgers_file():
    ds = oio.open_dataset(_shipped("burgers_train_16.pt"))
    check_coords(ds, sample=800, time=17, x=16)
    assert ds.u0.dims == ("sample", "x") and ds.u.dims == ("sample", "time", "x")
    np.testing.assert_array_equal(ds.u.isel(time=0).values, ds.u0.values)  # y[:, 0] == x
    x = ds.u0.values
    assert (x.min(), x.max(), x.std()) == pytest.approx((-0.830, 0.813, 0.219), abs=1e-3)
    assert abs(x.mean()) < 0.01 and ds.attrs["viscosity"] == 0.01
    assert (ds.attrs["opkit_inputs"], ds.attrs["opkit_outputs"], ds.attrs["bc_x"]) == ("u0", "u", "periodic")


def test_neuralop_generic_and_torch_cfd_dicts(tmp_path):
    r = fx.rng(14)
    x, y = torch.from_numpy(r.normal(size=(3, 6, 6)).astype(np.float32)), torch.from_numpy(r.normal(size=(3, 6, 6)).astype(np.float32))
    torch.save({"x": x, "y": y}, tmp_path / "nsforcing_6_train.pt")
    with oio.open_dataset(tmp_path / "nsforcing_6_train.pt") as ds:
        np.testing.assert_array_equal(ds.input.values, x.numpy())
        np.testing.assert_array_equal(ds.output.values, y.numpy())
        assert ds.attrs["opkit_inputs"] == "input" and ds.output.dims == ("sample", "x", "y")
    w = torch.from_numpy(r.normal(size=(2, 3, 4, 4)))
    torch.save(
        {"vorticity": w, "stream": 2 * w, "vort_t": torch.empty(0), "residual": torch.empty(0), "random_states": torch.tensor([7, 9], dtype=torch.int32)},
        tmp_path / "fno_ns_torch_cfd.pt",
    )
    with oio.open_dataset(tmp_path / "fno_ns_torch_cfd.pt") as ds:
        assert set(ds.data_vars) == {"vorticity", "stream", "random_states"}  # empty ones dropped
        np.testing.assert_array_equal(ds.stream.values, 2 * w.numpy())
        assert ds.vorticity.dims == ("sample", "time", "x", "y") and list(ds.random_states.values) == [7, 9]


# ----------------------------------------------------------------------------- opkit netCDF and writers


def test_solver_file_opens_lazily_and_exports_to_the_well(tmp_path):
    from solvers import burgers
    from solvers._cli import generate_dataset

    tiny = dict(resolution=16, solver_resolution=64, grf_resolution=64, n_times=3, max_dt=0.02)
    out = generate_dataset(burgers.SOLVER, tmp_path / "b.nc", 3, seed=1, chunk_size=3, progress=False, **tiny)
    with h5_reads() as calls:
        ds = oio.open_dataset(out, chunks=1)
        assert "/u" not in calls and "/u0" not in calls
        assert isinstance(ds.u.data, da.Array) and ds.u.data.chunks[0] == (1, 1, 1)
    with xr.open_dataset(out, engine="h5netcdf") as ref:
        xr.testing.assert_identical(without_source(ds), ref)
    assert ds.attrs["source_format"] == "opkit" and ds.attrs["opkit_inputs"] == "u0"
    oio.to_the_well(ds, tmp_path / "b.hdf5")
    with h5py.File(tmp_path / "b.hdf5") as f:
        assert f["t0_fields/u"].shape == (3, 3, 16) and f["t0_fields/u"].dtype == np.float32
        assert "viscosity" in [str(s, "utf-8") if isinstance(s, bytes) else s for s in f.attrs["simulation_parameters"]]
        assert f["boundary_conditions/x_periodic"].attrs["bc_type"] == "periodic"
    back = oio.open_dataset(tmp_path / "b.hdf5")
    xr.testing.assert_identical(without_source(back), without_source(ds))
    ds.close()
    back.close()


def test_to_netcdf_round_trip_layout_and_dtype(tmp_path):
    src_path = tmp_path / "2D_CFD_Rand_M0.1_Eta0.01_Zeta0.01_trans_128_Train.hdf5"
    fx.pdebench_cfd(src_path)
    src = oio.open_dataset(src_path)
    assert src.attrs["bc_x"] == "neumann"  # transmissive
    oio.to_netcdf(src, tmp_path / "cfd.nc")
    back = oio.open_dataset(tmp_path / "cfd.nc")
    xr.testing.assert_identical(without_source(back).drop_attrs(deep=False), without_source(src).drop_attrs(deep=False))
    assert back.attrs["source_format"] == "opkit" and back.attrs["original_source_format"] == "pdebench"
    assert back.attrs["Conventions"] == "CF-1.10" and back.attrs["eta"] == 0.01
    enc = back.rho.encoding
    assert enc["zlib"] and enc["complevel"] == 4 and enc["shuffle"] and enc["chunksizes"][0] == 1
    assert back.rho.attrs["opkit_role"] == "auxiliary" and back.rho.attrs["bc_x"] == "neumann"
    # float64 fields are stored float32 unless asked otherwise.
    fx.write_mat_v5(tmp_path / "ns.mat", fx.fno_ns())
    ns = oio.open_dataset(tmp_path / "ns.mat")
    oio.to_netcdf(ns, tmp_path / "ns32.nc")
    oio.to_netcdf(ns, tmp_path / "ns64.nc", dtype=None)
    with oio.open_dataset(tmp_path / "ns32.nc") as f32, oio.open_dataset(tmp_path / "ns64.nc") as f64:
        assert f32.w.dtype == np.float32 and f64.w.dtype == np.float64
        np.testing.assert_array_equal(f64.w.values, ns.w.values)
        assert f32.w.attrs["opkit_role"] == "output" and f32.attrs["opkit_inputs"] == "w0"
    src.close()
    back.close()


def test_to_netcdf_is_atomic_and_may_overwrite_its_source(tmp_path):
    fx.pdebench_darcy(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    ds = oio.open_dataset(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    target = tmp_path / "darcy.nc"
    oio.to_netcdf(ds, target)
    before, listing = target.read_bytes(), sorted(os.listdir(tmp_path))

    def boom(block):
        raise RuntimeError("disk on fire")

    broken = ds.assign(u=ds.u.copy(data=ds.u.data.map_blocks(boom, dtype=np.float32)))
    with pytest.raises(RuntimeError, match="disk on fire"):
        oio.to_netcdf(broken, target)
    assert target.read_bytes() == before and sorted(os.listdir(tmp_path)) == listing  # no temporary left
    # A Dataset read lazily from the target itself can replace it.
    lazy = oio.open_dataset(target)
    doubled = lazy.assign(u=2 * lazy.u).assign_attrs(lazy.attrs)
    oio.to_netcdf(doubled, target)
    with oio.open_dataset(target) as again:
        np.testing.assert_array_equal(again.u.values, 2 * ds.u.values)
    lazy.close()
    ds.close()


def test_to_the_well_round_trips_vector_and_static_data(tmp_path):
    fx.pdebench_ns(tmp_path / "ns_incom_inhom_2d_512-0.h5")
    fx.pdebench_darcy(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5")
    for name in ("ns_incom_inhom_2d_512-0.h5", "2D_DarcyFlow_beta1.0_Train.hdf5"):
        ds = oio.open_dataset(tmp_path / name)
        out = tmp_path / (name + ".well.hdf5")
        oio.to_the_well(ds, out)
        back = oio.open_dataset(out)
        assert back.attrs["source_format"] == "the-well"
        xr.testing.assert_identical(without_source(back), without_source(ds))
        ds.close()
        back.close()
    with h5py.File(tmp_path / "ns_incom_inhom_2d_512-0.h5.well.hdf5") as f:
        assert f["t1_fields/velocity"].shape == (2, 3, 6, 6, 2)
        assert list(f["t1_fields/force"].attrs["dim_varying"]) == [True, True]
        assert not f["t1_fields/force"].attrs["time_varying"]
    with h5py.File(tmp_path / "2D_DarcyFlow_beta1.0_Train.hdf5.well.hdf5") as f:
        assert f["dimensions/time"].shape == (0,)  # static: no time axis
        assert f["boundary_conditions/x_wall"].attrs["bc_type"] == "wall"


def test_to_the_well_refuses_what_the_schema_cannot_hold(tmp_path):
    ds = xr.Dataset({"q": (("sample", "x", "channel"), np.zeros((2, 4, 3), np.float32))}, coords={"x": np.arange(4.0)})
    with pytest.raises(ValueError, match=r"'q' has dims \['channel'\]"):
        oio.to_the_well(ds, tmp_path / "q.hdf5")
    ds = xr.Dataset({"v": (("sample", "x", "y", "component"), np.zeros((2, 4, 4, 3), np.float32))})
    with pytest.raises(ValueError, match="3 entries along 'component'"):
        oio.to_the_well(ds, tmp_path / "v.hdf5")
    ds = xr.Dataset({"s": (("sample",), np.zeros(2))})
    with pytest.raises(ValueError, match="no spatial dim"):
        oio.to_the_well(ds, tmp_path / "s.hdf5")
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- bad input


def test_formats_lists_every_reader():
    assert set(oio.FORMATS) == {"fno-mat", "pdebench", "pdegym", "the-well", "neuralop", "opkit"}
    assert all(isinstance(v, str) and v for v in oio.FORMATS.values())


def test_unknown_layout_lists_contents_and_formats_tried(tmp_path):
    with h5py.File(tmp_path / "mystery.h5", "w") as f:
        f["foo"] = np.zeros((3, 4))
        f.create_group("bar")
        f.attrs["origin"] = "lab"
    with pytest.raises(ValueError) as err:
        oio.open_dataset(tmp_path / "mystery.h5")
    msg = str(err.value)
    assert "foo (3, 4) float64" in msg and "group bar/" in msg and "origin" in msg
    for name in oio.FORMATS:
        assert name in msg
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match=r"no known signature \(first bytes b'hello'\).*Tried: fno-mat"):
        oio.open_dataset(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="unknown format 'bogus'; known formats: fno-mat"):
        oio.open_dataset(tmp_path / "mystery.h5", format="bogus")
    with pytest.raises(FileNotFoundError, match="no such file"):
        oio.open_dataset(tmp_path / "absent.h5")


@pytest.mark.parametrize("kind", ["hdf5", "mat5", "mat73", "pt"])
def test_truncated_files_are_reported(tmp_path, kind):
    path = tmp_path / {"hdf5": "f.hdf5", "mat5": "f.mat", "mat73": "f73.mat", "pt": "f.pt"}[kind]
    if kind == "hdf5":
        fx.pdebench_flat(path)
    elif kind == "mat5":
        fx.write_mat_v5(path, fx.fno_burgers())
    elif kind == "mat73":
        fx.write_mat_v73(path, fx.fno_darcy())
    else:
        torch.save({"x": torch.zeros(50, 16, 16, dtype=torch.bool), "y": torch.rand(50, 16, 16)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged"):
        oio.open_dataset(path)


def test_pt_with_code_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "pwned"
    # Both torch's zip format and a bare pickle (torch's legacy format).
    torch.save({"x": torch.zeros(2), "y": fx.Exploit(marker)}, tmp_path / "evil.pt")
    with open(tmp_path / "evil_legacy.pt", "wb") as fh:
        pickle.dump({"x": fx.Exploit(marker)}, fh, protocol=2)
    for name in ("evil.pt", "evil_legacy.pt"):
        with pytest.raises(ValueError, match=r"refused to load .*never unpickles.*Unsupported global"):
            oio.open_dataset(tmp_path / name)
        assert not marker.exists()
    torch.save({"x": torch.zeros(2), "note": "a string"}, tmp_path / "str.pt")
    with pytest.raises(ValueError, match="entry 'note' is a str; opkit reads dicts of tensors"):
        oio.open_dataset(tmp_path / "str.pt")
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    with pytest.raises(ValueError, match="holds a list, not a dict of tensors"):
        oio.open_dataset(tmp_path / "list.pt")
    torch.save({"weights": torch.zeros(2, 3)}, tmp_path / "model.pt")
    with pytest.raises(ValueError, match=r"no known layout \(found: weights \(2, 3\) float32\)"):
        oio.open_dataset(tmp_path / "model.pt")


def test_missing_variables_are_named(tmp_path):
    fx.pdebench_cfd(tmp_path / "2D_CFD_Rand_periodic_Train.hdf5", drop=("pressure",))
    with pytest.raises(ValueError, match=r"compressible NS layout\): variable 'pressure' not found .*density \(2, 3, 8, 6\)"):
        oio.open_dataset(tmp_path / "2D_CFD_Rand_periodic_Train.hdf5")
    darcy = fx.fno_darcy()
    del darcy["sol"]
    fx.write_mat_v5(tmp_path / "darcy.mat", darcy)
    with pytest.raises(ValueError, match=r"Darcy layout\): variable 'sol' not found .*coeff \(3, 9, 9\)"):
        oio.open_dataset(tmp_path / "darcy.mat")
    fx.write_mat_v5(tmp_path / "other.mat", {"k": np.zeros((2, 2))})
    with pytest.raises(ValueError, match=r"no known FNO layout \(found: k \(2, 2\)\)"):
        oio.open_dataset(tmp_path / "other.mat")
    fx.the_well(tmp_path / "well.hdf5", drop_time=True)
    with pytest.raises(ValueError, match="the-well: dataset 'dimensions/time' not found"):
        oio.open_dataset(tmp_path / "well.hdf5")
    # Forcing the wrong format reports what that format needed.
    fx.pdebench_flat(tmp_path / "flat.hdf5")
    with pytest.raises(ValueError, match=r"the-well: group 'dimensions' not found .*tensor \(3, 5, 16\)"):
        oio.open_dataset(tmp_path / "flat.hdf5", format="the-well")
    with pytest.raises(TypeError, match="format 'pdebench' takes no option family; its options: channel_names"):
        oio.open_dataset(tmp_path / "flat.hdf5", family="NS-SL")
