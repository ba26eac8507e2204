"""A failed or abandoned solver run never blocks the corrected rerun.

Uses the real Burgers solver on tiny grids: an under-resolved viscosity makes
``generate`` refuse the first chunk, which is how a user meets the problem.
"""

import dataclasses

import pytest

from solvers import burgers
from solvers._cli import generate_dataset, run_cli

TINY = dict(resolution=16, solver_resolution=64, grf_resolution=64, n_times=3, max_dt=0.02)
#: Shock width viscosity/max|u0| far below 2h on 64 points: refused at the first chunk.
UNRESOLVABLE = dict(TINY, viscosity=1e-4)


def _failing_at(spec, at_call):
    """The spec, with generate raising ValueError at its ``at_call``-th call."""
    calls = {"n": 0}

    def generate(params, indices, rngs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise ValueError("solver refused this chunk")
        return spec.generate(params, indices, rngs)

    return dataclasses.replace(spec, generate=generate), calls


def test_failed_run_without_finished_chunk_leaves_no_parts(tmp_path):
    out = tmp_path / "b.nc"
    with pytest.raises(ValueError, match="shock width"):
        generate_dataset(burgers.SOLVER, out, 4, chunk_size=2, progress=False, **UNRESOLVABLE)
    assert not (tmp_path / "b.nc.parts").exists()
    assert list(tmp_path.iterdir()) == []
    # The corrected command (another configuration) now just runs.
    assert generate_dataset(burgers.SOLVER, out, 4, chunk_size=2, progress=False, **TINY) == out
    assert out.exists() and not (tmp_path / "b.nc.parts").exists()


def test_cli_failed_run_then_corrected_rerun(tmp_path, capsys):
    out = tmp_path / "c.nc"
    base = ["--n-samples", "2", "--no-progress", "--out", str(out), "--resolution", "16",
            "--solver-resolution", "64", "--grf-resolution", "64", "--n-times", "3", "--max-dt", "0.02"]
    assert run_cli(burgers.SOLVER, base + ["--viscosity", "1e-4"]) == 2
    assert "shock width" in capsys.readouterr().err
    assert run_cli(burgers.SOLVER, base) == 0
    assert out.exists()


def test_failure_after_a_finished_chunk_keeps_the_parts(tmp_path):
    out = tmp_path / "d.nc"
    broken, _ = _failing_at(burgers.SOLVER, 2)
    with pytest.raises(ValueError, match="refused this chunk"):
        generate_dataset(broken, out, 4, chunk_size=2, progress=False, **TINY)
    parts = tmp_path / "d.nc.parts"
    assert sorted(p.name for p in parts.glob("part-*.nc")) == ["part-000000.nc"]
    # Resumable: the rerun computes only the missing chunk.
    counting, calls = _failing_at(burgers.SOLVER, -1)
    generate_dataset(counting, out, 4, chunk_size=2, progress=False, **TINY)
    assert calls["n"] == 1 and not parts.exists()


def _parts_of_another_configuration(tmp_path):
    out = tmp_path / "e.nc"
    broken, _ = _failing_at(burgers.SOLVER, 2)
    with pytest.raises(ValueError):
        generate_dataset(broken, out, 4, chunk_size=2, progress=False, **dict(TINY, viscosity=0.2))
    parts = tmp_path / "e.nc.parts"
    assert (parts / "part-000000.nc").exists()
    return out, parts


def test_other_configuration_error_names_folder_and_flag(tmp_path):
    out, parts = _parts_of_another_configuration(tmp_path)
    with pytest.raises(FileExistsError) as info:
        generate_dataset(burgers.SOLVER, out, 4, chunk_size=2, progress=False, **TINY)
    message = str(info.value)
    assert str(parts) in message and "--no-resume" in message and "resume=False" in message
    assert "parameters.viscosity: 0.2 on disk, 0.1 now" in message
    assert (parts / "part-000000.nc").exists()  # refused: nothing touched


def test_no_resume_discards_parts_of_another_configuration_and_says_so(tmp_path):
    out, parts = _parts_of_another_configuration(tmp_path)
    with pytest.warns(RuntimeWarning, match="discarding") as record:
        generate_dataset(burgers.SOLVER, out, 4, chunk_size=2, progress=False, resume=False, **TINY)
    assert any(str(parts) in str(w.message) for w in record)
    assert out.exists() and not parts.exists()


def test_cli_no_resume_discards_parts_of_another_configuration(tmp_path, capsys):
    out, parts = _parts_of_another_configuration(tmp_path)
    argv = ["--n-samples", "4", "--chunk-size", "2", "--no-progress", "--out", str(out), "--resolution", "16",
            "--solver-resolution", "64", "--grf-resolution", "64", "--n-times", "3", "--max-dt", "0.02"]
    assert run_cli(burgers.SOLVER, argv) == 2
    err = capsys.readouterr().err
    assert str(parts) in err and "--no-resume" in err
    with pytest.warns(RuntimeWarning, match="discarding"):
        assert run_cli(burgers.SOLVER, argv + ["--no-resume"]) == 0
    assert out.exists() and not parts.exists()
