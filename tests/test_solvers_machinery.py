"""Shared solver machinery: seeding, Gaussian random fields, resumable output, CLI.

The I/O tests run the real Burgers solver on tiny grids (16 stored points,
64 solved) so that they exercise the full path in well under a second each.
"""

import dataclasses
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import xarray as xr

from solvers import _cli, _io
from solvers import burgers
from solvers._cli import compute_chunk, generate_dataset, load_preset, run_cli
from solvers._grf import neumann_grf, neumann_spectrum, periodic_grf, periodic_spectrum
from solvers._seed import sample_rng, sample_rngs
from solvers._spec import BlowUpError, Parameter, SolverSpec

ROOT = Path(__file__).resolve().parent.parent
TINY = dict(resolution=16, solver_resolution=64, grf_resolution=64, n_times=3, max_dt=0.02)


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- seeding


def test_sample_rng_is_seedsequence_with_spawn_key():
    ref = np.random.Generator(np.random.PCG64(np.random.SeedSequence(7, spawn_key=(3,))))
    assert np.array_equal(sample_rng(7, 3).integers(0, 2**62, 8), ref.integers(0, 2**62, 8))
    assert not np.array_equal(sample_rng(7, 3).random(4), sample_rng(7, 4).random(4))
    assert not np.array_equal(sample_rng(7, 3).random(4), sample_rng(8, 3).random(4))
    with pytest.raises(ValueError, match="seed"):
        sample_rng(-1, 0)


# ----------------------------------------------------------------------------- GRFs


def _mean_periodic_power(fields):
    axes = tuple(range(1, fields.ndim))
    npts = np.prod(fields.shape[1:])
    return (np.abs(scipy.fft.fftn(fields, axes=axes) / npts) ** 2).mean(axis=0)


def test_periodic_grf_2d_spectrum_matches_formula():
    n, alpha, tau = 32, 2.5, 7.0
    w = periodic_grf(sample_rngs(11, range(2000)), (n, n), alpha, tau)
    power = _mean_periodic_power(w)
    k = np.fft.fftfreq(n, 1 / n)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    # FNO's NS field: E|w_k|^2 = 2 sigma^2 (4 pi^2 |k|^2 + tau^2)^-alpha, sigma = tau^(alpha - 1).
    fno = 2 * tau ** (2 * alpha - 2) * (4 * np.pi**2 * k2 + tau**2) ** (-alpha)
    fno[0, 0] = 0.0
    assert np.allclose(periodic_spectrum((n, n), alpha, tau), fno, rtol=1e-12, atol=0)
    assert power[0, 0] < 1e-25
    ratio = power.ravel()[1:] / fno.ravel()[1:]
    # Every mode but the four real self-conjugate ones is complex: 2.2 % noise per mode.
    self_conj = ((k[:, None] % (n // 2) == 0) & (k[None, :] % (n // 2) == 0)).ravel()[1:]
    assert np.abs(ratio[~self_conj] - 1).max() < 0.10
    assert np.abs(ratio[self_conj] - 1).max() < 0.15
    # Mean zero per sample (k = 0 removed) and variance = sum of the spectrum.
    assert np.abs(w.mean(axis=(1, 2))).max() < 1e-12
    assert w.var() == pytest.approx(fno.sum(), rel=0.05)


def test_periodic_grf_1d_is_fno_burgers_grf1():
    # GRF1.m: u = sum_k a_k cos 2 pi k x + b_k sin 2 pi k x with
    # std(a_k) = std(b_k) = sqrt(2) sigma ((2 pi k)^2 + tau^2)^(-gamma/2).
    n, sigma, tau, gamma = 64, 25.0, 5.0, 2.0
    u = periodic_grf(sample_rngs(5, range(2000)), n, alpha=gamma, tau=tau, sigma=sigma)
    c = np.fft.rfft(u, axis=1) / n
    a, b = 2 * c.real[:, 1 : n // 2], -2 * c.imag[:, 1 : n // 2]
    k = np.arange(1, n // 2)
    std = np.sqrt(2) * sigma * ((2 * np.pi * k) ** 2 + tau**2) ** (-gamma / 2)
    for coef in (a, b):
        ratio = coef.var(axis=0) / std**2
        assert np.abs(ratio - 1).max() < 0.15  # real coefficients: 3.2 % noise each
    both = (a.var(axis=0) + b.var(axis=0)) / (2 * std**2)
    assert np.abs(both - 1).max() < 0.10


def test_periodic_grf_3d_and_length():
    n, length = 8, 2.0
    u = periodic_grf(sample_rngs(2, range(2000)), (n, n, n), alpha=2.0, tau=3.0, sigma=1.0, length=length)
    power = _mean_periodic_power(u)
    ref = periodic_spectrum((n, n, n), 2.0, 3.0, 1.0, length)
    k = np.fft.fftfreq(n, 1 / n)
    kk = (2 * np.pi / length) ** 2 * (k[:, None, None] ** 2 + k[None, :, None] ** 2 + k[None, None, :] ** 2)
    expected = (kk + 9.0) ** -2.0 / length**3
    expected[0, 0, 0] = 0
    assert np.allclose(ref, expected, rtol=1e-12)
    interior = np.ones((n, n, n), bool)
    for ax in range(3):
        idx = [slice(None)] * 3
        idx[ax] = n // 2
        interior[tuple(idx)] = False
    interior[0, 0, 0] = False
    assert np.abs(power[interior] / ref[interior] - 1).max() < 0.10


def test_grf_samples_depend_only_on_their_own_rng():
    rngs = sample_rngs(3, range(5))
    batch = periodic_grf(rngs, (16, 16), 2.5, 7.0)
    alone = periodic_grf([sample_rng(3, 3)], (16, 16), 2.5, 7.0)
    assert np.array_equal(batch[3], alone[0])
    nb = neumann_grf(sample_rngs(3, range(5)), (16, 16), 2.0, 3.0)
    na = neumann_grf([sample_rng(3, 3)], (16, 16), 2.0, 3.0)
    assert np.array_equal(nb[3], na[0])


def test_grf_master_grid_gives_same_function_at_every_resolution():
    coarse = periodic_grf(sample_rngs(4, range(3)), 64, 2.0, 5.0, sigma=25.0, master_shape=256)
    fine = periodic_grf(sample_rngs(4, range(3)), 256, 2.0, 5.0, sigma=25.0)
    cc, cf = np.fft.rfft(coarse) / 64, np.fft.rfft(fine) / 256
    assert np.abs(cc[:, :32] - cf[:, :32]).max() < 1e-14  # all but the (real) Nyquist mode
    c2 = periodic_grf(sample_rngs(4, range(2)), (16, 16), 2.5, 7.0, master_shape=(32, 32))
    f2 = periodic_grf(sample_rngs(4, range(2)), (32, 32), 2.5, 7.0)
    a, b = np.fft.fft2(c2) / 256, np.fft.fft2(f2) / 1024
    keep = np.r_[0:8, 25:32]  # |k| < 8 of the fine grid, in FFT order
    assert np.abs(a[:, np.r_[0:8, 9:16]][:, :, np.r_[0:8, 9:16]] - b[:, keep][:, :, keep]).max() < 1e-14
    nc = neumann_grf(sample_rngs(4, range(2)), (16, 16), 2.0, 3.0, master_shape=(32, 32))
    nf = neumann_grf(sample_rngs(4, range(2)), (32, 32), 2.0, 3.0)
    dc = scipy.fft.dctn(nc, type=2, norm="forward", axes=(1, 2))
    df = scipy.fft.dctn(nf, type=2, norm="forward", axes=(1, 2))
    assert np.abs(dc - df[:, :16, :16]).max() < 1e-14


def test_neumann_grf_spectrum_matches_formula():
    n, alpha, tau = 32, 2.0, 3.0
    # Real cosine coefficients carry 3.2 % noise per mode at 2000 draws; 4000
    # brings the 10 % tolerance to 4.5 standard deviations over 1023 modes.
    u = neumann_grf(sample_rngs(9, range(4000)), (n, n), alpha, tau)
    coef = scipy.fft.dctn(u, type=2, norm="forward", axes=(1, 2))
    power = (coef**2).mean(axis=0)
    ref = neumann_spectrum((n, n), alpha, tau)
    k = np.arange(n)
    lam = np.pi**2 * (k[:, None] ** 2 + k[None, :] ** 2)
    w = np.where(k == 0, 1.0, 0.5)
    expected = tau ** (2 * alpha - 2) * (lam + tau**2) ** (-alpha) * w[:, None] * w[None, :]
    expected[0, 0] = 0
    assert np.allclose(ref, expected, rtol=1e-12)
    assert power[0, 0] < 1e-25
    assert np.abs(power.ravel()[1:] / ref.ravel()[1:] - 1).max() < 0.10
    # Cell-centred cosines: even reflection about both walls (zero normal derivative).
    one = neumann_grf(sample_rngs(9, range(1)), (n, n), alpha, tau)[0]
    ext = np.concatenate([one, one[::-1]], axis=0)
    assert np.abs(np.fft.fft(ext, axis=0).imag[1 : n // 2]).max() > 0  # sanity: not trivially even
    grid = (np.arange(n) + 0.5) / n
    phi = np.sqrt(2) * np.cos(np.pi * 3 * grid)
    assert np.isclose(coef[0, 3, 0], (one * phi[:, None]).mean() / np.sqrt(2), rtol=0, atol=1e-12)


def test_grf_rejects_bad_arguments():
    with pytest.raises(ValueError, match="alpha"):
        periodic_grf(sample_rngs(0, [0]), 8, alpha=0.0, tau=1.0)
    with pytest.raises(ValueError, match="dimensions"):
        periodic_grf(sample_rngs(0, [0]), (4, 4, 4, 4), 2.0, 1.0)
    with pytest.raises(ValueError, match="length"):
        neumann_grf(sample_rngs(0, [0]), 8, 2.0, 1.0, length=-1.0)


# ----------------------------------------------------------------------------- parameters


def test_parameter_conversion_and_errors():
    p = Parameter("flag", False, "1", "A switch.", bool)
    assert p.convert("yes") is True and p.convert("0") is False and p.flag == "--flag"
    with pytest.raises(ValueError, match="flag"):
        p.convert("maybe")
    n = Parameter("n", 4, "1", "Count.", int)
    assert n.convert("12") == 12 and n.convert(3.0) == 3
    with pytest.raises(ValueError, match="expects int"):
        n.convert(2.5)
    f = Parameter("nu", 0.1, "1", "Viscosity.", float)
    with pytest.raises(ValueError, match="finite"):
        f.convert("nan")
    m = Parameter("method", "a", "1", "Method.", str, ("a", "b"))
    with pytest.raises(ValueError, match="one of a, b"):
        m.convert("c")
    with pytest.raises(ValueError, match="did you mean 'viscosity'"):
        burgers.SOLVER.resolve({"viscosty": 0.1})
    with pytest.raises(ValueError, match="reserved"):
        SolverSpec("x", "t", "p", (Parameter("seed", 0, "1", "no", int),))


# ----------------------------------------------------------------------------- files


def _interrupting(spec, at_call, exc):
    """The spec, with generate raising ``exc`` at its ``at_call``-th call."""
    calls = {"n": 0}

    def generate(params, indices, rngs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise exc
        return spec.generate(params, indices, rngs)

    return dataclasses.replace(spec, generate=generate), calls


def test_uninterrupted_and_resumed_runs_give_identical_bytes(tmp_path):
    kw = dict(seed=3, chunk_size=3, progress=False, **TINY)
    a = generate_dataset(burgers.SOLVER, tmp_path / "a.nc", 10, **kw)
    # Ctrl-C during the third chunk: two parts stay on disk.
    broken, _ = _interrupting(burgers.SOLVER, 3, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(broken, tmp_path / "b.nc", 10, **kw)
    parts = tmp_path / "b.nc.parts"
    assert sorted(p.name for p in parts.glob("part-*.nc")) == ["part-000000.nc", "part-000001.nc"]
    assert not (tmp_path / "b.nc").exists()
    # Resume computes only the missing chunks.
    counting, calls = _interrupting(burgers.SOLVER, -1, None)
    b = generate_dataset(counting, tmp_path / "b.nc", 10, **kw)
    assert calls["n"] == 2
    assert not parts.exists() and not (tmp_path / "b.nc.tmp").exists()
    assert sha(a) == sha(b)
    # A crash (exception) at the first chunk, then a resume, too.
    crashing, _ = _interrupting(burgers.SOLVER, 1, RuntimeError("boom"))
    with pytest.raises(RuntimeError):
        generate_dataset(crashing, tmp_path / "c.nc", 10, **kw)
    assert sha(generate_dataset(burgers.SOLVER, tmp_path / "c.nc", 10, **kw)) == sha(a)


def test_two_dask_workers_give_the_serial_file(tmp_path):
    kw = dict(seed=5, chunk_size=2, progress=False, **TINY)
    serial = generate_dataset(burgers.SOLVER, tmp_path / "serial.nc", 7, **kw)
    parallel = generate_dataset(burgers.SOLVER, tmp_path / "parallel.nc", 7, workers=2, **kw)
    assert sha(serial) == sha(parallel)
    # An existing cluster, reached by its address (--scheduler).
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = generate_dataset(burgers.SOLVER, tmp_path / "remote.nc", 7, scheduler=cluster.scheduler_address, **kw)
    assert sha(serial) == sha(remote)


def test_sample_is_bitwise_identical_in_batches_of_1_3_16():
    params = burgers.SOLVER.resolve(dict(resolution=64, solver_resolution=256, grf_resolution=256, n_times=2, max_dt=0.01))
    idx = np.arange(16)
    full = compute_chunk(burgers.SOLVER, params, idx, 1)
    threes = [compute_chunk(burgers.SOLVER, params, idx[s : s + 3], 1) for s in range(0, 16, 3)]
    ones = [compute_chunk(burgers.SOLVER, params, idx[s : s + 1], 1) for s in (0, 7, 15)]
    by3 = xr.concat(threes, dim="sample")
    for name in ("u0", "u", "time_step"):
        assert np.array_equal(full[name].values, by3[name].values)
    for one in ones:
        i = int(one.sample[0])
        for name in ("u0", "u"):
            assert np.array_equal(full[name].values[i], one[name].values[0])


def test_existing_output_with_other_parameters_is_refused(tmp_path):
    out = tmp_path / "d.nc"
    generate_dataset(burgers.SOLVER, out, 4, progress=False, **TINY)
    before, mtime = sha(out), out.stat().st_mtime_ns
    with pytest.raises(FileExistsError, match=r"parameters\.viscosity: 0\.1 on disk, 0\.2 now"):
        generate_dataset(burgers.SOLVER, out, 4, progress=False, **dict(TINY, viscosity=0.2))
    with pytest.raises(FileExistsError, match="n_samples: 4 on disk, 5 now"):
        generate_dataset(burgers.SOLVER, out, 5, progress=False, **TINY)
    assert sha(out) == before and not (tmp_path / "d.nc.parts").exists()
    # Same configuration: nothing to do, file untouched.
    spy, calls = _interrupting(burgers.SOLVER, -1, None)
    assert generate_dataset(spy, out, 4, progress=False, **TINY) == out
    assert calls["n"] == 0 and out.stat().st_mtime_ns == mtime
    # Killed after the rename but before the clean-up: the leftover parts go.
    leftover = _io.PartStore(out, _io.run_config("burgers", burgers.SOLVER.resolve(TINY), 4, 0, 16))
    leftover.open()
    generate_dataset(burgers.SOLVER, out, 4, progress=False, **TINY)
    assert not leftover.path.exists() and out.stat().st_mtime_ns == mtime
    # A file that is not ours is never overwritten either.
    foreign = tmp_path / "foreign.nc"
    foreign.write_bytes(b"not netcdf")
    with pytest.raises(FileExistsError, match="not an opkit solver file"):
        generate_dataset(burgers.SOLVER, foreign, 2, progress=False, **TINY)
    assert foreign.read_bytes() == b"not netcdf"


def test_parts_of_other_configuration_are_refused_and_no_resume_restarts(tmp_path):
    out = tmp_path / "e.nc"
    broken, _ = _interrupting(burgers.SOLVER, 2, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(broken, out, 6, chunk_size=2, seed=1, progress=False, **TINY)
    parts = tmp_path / "e.nc.parts"
    listing = sorted(p.name for p in parts.iterdir())
    with pytest.raises(FileExistsError, match="seed: 1 on disk, 2 now"):
        generate_dataset(burgers.SOLVER, out, 6, chunk_size=2, seed=2, progress=False, **TINY)
    with pytest.raises(FileExistsError, match="chunk_size"):
        generate_dataset(burgers.SOLVER, out, 6, chunk_size=3, seed=1, progress=False, **TINY)
    assert sorted(p.name for p in parts.iterdir()) == listing
    spy, calls = _interrupting(burgers.SOLVER, -1, None)
    generate_dataset(spy, out, 6, chunk_size=2, seed=1, progress=False, resume=False, **TINY)
    assert calls["n"] == 3  # every chunk recomputed


def test_unwritable_output_fails_before_any_compute(tmp_path):
    spy, calls = _interrupting(burgers.SOLVER, -1, None)
    (tmp_path / "file").write_text("x")
    cases = [
        (tmp_path / "missing" / "x.nc", FileNotFoundError, "does not exist"),
        (tmp_path / "file" / "x.nc", NotADirectoryError, "not a directory"),
        (tmp_path, IsADirectoryError, "is a directory"),
    ]
    for out, exc, msg in cases:
        with pytest.raises(exc, match=msg):
            generate_dataset(spy, out, 2, progress=False, **TINY)
    if os.geteuid() != 0:  # root writes anywhere: the permission case needs a normal user
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        with pytest.raises(PermissionError, match="not writable"):
            generate_dataset(spy, ro / "x.nc", 2, progress=False, **TINY)
    assert calls["n"] == 0


def test_file_follows_conventions(tmp_path):
    out = generate_dataset(burgers.SOLVER, tmp_path / "f.nc", 5, seed=4, chunk_size=2, progress=False, **TINY)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert list(ds.u.dims) == ["sample", "time", "x"]
        assert ds.u.dtype == np.float32 and ds.u0.dtype == np.float32
        assert ds.x.dtype == np.float64 and ds.time.dtype == np.float64 and ds.sample.dtype == np.int64
        assert ds.u.encoding["zlib"] and ds.u.encoding["complevel"] == 4 and ds.u.encoding["shuffle"]
        assert ds.u.encoding["chunksizes"] == (1, 3, 16)
        for name in ("x", "time"):
            assert ds[name].attrs["units"] == "1" and "long_name" in ds[name].attrs and "axis" in ds[name].attrs
        for name in ds.data_vars:
            assert {"long_name", "units", "opkit_role"} <= set(ds[name].attrs)
        assert ds.u0.attrs["opkit_role"] == "input" and ds.u.attrs["opkit_role"] == "output"
        assert ds.time_step.attrs["opkit_role"] == "auxiliary"
        a = ds.attrs
        for key in ("Conventions", "title", "pde", "equation", "domain", "bc_x", "solver", "solver_version",
                    "seed", "seeding", "chunk_size", "parameters", "history", "opkit_inputs", "opkit_outputs",
                    "method", "solver_resolution", "output_resolution", "downsampling", "library_versions"):
            assert key in a, key
        assert a["Conventions"] == "CF-1.10" and a["solver"] == "burgers" and a["bc_x"] == "periodic"
        assert (a["opkit_inputs"], a["opkit_outputs"]) == ("u0", "u")
        assert a["seed"] == 4 and a["chunk_size"] == 2
        params = json.loads(a["parameters"])
        assert list(params) == sorted(params)
        for key, value in params.items():
            assert a[key] == value, key  # every parameter also on its own
        assert "f.nc" not in a["history"] and "--viscosity 0.1" in a["history"]
        assert not re.search(r"\d{4}-\d\d-\d\d|\d\d:\d\d", a["history"])  # no timestamp
        assert a["solver_version"] == _io._opkit_version()
    log = json.loads((tmp_path / "f.nc.log.json").read_text())
    assert log["n_samples"] == 5 and log["wall_time_s"] >= 0 and log["computed"] == 5


def test_history_reproduces_the_file(tmp_path):
    out = generate_dataset(burgers.SOLVER, tmp_path / "h.nc", 3, seed=2, chunk_size=2, progress=False, **TINY)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        history = ds.attrs["history"]
    argv = history.split()[3:] + ["--out", str(tmp_path / "again.nc"), "--no-progress"]
    assert run_cli(burgers.SOLVER, argv) == 0
    assert sha(tmp_path / "again.nc") == sha(out)


def test_split_flags_the_last_samples_test_and_history_keeps_it(tmp_path):
    out = generate_dataset(burgers.SOLVER, tmp_path / "s.nc", 7, seed=2, chunk_size=3, progress=False,
                           n_validation=2, n_test=3, **TINY)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds.split.values, [0, 0, 1, 1, 2, 2, 2])
        assert ds.split.dtype == np.int8 and ds.split.dims == ("sample",)
        assert ds.split.attrs["flag_meanings"] == "train validation test"
        np.testing.assert_array_equal(ds.split.attrs["flag_values"], [0, 1, 2])
        assert ds.split.attrs["opkit_role"] == "auxiliary"
        assert "--n-validation 2 --n-test 3" in ds.attrs["history"]
        assert json.loads(ds.attrs["opkit_config"])["split"] == {"n_validation": 2, "n_test": 3}
        history, u = ds.attrs["history"], ds.u.values
    # The split flags samples; it does not change them.
    plain = generate_dataset(burgers.SOLVER, tmp_path / "p.nc", 7, seed=2, chunk_size=3, progress=False, **TINY)
    with xr.open_dataset(plain, engine="h5netcdf") as ds:
        np.testing.assert_array_equal(ds.u.values, u)
        assert (ds.split.values == 0).all() and "--n-test" not in ds.attrs["history"]
    argv = history.split()[3:] + ["--out", str(tmp_path / "again.nc"), "--no-progress"]
    assert run_cli(burgers.SOLVER, argv) == 0
    assert sha(tmp_path / "again.nc") == sha(out)


@pytest.mark.parametrize("split,match", [((-1, 0), "n_validation must be"), ((3, 4), "leaves no training sample")])
def test_bad_split_is_refused_before_compute(tmp_path, split, match):
    with pytest.raises(ValueError, match=match):
        generate_dataset(burgers.SOLVER, tmp_path / "b.nc", 7, progress=False,
                         n_validation=split[0], n_test=split[1], **TINY)
    assert not (tmp_path / "b.nc").exists()


def test_blow_up_names_sample_and_parameters(tmp_path):
    def generate(params, indices, rngs):
        u = np.stack([rng.standard_normal(4) for rng in rngs])
        u[indices == 5] = np.nan
        return xr.Dataset({"u": (("sample", "x"), u, {"units": "1", "long_name": "u"})},
                          coords={"x": ("x", np.arange(4.0), {"units": "1"})})

    toy = SolverSpec("toy", "toy", "none", (Parameter("gain", 2.0, "1", "Gain."),), generate,
                     lambda p: {"opkit_inputs": "", "opkit_outputs": "u"})
    with pytest.raises(BlowUpError, match=r"sample 5 \(seed 0\) has non-finite values in 'u'.*\"gain\": 2\.0"):
        generate_dataset(toy, tmp_path / "toy.nc", 8, chunk_size=4, progress=False)
    assert (tmp_path / "toy.nc.parts" / "part-000000.nc").exists()  # the finished chunk is kept


def test_static_variables_are_stored_once(tmp_path):
    def generate(params, indices, rngs):
        u = np.stack([rng.standard_normal(4) for rng in rngs])
        return xr.Dataset(
            {
                "u": (("sample", "x"), u, {"units": "1", "long_name": "u"}),
                "forcing": ("x", np.linspace(0, 1, 4), {"units": "1", "long_name": "f"}),
            },
            coords={"x": ("x", np.arange(4.0), {"units": "1"})},
        )

    toy = SolverSpec("toy", "toy", "none", (), generate, lambda p: {"opkit_inputs": "forcing", "opkit_outputs": "u"})
    out = generate_dataset(toy, tmp_path / "static.nc", 5, chunk_size=2, progress=False)
    with xr.open_dataset(out, engine="h5netcdf") as ds:
        assert ds.forcing.dims == ("x",) and np.allclose(ds.forcing, np.linspace(0, 1, 4))
        assert ds.forcing.attrs["opkit_role"] == "input" and ds.u.attrs["opkit_role"] == "output"
        assert np.array_equal(ds.u.values[3], sample_rng(0, 3).standard_normal(4).astype(np.float32))


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_killed_cli_run_resumes_to_identical_file(tmp_path):
    settings = dict(resolution=16, solver_resolution=512, grf_resolution=512)
    ref = generate_dataset(burgers.SOLVER, tmp_path / "ref.nc", 12, seed=9, chunk_size=2, progress=False, **settings)
    out = tmp_path / "k.nc"
    argv = ["--n-samples", "12", "--chunk-size", "2", "--seed", "9", "--resolution", "16",
            "--solver-resolution", "512", "--grf-resolution", "512", "--no-progress", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "solvers.burgers", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = tmp_path / "k.nc.parts" / "part-000001.nc"
    deadline = time.time() + 60
    while not part.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up
    proc.wait(timeout=30)
    killed_midway = not out.exists()
    spy, calls = _interrupting(burgers.SOLVER, -1, None)
    assert run_cli(spy, argv) == 0  # the same command, rerun
    if killed_midway:
        assert calls["n"] < 6, calls
    print("killed midway:", killed_midway, "chunks recomputed:", calls["n"])
    assert sha(out) == sha(ref)


# ----------------------------------------------------------------------------- CLI and presets


def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys):
    cases = [
        (["--preset", "no-such-preset"], "unknown preset 'no-such-preset' for solver 'burgers'; available: fno-burgers"),
        (["--n-samples", "0"], "n_samples must be a positive integer, got 0"),
        (["--n-samples", "2", "--set", "viscosty=1"], "did you mean 'viscosity'"),
        (["--n-samples", "2", "--set", "viscosity"], "--set expects KEY=VALUE"),
        (["--n-samples", "2", "--viscosity", "-1"], "viscosity must be > 0"),
        (["--n-samples", "2", "--out", str(tmp_path / "nope" / "x.nc")], "does not exist"),
        (["--n-samples", "2", "--seed", "-3"], "seed must be a non-negative integer"),
    ]
    for argv, message in cases:
        assert run_cli(burgers.SOLVER, argv) == 2, argv
        err = capsys.readouterr().err
        assert message in err, (argv, err)
        assert "Traceback" not in err and err.count("\n") == 1
    other = tmp_path / "ns.toml"
    other.write_text('solver = "navier_stokes"\n[parameters]\n')
    assert run_cli(burgers.SOLVER, ["--preset", str(other), "--n-samples", "1"]) == 2
    assert "is for solver 'navier_stokes', not 'burgers'" in capsys.readouterr().err
    typo = tmp_path / "typo.toml"
    typo.write_text('solver = "burgers"\nn_sample = 3\n')
    assert run_cli(burgers.SOLVER, ["--preset", str(typo)]) == 2
    assert "unknown keys ['n_sample']" in capsys.readouterr().err


def test_cli_dry_run_prints_configuration_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "dry.nc"
    argv = ["--preset", "neuralop-burgers-small", "--n-samples", "3", "--dry-run", "--out", str(out),
            "--set", "solver_resolution=64", "--grf-resolution", "64"]
    assert run_cli(burgers.SOLVER, argv) == 0
    text = capsys.readouterr().out
    config = json.loads(text[: text.index("estimate:")])
    assert config["parameters"]["viscosity"] == 0.01 and config["parameters"]["solver_resolution"] == 64
    assert config["n_samples"] == 3 and config["preset"] == "neuralop-burgers-small"
    assert "s per sample" in text
    assert list(tmp_path.iterdir()) == []


def test_presets_resolve_for_their_solvers():
    presets = _cli.list_presets()
    assert {"fno-burgers", "neuralop-burgers-small"} <= set(presets)
    for name, (solver, description) in presets.items():
        module = pytest.importorskip(f"solvers.{solver}")
        recipe = load_preset(name, solver)
        assert description
        module.SOLVER.resolve(recipe["parameters"])  # raises if a value is invalid


def test_installed_wheel_finds_presets_under_its_prefix(tmp_path):
    """Without a checkout's datasets/, the copy a wheel installs under
    <prefix>/share/opkit/datasets is used; every recipe is listed in pyproject."""
    installed = tmp_path / "prefix" / "share" / "opkit" / "datasets"
    installed.mkdir(parents=True)
    site_package = tmp_path / "site-packages" / "solvers"
    site_package.mkdir(parents=True)
    assert _cli._find_datasets_dir(site_package, tmp_path / "prefix") == installed
    checkout = Path(_cli.__file__).resolve().parent
    assert _cli._find_datasets_dir(checkout, tmp_path / "prefix") == checkout.parent / "datasets"
    pyproject = (checkout.parent / "pyproject.toml").read_text()
    assert '"share/opkit/datasets" = ["datasets/*.toml"]' in pyproject


def test_python_m_solvers_lists_modules_and_presets(capsys):
    from solvers.__main__ import main

    assert main([]) == 0
    out = capsys.readouterr().out
    assert "burgers" in out and "--preset fno-burgers" in out and "--preset neuralop-burgers-small" in out
