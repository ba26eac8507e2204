"""Command line and Python API shared by every solver module.

``python -m solvers.<name> [options]`` is :func:`run_cli` on the module's
``SOLVER``; notebooks and tests call :func:`generate_dataset`. Both resolve the
parameters (solver defaults < preset < explicit values), check the output path
before computing anything, compute the missing chunks (serially, on a
``LocalCluster`` with ``workers`` processes, or on an existing dask cluster at
``scheduler``), show a progress bar over samples and assemble the file (see
:mod:`solvers._io`).

Presets are TOML recipes ``datasets/<name>.toml`` at the repository root (a wheel
installs them under ``<prefix>/share/opkit/datasets``)::

    solver = "burgers"                 # must match the module
    description = "FNO paper's Burgers set (u0 -> u(., 1))"
    reference = "Li et al., Fourier Neural Operator ..."
    n_samples = 2048                   # optional: n_samples, seed, chunk_size
    [parameters]                       # any solver parameter, resolution included
    viscosity = 0.1
    resolution = 1024

``--preset`` also takes a path to such a file.

Exit codes of :func:`run_cli`: 0 success, 1 a sample blew up, 2 bad input
(one line on stderr, no traceback), 130 interrupted (finished chunks are kept:
rerun the same command to resume).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _io
from ._runtime import add_runtime_options, check_runtime, limit_threads
from ._seed import check_seed, sample_rngs
from ._spec import BlowUpError

__all__ = [
    "DATASETS_DIR",
    "RunResult",
    "compute_chunk",
    "split_flags",
    "generate_dataset",
    "list_presets",
    "load_preset",
    "run_cli",
]

def _find_datasets_dir(package_dir=Path(__file__).resolve().parent, prefix=sys.prefix):
    """``datasets/`` beside the package in a source checkout, else the installed copy.

    A wheel carries the recipes as data files under ``<prefix>/share/opkit/datasets``
    (``[tool.setuptools.data-files]`` in ``pyproject.toml``), since ``datasets/`` is
    deliberately not a Python package.
    """
    checkout = Path(package_dir).parent / "datasets"
    installed = Path(prefix) / "share" / "opkit" / "datasets"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


#: Folder of the preset recipes (``datasets/`` at the repository root, or the copy
#: a non-editable install puts under ``<prefix>/share/opkit/datasets``).
DATASETS_DIR = _find_datasets_dir()

_PRESET_KEYS = {
    "solver", "description", "reference", "notes", "n_samples", "seed", "chunk_size",
    "n_validation", "n_test", "resolution", "parameters",
}
_RUN_KEYS = ("n_samples", "seed", "chunk_size", "n_validation", "n_test")
DEFAULT_CHUNK_SIZE = 16


# ----------------------------------------------------------------------------- presets


def list_presets(solver=None):
    """Preset names in ``datasets/``, optionally only those of one solver.

    Parameters
    ----------
    solver : str, optional

    Returns
    -------
    dict
        ``{preset name: (solver, description)}``, sorted by name; files that do
        not parse are skipped.
    """
    found = {}
    if not DATASETS_DIR.is_dir():
        return found
    for path in sorted(DATASETS_DIR.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError):
            continue
        if solver is None or data.get("solver") == solver:
            found[path.stem] = (data.get("solver", "?"), data.get("description", ""))
    return found


def load_preset(name, solver):
    """Read a preset recipe and check that it belongs to ``solver``.

    Parameters
    ----------
    name : str
        Preset name (``datasets/<name>.toml``) or a path to a ``.toml`` file.
    solver : str
        Solver that will run it.

    Returns
    -------
    dict
        ``{"name": ..., "run": {n_samples/seed/chunk_size given}, "parameters": {...},
        "description": ...}``.

    Raises
    ------
    ValueError
        Unknown preset (the message lists this solver's presets), unreadable
        file, unknown keys, or a preset made for another solver.
    """
    candidate = Path(name)
    if candidate.suffix == ".toml" and candidate.exists():
        path, label = candidate, candidate.stem
    else:
        path, label = DATASETS_DIR / f"{name}.toml", name
        if not path.exists():
            mine = ", ".join(list_presets(solver)) or "none"
            raise ValueError(f"unknown preset {name!r} for solver {solver!r}; available: {mine}")
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"cannot read preset {str(path)!r}: {exc}") from None
    unknown = set(data) - _PRESET_KEYS
    if unknown:
        raise ValueError(f"preset {label!r}: unknown keys {sorted(unknown)} (allowed: {sorted(_PRESET_KEYS)})")
    if data.get("solver") != solver:
        raise ValueError(f"preset {label!r} is for solver {data.get('solver')!r}, not {solver!r}")
    params = dict(data.get("parameters", {}))
    if "resolution" in data:
        params.setdefault("resolution", data["resolution"])
    return {
        "name": label,
        "run": {k: data[k] for k in _RUN_KEYS if k in data},
        "parameters": params,
        "description": data.get("description", ""),
    }


# ----------------------------------------------------------------------------- compute


def _role_of(name, attrs):
    if name in str(attrs.get("opkit_inputs", "")).split():
        return "input"
    if name in str(attrs.get("opkit_outputs", "")).split():
        return "output"
    return "auxiliary"


def split_flags(indices, n_samples, split=(0, 0)):
    """The ``split`` flag of each sample: 0 train, 1 validation, 2 test.

    The last ``n_test`` samples of a run are its test set and the
    ``n_validation`` before them its validation set (FNO's convention: the
    first samples train, the last ones test), so growing ``n_samples`` with the
    same split moves samples between sets but never changes a sample itself.

    Parameters
    ----------
    indices : ndarray of int
        Sample indices.
    n_samples : int
        Samples in the run.
    split : (int, int), optional
        ``(n_validation, n_test)``; ``(0, 0)`` (default) flags every sample train.

    Returns
    -------
    ndarray of int8
    """
    n_validation, n_test = split
    indices = np.asarray(indices, dtype=np.int64)
    flags = np.zeros(indices.shape, dtype=np.int8)
    flags[indices >= n_samples - n_test - n_validation] = 1
    flags[indices >= n_samples - n_test] = 2
    return flags


#: Attributes of the ``split`` variable (CF flags).
SPLIT_ATTRS = {
    "long_name": "dataset split",
    "units": "1",
    "flag_values": np.array([0, 1, 2], dtype=np.int8),
    "flag_meanings": "train validation test",
    "opkit_role": "auxiliary",
}


def compute_chunk(spec, params, indices, seed, n_samples=None, split=(0, 0)):
    """Compute one chunk: seed the samples, call the solver, check the result.

    This is the unit of work sent to dask workers; it returns the chunk in
    storage dtypes (:func:`solvers._io.to_storage`).

    Parameters
    ----------
    spec : SolverSpec
    params : dict
        Resolved parameters.
    indices : ndarray of int
        Sample indices of the chunk.
    seed : int
        Run seed.
    n_samples : int, optional
        Samples in the whole run (default: ``max(indices) + 1``); with ``split``
        it places the ``split`` flags (:func:`split_flags`).
    split : (int, int), optional
        ``(n_validation, n_test)`` of the run (default: every sample train).

    Returns
    -------
    xarray.Dataset
        With an int64 ``sample`` coordinate equal to ``indices``, an int8
        ``split`` variable (0 train, 1 validation, 2 test) and ``opkit_role``
        on every data variable.

    Raises
    ------
    BlowUpError
        A sample's output holds NaN or inf; the message names the sample index,
        the variable and the parameters.
    ValueError
        The solver returned a variable whose ``sample`` dimension is not first
        or not of the right length. Variables without ``sample`` are static
        (e.g. a forcing field) and are stored once.
    """
    indices = np.asarray(indices, dtype=np.int64)
    ds = spec.generate(params, indices, sample_rngs(seed, indices))
    for name, var in ds.data_vars.items():
        if "sample" not in var.dims:
            continue  # static (the same for every sample): stored once, from the first part
        if var.dims[0] != "sample" or var.shape[0] != len(indices):
            raise ValueError(
                f"solver {spec.name!r} returned variable {name!r} with dims {var.dims} and shape {var.shape}; "
                f"expected a leading 'sample' dimension of length {len(indices)}"
            )
        if np.issubdtype(var.dtype, np.floating):
            finite = np.isfinite(var.values).reshape(len(indices), -1).all(axis=1)
            if not finite.all():
                bad = int(indices[np.argmin(finite)])
                raise BlowUpError(
                    f"{spec.name}: sample {bad} (seed {seed}) has non-finite values in {name!r}; "
                    f"parameters: {json.dumps(params, sort_keys=True)}"
                )
    ds = ds.assign_coords(sample=("sample", indices, {"long_name": "sample index", "units": "1"}))
    n_samples = int(indices.max()) + 1 if n_samples is None else int(n_samples)
    ds["split"] = ("sample", split_flags(indices, n_samples, split), dict(SPLIT_ATTRS))
    attrs = spec.global_attrs(params)
    for name, var in ds.data_vars.items():
        var.attrs.setdefault("opkit_role", _role_of(name, attrs))
    return _io.to_storage(ds)


def _importable_spec(spec):
    """The spec as importable from ``solvers.<name>`` (for pickling to workers).

    Run as ``python -m solvers.burgers`` the module is ``__main__``, whose
    functions worker processes cannot import; the same spec under its package
    name pickles by reference.
    """
    if getattr(spec.generate, "__module__", None) != "__main__":
        return spec
    try:
        return importlib.import_module(f"solvers.{spec.name}").SOLVER
    except (ImportError, AttributeError):
        return spec


@dataclass
class RunResult:
    """What :func:`generate_dataset` did.

    Attributes
    ----------
    path : pathlib.Path
        The finished file.
    n_samples : int
        Samples in the file.
    computed : int
        Samples computed by this call (the rest came from parts on disk, or
        the file was already complete).
    wall_time : float
        Seconds spent in this call.
    already_complete : bool
        ``out`` existed with the same configuration; nothing was done.
    """

    path: Path
    n_samples: int
    computed: int
    wall_time: float
    already_complete: bool = False


def _progress(total, initial, desc, enabled):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="sample", desc=desc, disable=not enabled, file=sys.stderr)


def _client(workers, scheduler):
    """A dask.distributed client (and the cluster to close), or (None, None)."""
    if scheduler is None and (workers is None or workers <= 1):
        return None, None
    from dask.distributed import Client, LocalCluster

    if scheduler is not None:
        if isinstance(scheduler, Client):
            return scheduler, None
        return Client(scheduler), None
    cluster = LocalCluster(
        n_workers=int(workers),
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    return Client(cluster), cluster


def _resolve(spec, n_samples, seed, chunk_size, preset, params, split=(None, None)):
    """Apply preset and overrides; validate everything that needs no compute.

    Returns ``(n_samples, seed, chunk_size, preset_name, parameters, (n_validation, n_test))``.
    """
    run = {"n_samples": n_samples, "seed": seed, "chunk_size": chunk_size, "n_validation": split[0], "n_test": split[1]}
    overrides = {}
    preset_name = None
    if preset is not None:
        recipe = load_preset(preset, spec.name)
        preset_name = recipe["name"]
        overrides.update(recipe["parameters"])
        for key, value in recipe["run"].items():
            if run[key] is None:
                run[key] = value
    overrides.update(params)
    if run["n_samples"] is None:
        raise ValueError("n_samples is required (give --n-samples, or a preset that sets it)")
    if run["seed"] is None:
        run["seed"] = 0
    if run["chunk_size"] is None:
        run["chunk_size"] = DEFAULT_CHUNK_SIZE
    n, cs = run["n_samples"], run["chunk_size"]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n!r}")
    if isinstance(cs, bool) or not isinstance(cs, (int, np.integer)) or cs < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {cs!r}")
    for key in ("n_validation", "n_test"):
        value = run[key] = 0 if run[key] is None else run[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
    if run["n_validation"] + run["n_test"] >= n:
        raise ValueError(
            f"n_validation={run['n_validation']} + n_test={run['n_test']} leaves no training sample "
            f"of n_samples={n}"
        )
    seed = check_seed(run["seed"])
    resolved = spec.resolve(overrides)
    return int(n), seed, int(cs), preset_name, resolved, (int(run["n_validation"]), int(run["n_test"]))


def _run(spec, out, n_samples, seed, chunk_size, workers, scheduler, resume, progress, preset, params, split=(None, None)):
    t0 = time.perf_counter()
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1):
        raise ValueError(f"workers must be a positive integer, got {workers!r}")
    n_samples, seed, chunk_size, preset_name, params, split = _resolve(
        spec, n_samples, seed, chunk_size, preset, params, split
    )
    out = _io.check_output_path(out)
    config = _io.run_config(spec.name, params, n_samples, seed, chunk_size, preset_name, split)
    store = _io.PartStore(out, config)
    if _io.check_existing_output(out, config):
        store.remove_leftover()
        return RunResult(out, n_samples, 0, time.perf_counter() - t0, already_complete=True)
    done = store.open(resume=resume)
    ranges = _io.chunk_ranges(n_samples, chunk_size)
    todo = [c for c in range(len(ranges)) if c not in done]
    reused = sum(len(ranges[c]) for c in done)
    bar = _progress(n_samples, reused, spec.name, progress)
    try:
        client, cluster = _client(workers, scheduler)
        try:
            if client is None:
                for c in todo:
                    store.write(c, compute_chunk(spec, params, ranges[c], seed, n_samples, split))
                    bar.update(len(ranges[c]))
            else:
                from dask.distributed import as_completed

                remote = _importable_spec(spec)
                futures = {
                    client.submit(compute_chunk, remote, params, ranges[c], seed, n_samples, split, pure=False): c
                    for c in todo
                }
                for fut in as_completed(futures):
                    c = futures[fut]
                    store.write(c, fut.result())
                    bar.update(len(ranges[c]))
        finally:
            if cluster is not None:
                client.close()
                cluster.close()
            elif client is not None and not _is_client_object(scheduler):
                client.close()
    except BaseException:
        # With no chunk finished there is nothing to resume, and the folder would
        # block the corrected rerun as "another configuration"; finished ones stay.
        store.remove_if_empty()
        raise
    finally:
        bar.close()
    attrs = _io.global_attributes(spec, params, config)
    _io.assemble(store.paths(), out, attrs)
    store.remove()
    wall = time.perf_counter() - t0
    _io.write_log(
        out,
        {
            "file": str(out),
            "solver": spec.name,
            "n_samples": n_samples,
            "computed": n_samples - reused,
            "reused": reused,
            "wall_time_s": round(wall, 3),
            "workers": workers,
            "scheduler": None if scheduler is None else str(scheduler),
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config_hash": _io.config_hash(config),
        },
    )
    return RunResult(out, n_samples, n_samples - reused, wall)


def _is_client_object(scheduler):
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover
        return False
    return isinstance(scheduler, Client)


def generate_dataset(
    spec,
    out,
    n_samples=None,
    seed=0,
    chunk_size=DEFAULT_CHUNK_SIZE,
    workers=None,
    scheduler=None,
    resume=True,
    progress=True,
    preset=None,
    n_validation=None,
    n_test=None,
    **params,
):
    """Generate a solver's dataset into one netCDF file (resumable, atomic).

    Parameters
    ----------
    spec : SolverSpec
        The solver, e.g. ``solvers.burgers.SOLVER``.
    out : str or os.PathLike
        Output file. Its folder must exist. If the file exists with the same
        configuration nothing is done; with another one, ``FileExistsError``.
    n_samples : int, optional
        Number of samples (>= 1); may come from ``preset``.
    seed : int, optional
        Run seed (default 0); sample ``i`` uses ``SeedSequence(seed, spawn_key=(i,))``.
        ``None`` takes the preset's seed, if it sets one.
    chunk_size : int, optional
        Samples per part file (default 16). Part of the configuration: a resumed
        run must use the same value. ``None`` takes the preset's, if any.
    workers : int, optional
        Start a ``dask.distributed.LocalCluster`` with this many single-threaded
        worker processes (``None`` or 1: compute in this process).
    scheduler : str or dask.distributed.Client, optional
        Address of an existing dask scheduler (or a client) to compute on; the
        way to use more than one machine (start ``dask scheduler`` on one host
        and ``dask worker ADDRESS`` on each, with this repository importable).
        Takes precedence over ``workers``. Results travel back to this process,
        which writes the parts, so no shared file system is needed.
    resume : bool, optional
        Keep parts of an interrupted run with the same configuration (default);
        False discards the parts folder, of this or of another configuration
        (with a ``RuntimeWarning`` naming it). A run that fails before
        finishing a chunk removes its parts folder itself.
    progress : bool, optional
        Show a tqdm progress bar over samples on stderr (default True).
    preset : str, optional
        Preset name or path; explicit arguments override its values.
    n_validation, n_test : int, optional
        Flag the last ``n_test`` samples as test and the ``n_validation``
        before them as validation in the file's ``split`` variable (default:
        the preset's, else 0: every sample is flagged train).
    **params
        Solver parameters (``resolution`` included) by name.

    Returns
    -------
    pathlib.Path
        Path of the finished file.

    Raises
    ------
    ValueError
        Bad parameters, unknown preset, ``n_samples < 1``.
    FileExistsError
        ``out`` belongs to another configuration, or its parts folder does and
        ``resume`` is True.
    FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError
        ``out`` cannot be written; raised before any computation.
    BlowUpError
        A sample became non-finite (finished chunks stay on disk).

    Examples
    --------
    >>> from solvers.burgers import SOLVER                       # doctest: +SKIP
    >>> generate_dataset(SOLVER, "burgers.nc", 32, preset="fno-burgers")  # doctest: +SKIP
    """
    result = _run(
        spec, out, n_samples, seed, chunk_size, workers, scheduler, resume, progress, preset, params, (n_validation, n_test)
    )
    return result.path


# ----------------------------------------------------------------------------- command line


def _describe_default(p):
    if p.default is None:
        return "unset"
    if p.type is bool:
        return "on" if p.default else "off"
    return str(p.default)


def _help(p):
    units = "dimensionless" if p.units == "1" else p.units
    text = p.help.rstrip()
    if p.choices:
        text += f" Choices: {', '.join(map(str, p.choices))}."
    if p.plausible is not None:
        text += f" Presets and tests cover [{p.plausible[0]:g}, {p.plausible[1]:g}]; a value outside warns."
    return f"{text} [units: {units}; default: {_describe_default(p)}]".replace("%", "%%")


def _int(text):
    # Range checks happen later, with the same messages as the Python API.
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    return value


def build_parser(spec):
    """The ``argparse`` parser of ``python -m solvers.<name>``.

    Solver parameters default to ``argparse.SUPPRESS`` so that only values
    given on the command line override the preset; ``--help`` shows the
    solver's own defaults and units. The runtime options ``--backend``,
    ``--threads`` and ``--dtype`` that the solver does not declare itself come
    from :func:`solvers._runtime.add_runtime_options`.

    Parameters
    ----------
    spec : SolverSpec

    Returns
    -------
    argparse.ArgumentParser
    """
    presets = list_presets(spec.name)
    preset_lines = "\n".join(f"  {name:24s} {desc}" for name, (_, desc) in presets.items()) or "  (none)"
    parser = argparse.ArgumentParser(
        prog=f"python -m solvers.{spec.name}",
        description=f"{spec.title}\n\n  {spec.pde}",
        epilog=(
            f"presets (datasets/*.toml):\n{preset_lines}\n\n"
            "Values are taken from the solver's defaults, then the preset, then the flags and --set.\n"
            "An interrupted run resumes when rerun with the same settings; the file is identical to an\n"
            "uninterrupted run's."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run = parser.add_argument_group("run")
    run.add_argument("--n-samples", type=_int, default=None, metavar="N",
                     help="Number of samples (>= 1). [units: dimensionless; default: the preset's, else required]")
    run.add_argument("--seed", type=_int, default=None,
                     help="Run seed; sample i uses SeedSequence(seed, spawn_key=(i,)). [units: dimensionless; default: 0]")
    run.add_argument("--out", default=None, metavar="FILE",
                     help="Output netCDF file; its folder must exist. [default: <preset or solver>.nc]")
    run.add_argument("--preset", default=None, metavar="NAME",
                     help="Preset recipe datasets/<NAME>.toml (or a path to a .toml file). [default: none]")
    run.add_argument("--workers", type=_int, default=None, metavar="N",
                     help="Start a dask LocalCluster with N worker processes. [default: compute in this process]")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="Address of an existing dask scheduler (e.g. tcp://host:8786) to compute on. [default: none]")
    run.add_argument("--chunk-size", type=_int, default=None, metavar="N",
                     help=f"Samples per part file; resuming needs the same value. [units: dimensionless; default: {DEFAULT_CHUNK_SIZE}]")
    run.add_argument("--n-validation", type=_int, default=None, metavar="N",
                     help="Flag N samples before the test ones as validation in the 'split' variable. [default: the preset's, else 0]")
    run.add_argument("--n-test", type=_int, default=None, metavar="N",
                     help="Flag the last N samples as test in the 'split' variable. [default: the preset's, else 0]")
    run.add_argument("--no-resume", action="store_true",
                     help="Discard the parts folder of an interrupted run (of these or of other settings; "
                          "a warning names it) and start over.")
    run.add_argument("--dry-run", action="store_true",
                     help="Print the resolved configuration and a cost estimate from one sample; write nothing.")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="Set any solver parameter (repeatable), e.g. --set viscosity=0.01.")
    run.add_argument("--no-progress", action="store_true", help="Do not show the progress bar.")
    group = parser.add_argument_group(f"{spec.name} parameters")
    for p in spec.all_parameters():
        kwargs = {"dest": f"param_{p.name}", "default": argparse.SUPPRESS, "help": _help(p)}
        if p.type is bool:
            group.add_argument(p.flag, action=argparse.BooleanOptionalAction, **kwargs)
        else:
            kwargs["metavar"] = "|".join(map(str, p.choices)) if p.choices else p.type.__name__.upper()
            group.add_argument(p.flag, **kwargs)
    add_runtime_options(parser, spec)
    return parser


def _parse_set(items):
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def _dry_run(spec, n_samples, seed, chunk_size, preset, params, out, workers, split=(None, None)):
    n, seed, cs, preset_name, resolved, split = _resolve(spec, n_samples, seed, chunk_size, preset, params, split)
    config = _io.run_config(spec.name, resolved, n, seed, cs, preset_name, split)
    print(json.dumps({"out": str(out), **config}, indent=1, sort_keys=True))
    t = time.perf_counter()
    ds = compute_chunk(spec, resolved, np.array([0]), seed)
    per_sample = time.perf_counter() - t
    nbytes = sum(v.nbytes for v in ds.data_vars.values())
    par = max(1, workers or 1)
    print(
        f"estimate: {per_sample:.3g} s per sample (sample 0, one process) -> ~{per_sample * n / par:.4g} s "
        f"for {n} samples on {par} worker(s); ~{nbytes * n / 2**20:.4g} MiB uncompressed"
    )


def run_cli(spec, argv=None):
    """Entry point of ``python -m solvers.<name>``.

    Parameters
    ----------
    spec : SolverSpec
    argv : list of str, optional
        Arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit code: 0 success, 1 blow-up, 2 bad input, 130 interrupted.
    """
    parser = build_parser(spec)
    args = parser.parse_args(argv)
    prog = f"solvers.{spec.name}"
    out = args.out or f"{Path(args.preset).stem if args.preset else spec.name}.nc"
    try:
        params = {k[len("param_"):]: v for k, v in vars(args).items() if k.startswith("param_")}
        params.update(_parse_set(args.set))
        runtime = check_runtime(spec, args)
        with limit_threads(runtime.get("threads")):
            if args.dry_run:
                _dry_run(spec, args.n_samples, args.seed, args.chunk_size, args.preset, params, out, args.workers,
                         (args.n_validation, args.n_test))
                return 0
            result = _run(
                spec, out, args.n_samples, args.seed, args.chunk_size, args.workers, args.scheduler,
                not args.no_resume, not args.no_progress, args.preset, params, (args.n_validation, args.n_test),
            )
    except (ValueError, FileExistsError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    except BlowUpError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; finished chunks are kept in {out}.parts; rerun the same command to resume",
              file=sys.stderr)
        return 130
    if result.already_complete:
        print(f"{prog}: {result.path} already holds these {result.n_samples} samples; nothing to do")
    else:
        print(
            f"{prog}: {result.n_samples} samples ({result.computed} computed, "
            f"{result.n_samples - result.computed} resumed) in {result.wall_time:.1f} s -> {result.path}"
        )
    return 0

