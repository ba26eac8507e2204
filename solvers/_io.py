"""Chunked, resumable, atomic netCDF output shared by every solver.

A run of ``n_samples`` samples is cut into chunks of ``chunk_size`` samples.
Each finished chunk becomes ``<out>.parts/part-000012.nc`` (written under a
temporary name, fsync'ed, then renamed, so a part on disk is always complete).
``<out>.parts/manifest.json`` holds the run's configuration (solver, every
parameter, ``n_samples``, ``seed``, ``chunk_size``, preset and library versions)
and its SHA-256. A restart with the same configuration keeps the finished parts
and computes only the missing chunks; a different configuration on an existing
parts folder or an existing ``out`` is refused (``FileExistsError`` naming what
differs) and nothing is overwritten.

When every chunk is on disk the file is assembled in sample order into
``<out>.tmp`` (engine h5netcdf, which writes the same bytes for the same
Dataset; the netCDF4-C library stamps HDF5 object times into the header),
fsync'ed and renamed to ``out``; the parts are then removed. Fields are stored
float32, zlib level 4 with shuffle, chunked one sample at a time (split along
``time`` above 4 MiB). Global attributes hold every parameter, the seed and the
seeding scheme, the configuration hash and a ``history`` line with the
equivalent command but no timestamp; wall-clock time and host go to the
sidecar ``<out>.log.json``. Because the per-sample seeds depend only on the run
seed and the sample index, an uninterrupted, a resumed and a parallel run
produce byte-identical files (same library versions assumed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shlex
import socket
import sys
import warnings
from pathlib import Path

import numpy as np

from opkit.io._format import ENGINE, attr_value, canonical_json, clean_attrs, storage_encoding, to_storage

from ._lazy import lazy_module
from ._seed import SEEDING

xr = lazy_module("xarray")

__all__ = [
    "ENGINE",
    "PartStore",
    "assemble",
    "check_existing_output",
    "check_output_path",
    "chunk_ranges",
    "command_line",
    "config_hash",
    "describe_differences",
    "global_attributes",
    "library_versions",
    "run_config",
    "storage_encoding",
    "to_storage",
    "write_log",
]

#: Layout version of the parts folder and of the configuration record.
FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def _opkit_version():
    # Read, not imported: importing opkit pulls in torch and scikit-learn
    # (seconds per process, and again in every dask worker).
    init = Path(__file__).resolve().parent.parent / "opkit" / "__init__.py"
    with contextlib.suppress(OSError):
        match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", init.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    try:
        from importlib.metadata import version

        return version("opkit")
    except Exception:  # pragma: no cover - neither source nor metadata
        return "unknown"


def library_versions():
    """Versions that can change the bytes of a file.

    Returns
    -------
    dict
        ``{"opkit": ..., "numpy": ..., "scipy": ..., "xarray": ..., "h5netcdf": ..., "h5py": ...}``.
    """
    import h5netcdf
    import h5py
    import scipy

    return {
        "opkit": _opkit_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "xarray": xr.__version__,
        "h5netcdf": h5netcdf.__version__,
        "h5py": h5py.__version__,
    }


def _jsonable(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    return value


def run_config(solver, params, n_samples, seed, chunk_size, preset=None, split=(0, 0)):
    """The configuration that determines a run's file, as a JSON-able dict.

    Workers, scheduler, progress display and the output path are not part of
    it: they do not change the result.

    Parameters
    ----------
    solver : str
        Solver name.
    params : dict
        Resolved solver parameters.
    n_samples, seed, chunk_size : int
        Run size, run seed and samples per part.
    preset : str, optional
        Preset name, recorded in the file.
    split : (int, int), optional
        ``(n_validation, n_test)``; recorded only when not ``(0, 0)``, so files
        written before the ``split`` variable existed keep their configuration.

    Returns
    -------
    dict
    """
    config = {
        "format": FORMAT_VERSION,
        "solver": solver,
        "preset": preset or "",
        "n_samples": int(n_samples),
        "seed": int(seed),
        "chunk_size": int(chunk_size),
        "parameters": {k: _jsonable(v) for k, v in sorted(params.items())},
        "versions": library_versions(),
    }
    if any(split):
        config["split"] = {"n_validation": int(split[0]), "n_test": int(split[1])}
    return config


def config_hash(config):
    """SHA-256 (hex) of the canonical JSON of ``config``.

    Parameters
    ----------
    config : dict

    Returns
    -------
    str
    """
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()


def _differences(old, new, prefix=""):
    out = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<absent>"), new.get(key, "<absent>")
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, prefix + key + ".")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} on disk, {b!r} now")
    return out


def describe_differences(old, new):
    """One line listing the keys whose values differ between two configurations.

    Parameters
    ----------
    old, new : dict
        Configurations from :func:`run_config`.

    Returns
    -------
    str
    """
    diff = _differences(old, new)
    return "; ".join(diff) if diff else "configuration record differs"


def chunk_ranges(n_samples, chunk_size):
    """Sample indices of each chunk.

    Parameters
    ----------
    n_samples, chunk_size : int

    Returns
    -------
    list of ndarray
        ``[arange(0, c), arange(c, 2c), ...]``, the last one possibly shorter.
    """
    return [np.arange(s, min(s + chunk_size, n_samples)) for s in range(0, n_samples, chunk_size)]


def check_output_path(out):
    """Check, before any computation, that ``out`` can be written.

    Parameters
    ----------
    out : str or os.PathLike

    Returns
    -------
    pathlib.Path
        Absolute path of ``out``.

    Raises
    ------
    FileNotFoundError
        The folder of ``out`` does not exist.
    NotADirectoryError
        Part of the folder path is a file.
    IsADirectoryError
        ``out`` is a folder.
    PermissionError
        The folder cannot be written (checked by creating a probe file).
    """
    path = Path(out).expanduser().absolute()
    parent = path.parent
    if path.is_dir():
        raise IsADirectoryError(f"output path {str(path)!r} is a directory; give a file name such as {str(path / 'data.nc')!r}")
    if not parent.exists():
        raise FileNotFoundError(f"cannot write {str(path)!r}: directory {str(parent)!r} does not exist")
    if not parent.is_dir():
        raise NotADirectoryError(f"cannot write {str(path)!r}: {str(parent)!r} is not a directory")
    probe = parent / f".{path.name}.probe-{os.getpid()}"
    try:
        with open(probe, "wb"):
            pass
    except OSError as exc:
        raise PermissionError(f"cannot write {str(path)!r}: directory {str(parent)!r} is not writable ({exc.strerror})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return path


def _read_config(path):
    """Configuration stored in a finished file, or None if it has none."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            raw = f.attrs.get("opkit_config")
    except Exception:
        return None
    if raw is None:
        return None
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        return json.loads(str(raw))
    except ValueError:
        return None


def check_existing_output(out, config):
    """Decide what to do about an ``out`` that may already exist.

    Parameters
    ----------
    out : pathlib.Path
    config : dict
        Configuration of the run about to start.

    Returns
    -------
    bool
        True if ``out`` exists and was made with exactly this configuration
        (nothing to do); False if it does not exist.

    Raises
    ------
    FileExistsError
        ``out`` exists and is not this configuration's file; it is left alone.
    """
    if not out.exists():
        return False
    old = _read_config(out)
    if old is None:
        raise FileExistsError(
            f"{str(out)!r} exists and is not an opkit solver file; refusing to overwrite it "
            "(choose another --out or remove it)"
        )
    if config_hash(old) == config_hash(config):
        return True
    raise FileExistsError(
        f"{str(out)!r} exists and was made with another configuration ({describe_differences(old, config)}); "
        "refusing to overwrite it (choose another --out or remove it)"
    )


def _fsync_dir(path):
    # Make the rename itself durable; not every platform allows opening a folder.
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _fsync_file(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


class PartStore:
    """The ``<out>.parts/`` folder of one run: manifest and finished chunks.

    Parameters
    ----------
    out : pathlib.Path
        Final output path.
    config : dict
        Configuration of the run (:func:`run_config`).
    """

    def __init__(self, out, config):
        self.out = Path(out)
        self.config = config
        self.hash = config_hash(config)
        self.path = self.out.with_name(self.out.name + ".parts")
        self.n_chunks = len(chunk_ranges(config["n_samples"], config["chunk_size"]))

    def part_path(self, chunk):
        """Path of chunk ``chunk``'s part file."""
        return self.path / f"part-{chunk:06d}.nc"

    def open(self, resume=True):
        """Create the folder, or check an existing one and list its finished chunks.

        Parameters
        ----------
        resume : bool
            Keep finished parts of the same configuration (default). If False,
            the parts are deleted, of this or of another configuration (with a
            ``RuntimeWarning`` naming the folder), and the run starts over.

        Returns
        -------
        set of int
            Chunks already on disk.

        Raises
        ------
        FileExistsError
            With ``resume=True``: the folder belongs to another configuration
            (the message names the folder and the ``--no-resume`` flag); in
            any case: it is not a parts folder. It is left untouched.
        """
        manifest = self.path / MANIFEST
        if self.path.exists():
            try:
                record = json.loads(manifest.read_text())
                old = record["config"]
            except (OSError, ValueError, KeyError, TypeError):
                raise FileExistsError(
                    f"{str(self.path)!r} exists but holds no readable {MANIFEST}; refusing to touch it "
                    "(remove it to start over)"
                ) from None
            if config_hash(old) != self.hash:
                diff = describe_differences(old, self.config)
                if resume:
                    raise FileExistsError(
                        f"{str(self.path)!r} holds parts of another configuration ({diff}); refusing to overwrite "
                        "them (rerun with the same settings to resume them, or pass --no-resume (resume=False in "
                        "Python) to discard them and start over)"
                    )
                warnings.warn(
                    f"discarding {str(self.path)!r}: it holds parts of another configuration ({diff}) and "
                    "--no-resume (resume=False) starts over", RuntimeWarning, stacklevel=2,
                )
            if not resume:
                self.remove()
        if not self.path.exists():
            self.path.mkdir()
            tmp = manifest.with_name(MANIFEST + ".tmp")
            tmp.write_text(json.dumps({"config": self.config, "config_hash": self.hash}, indent=1, sort_keys=True))
            os.replace(tmp, manifest)
        for stale in self.path.glob("*.tmp"):
            # Left by a run killed while writing; the part was never renamed.
            stale.unlink()
        done = set()
        ranges = chunk_ranges(self.config["n_samples"], self.config["chunk_size"])
        for chunk in range(self.n_chunks):
            p = self.part_path(chunk)
            if p.exists():
                if self._part_ok(p, ranges[chunk]):
                    done.add(chunk)
                else:
                    warnings.warn(f"recomputing damaged part {p.name}", RuntimeWarning, stacklevel=2)
                    p.unlink()
        return done

    @staticmethod
    def _part_ok(path, indices):
        try:
            with xr.open_dataset(path, engine=ENGINE) as ds:
                return np.array_equal(ds["sample"].values, indices)
        except Exception:
            return False

    def write(self, chunk, ds):
        """Write chunk ``chunk`` atomically (temporary name, fsync, rename).

        Parameters
        ----------
        chunk : int
        ds : xarray.Dataset
            The chunk's samples, already in storage dtypes (:func:`to_storage`).
        """
        final = self.part_path(chunk)
        tmp = final.with_name(final.name + ".tmp")
        ds.to_netcdf(tmp, engine=ENGINE)
        _fsync_file(tmp)
        os.replace(tmp, final)

    def paths(self):
        """Part files of every chunk, in sample order."""
        return [self.part_path(c) for c in range(self.n_chunks)]

    def remove_leftover(self):
        """Delete a parts folder of this configuration left behind by a run
        killed between renaming the finished file and cleaning up."""
        try:
            record = json.loads((self.path / MANIFEST).read_text())
        except (OSError, ValueError):
            return
        if isinstance(record, dict) and record.get("config_hash") == self.hash:
            self.remove()

    def remove_if_empty(self):
        """Delete the parts folder if it holds no finished chunk.

        Called when a run fails: a folder with only the manifest would block the
        corrected rerun (another configuration) while saving nothing.

        Returns
        -------
        bool
            True if the folder was removed.
        """
        if not self.path.is_dir() or any(self.path.glob("part-*.nc")):
            return False
        self.remove()
        return True

    def remove(self):
        """Delete the parts folder (only files this machinery writes)."""
        for p in list(self.path.glob("part-*.nc")) + list(self.path.glob("*.tmp")):
            p.unlink()
        (self.path / MANIFEST).unlink(missing_ok=True)
        self.path.rmdir()


def _flag(name):
    return "--" + name.replace("_", "-")


def _format_value(value):
    if isinstance(value, float):
        return repr(value)
    return shlex.quote(str(value))


def command_line(solver, params, n_samples, seed, chunk_size, preset=None, split=(0, 0)):
    """The command that regenerates a file, with every parameter spelled out.

    The output path is left out (the file may move) and so are workers and
    scheduler (they do not change the result).

    Returns
    -------
    str
    """
    words = [f"python -m solvers.{solver}"]
    if preset:
        words.append(f"--preset {shlex.quote(preset)}")
    words += [f"--n-samples {int(n_samples)}", f"--seed {int(seed)}", f"--chunk-size {int(chunk_size)}"]
    if any(split):
        words += [f"--n-validation {int(split[0])}", f"--n-test {int(split[1])}"]
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            words.append(_flag(key) if value else "--no-" + key.replace("_", "-"))
        else:
            words.append(f"{_flag(key)} {_format_value(value)}")
    return " ".join(words)


def global_attributes(spec, params, config):
    """Global attributes of a solver's file.

    ``Conventions``, then the solver's own (:attr:`SolverSpec.global_attrs`:
    title, pde, equation, domain, ``bc_*``, ``opkit_inputs``/``opkit_outputs``,
    method, ...), every parameter individually and as sorted JSON, and the
    run's provenance: solver, preset, versions, seed, seeding, chunk size,
    configuration (JSON and hash) and a ``history`` line without timestamp.

    Parameters
    ----------
    spec : SolverSpec
    params : dict
        Resolved parameters.
    config : dict
        :func:`run_config` of the run.

    Returns
    -------
    dict
    """
    attrs = {"Conventions": "CF-1.10"}
    attrs.update(spec.global_attrs(params))
    for key, value in params.items():
        if key in attrs and attr_value(attrs[key]) != attr_value(value):
            raise ValueError(
                f"solver {spec.name!r}: global attribute {key!r} = {attrs[key]!r} hides the parameter "
                f"of the same name ({value!r}); rename one of them"
            )
        attrs[key] = value
    versions = config["versions"]
    split = config.get("split", {})  # recorded only when some samples are not train
    attrs.update(
        {
            "solver": spec.name,
            "preset": config["preset"],
            "solver_version": versions["opkit"],
            "library_versions": " ".join(f"{k}={v}" for k, v in versions.items()),
            "n_samples": config["n_samples"],
            "seed": config["seed"],
            "seeding": SEEDING,
            "chunk_size": config["chunk_size"],
            "parameters": canonical_json(config["parameters"]),
            "opkit_config": canonical_json(config),
            "opkit_config_hash": config_hash(config),
            "history": command_line(
                spec.name, params, config["n_samples"], config["seed"], config["chunk_size"], config["preset"],
                (split.get("n_validation", 0), split.get("n_test", 0)),
            ),
        }
    )
    return clean_attrs(attrs)


def assemble(part_paths, out, attrs):
    """Concatenate the parts in sample order into ``out``, atomically.

    xarray writes the structure (dimensions, coordinates, variables with their
    encoding, attributes) from the first part cut to zero samples, with
    ``sample`` as the unlimited dimension; the samples are then copied part by
    part, in sample order, with h5netcdf. Only one part is in memory at a
    time, and the order of writes, hence the bytes, is fixed (a dask-driven
    write orders its chunk writes by task names, which vary from run to run).
    The result goes to ``<out>.tmp``, is fsync'ed and renamed to ``out``.

    Parameters
    ----------
    part_paths : list of pathlib.Path
        Part files in sample order.
    out : pathlib.Path
        Final path.
    attrs : dict
        Global attributes (:func:`global_attributes`).

    Returns
    -------
    pathlib.Path
    """
    import h5netcdf

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    with xr.open_dataset(part_paths[0], engine=ENGINE) as first:
        template = first.isel(sample=slice(0, 0)).load()
    template.attrs = dict(attrs)
    for var in template.variables.values():
        # Drop what the part's own encoding says; the final one is explicit.
        var.encoding = {}
    names = [name for name, var in template.variables.items() if "sample" in var.dims]
    sizes = []
    for p in part_paths:
        with h5netcdf.File(p, "r") as src:
            sizes.append(src.dimensions["sample"].size)
    try:
        template.to_netcdf(tmp, engine=ENGINE, encoding=storage_encoding(template), unlimited_dims=["sample"])
        with h5netcdf.File(tmp, "r+") as dst:
            dst.resize_dimension("sample", sum(sizes))
            start = 0
            for p, size in zip(part_paths, sizes):
                with h5netcdf.File(p, "r") as src:
                    for name in names:
                        s_var, d_var = src.variables[name], dst.variables[name]
                        if s_var.dtype != d_var.dtype or s_var.dimensions != d_var.dimensions:
                            raise ValueError(f"part {p.name}: variable {name!r} does not match the first part's layout")
                        # Raw (encoded) values: parts and file share xarray's encoding of each variable.
                        d_var[start : start + size] = s_var[...]
                start += size
        _fsync_file(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    _fsync_dir(out.parent)
    return out


def write_log(out, info):
    """Write the sidecar ``<out>.log.json`` (wall time, host, counts, command).

    Parameters
    ----------
    out : pathlib.Path
    info : dict
        Run facts; host, Python version and argv are added.

    Returns
    -------
    pathlib.Path
    """
    log = Path(out).with_name(Path(out).name + ".log.json")
    record = dict(info)
    record.setdefault("host", socket.gethostname())
    record.setdefault("python", sys.version.split()[0])
    record.setdefault("argv", sys.argv)
    tmp = log.with_name(log.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True, default=str))
    os.replace(tmp, log)
    return log
