"""Start-up stays light: heavy libraries load only where they are used (issue #19)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLVERS = sorted(p.stem for p in (ROOT / "solvers").glob("*.py") if not p.stem.startswith("_"))
HEAVY = ("torch", "neuralop", "dask")


def loaded_after(code):
    """The HEAVY modules really executed (not just registered lazily) after ``code``, in a fresh interpreter."""
    probe = (
        f"{code}\nimport sys, json\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules "
        "and type(sys.modules[m]).__name__ != '_LazyModule']))"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_opkit_loads_neither_neuralop_nor_dask():
    loaded = loaded_after("import opkit")
    assert "neuralop" not in loaded and "dask" not in loaded, loaded


@pytest.mark.parametrize("name", SOLVERS)
def test_solver_help_loads_no_torch_neuralop_or_dask(name):
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['solvers.{name}', '--help']\n"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        runpy.run_module('solvers.{name}', run_name='__main__')\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code in (0, None), stop.code"
    )
    assert loaded_after(code) == []


def test_lazy_exports_resolve():
    # every name in opkit.__all__ and opkit.io.__all__ still comes from its module
    code = (
        "import opkit, opkit.io\n"
        "missing = [n for n in opkit.__all__ if getattr(opkit, n, None) is None]\n"
        "missing += [n for n in opkit.io.__all__ if getattr(opkit.io, n, None) is None]\n"
        "assert not missing, missing\n"
        "from opkit import OpKit, TFNORegressor, load, metrics\n"
        "assert metrics.relative_error.__module__ == 'opkit.metrics.fields'"
    )
    # the estimators behind the lazy names really loaded their stack
    assert "torch" in loaded_after(code)


def test_a_fresh_interpreter_finds_the_estimators_by_name(tmp_path):
    """The lazy exports load no model, yet opkit.ESTIMATORS, opkit.load and OpKit look names up."""
    from opkit.data import load_darcy_small
    from opkit.models import LSMOperator

    train = load_darcy_small("train").isel(sample=slice(0, 4))
    path = LSMOperator(max_epochs=1, random_state=0).fit(train.a, train.u).save(tmp_path / "lsm.opkit")
    code = (
        "import opkit\n"
        "assert {'TFNORegressor', 'MgNOOperator', 'LSMOperator'} <= set(opkit.ESTIMATORS), opkit.ESTIMATORS\n"
        f"print(type(opkit.load({str(path)!r})).__name__)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "LSMOperator"
