"""What kind of file is this? Magic bytes first, then the HDF5 structure.

:func:`probe` reads the first bytes and, for HDF5 files, the names, shapes and
attributes of the top two levels (no array data). Each reader's ``matches``
looks at that :class:`Probe`; :func:`describe` turns it into the list of what
was found, for the error raised when no reader matches.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: A group with more children than this is summarised by its first few.
_MAX_LISTED = 8


@dataclass
class Probe:
    """What the first look at a file found.

    Attributes
    ----------
    path : pathlib.Path
    kind : str
        ``"hdf5"``, ``"mat5"``, ``"mat73"``, ``"torch-zip"``, ``"pickle"``,
        ``"zip"``, ``"netcdf3"``, ``"empty"`` or ``"unknown"``.
    datasets : dict
        HDF5 only: ``{path: (shape, dtype)}`` for datasets at the root and one
        level down (the first few of a large group).
    groups : dict
        HDF5 only: ``{path: number of children}`` for groups at the root.
    attrs : dict
        HDF5 only: root attributes (decoded).
    dimension_scales : set
        HDF5 only: names of netCDF-4 dimensions (dimension-scale datasets).
    """

    path: Path
    kind: str
    header: bytes = b""
    datasets: dict = field(default_factory=dict)
    groups: dict = field(default_factory=dict)
    attrs: dict = field(default_factory=dict)
    dimension_scales: set = field(default_factory=set)

    def root(self):
        """Names at the root (datasets and groups)."""
        return {p for p in list(self.datasets) + list(self.groups) if "/" not in p}

    def shape(self, name):
        """Shape of a dataset, or None if absent."""
        entry = self.datasets.get(name)
        return None if entry is None else entry[0]


def decode(value):
    """HDF5 attribute → plain Python (bytes → str, arrays of bytes → list of str)."""
    import numpy as np

    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "SO":
            return [decode(v) for v in value.tolist()]
        if value.dtype.kind == "U":
            return value.tolist()
        if value.ndim == 0:
            return value.item()
        return value
    if isinstance(value, np.generic):
        return value.item()
    return value


def probe(path) -> Probe:
    """Look at a file without reading its arrays.

    Raises
    ------
    FileNotFoundError
        No such file.
    IsADirectoryError
        ``path`` is a folder.
    ValueError
        The file starts like HDF5 but HDF5 cannot open it (truncated or damaged).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give one data file")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return Probe(path, "empty", head)
    if head.startswith(b"MATLAB 7.3 MAT-file"):
        return _hdf5(path, "mat73", head)
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        return Probe(path, "mat5", head)
    # The HDF5 superblock sits at 0 or, after a user block, at 512, 1024, 2048...
    if any(head[o : o + 8] == HDF5_SIGNATURE for o in (0, 512, 1024, 2048)):
        return _hdf5(path, "hdf5", head)
    if head.startswith(b"PK\x03\x04"):
        return Probe(path, "torch-zip" if _is_torch_zip(path) else "zip", head)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        # Pickle protocol 2-5: torch's legacy format, or a plain pickle.
        return Probe(path, "pickle", head)
    if head.startswith(b"CDF\x01") or head.startswith(b"CDF\x02"):
        return Probe(path, "netcdf3", head)
    return Probe(path, "unknown", head)


def _is_torch_zip(path):
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("data.pkl") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        # A torch file cut short loses its central directory; still treat it
        # as torch so that the error says "truncated", not "unknown format".
        return Path(path).suffix.lower() in (".pt", ".pth")


def _hdf5(path, kind, head):
    import h5py

    p = Probe(path, kind, head)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(
            f"{path}: starts like an HDF5 file{' (MATLAB v7.3)' if kind == 'mat73' else ''} but HDF5 cannot "
            f"open it; it is probably truncated or damaged ({err})"
        ) from None
    with f:
        p.attrs = {k: decode(v) for k, v in _safe_attrs(f)}
        for name, obj in f.items():
            if isinstance(obj, h5py.Group):
                p.groups[name] = len(obj)
                for i, (sub, item) in enumerate(obj.items()):
                    if i >= _MAX_LISTED:
                        break
                    if isinstance(item, h5py.Dataset):
                        p.datasets[f"{name}/{sub}"] = (item.shape, str(item.dtype))
                    else:
                        p.groups.setdefault(f"{name}/{sub}", len(item))
            elif isinstance(obj, h5py.Dataset):
                p.datasets[name] = (obj.shape, str(obj.dtype))
                if obj.attrs.get("CLASS") == b"DIMENSION_SCALE":
                    p.dimension_scales.add(name)
    return p


def _safe_attrs(obj):
    for key in obj.attrs:
        try:
            yield key, obj.attrs[key]
        except (OSError, TypeError):  # an attribute type h5py cannot read
            continue


def describe(p: Probe) -> str:
    """One line listing what a file holds, for error messages."""
    kinds = {
        "mat5": "a MATLAB v5 MAT-file",
        "mat73": "a MATLAB v7.3 MAT-file (HDF5)",
        "hdf5": "an HDF5/netCDF-4 file",
        "torch-zip": "a torch.save zip archive",
        "zip": "a zip archive that is not a torch file",
        "pickle": "a Python pickle",
        "netcdf3": "a netCDF-3 classic file",
        "empty": "an empty file",
        "unknown": f"no known signature (first bytes {p.header[:8]!r})",
    }
    text = kinds[p.kind]
    if p.kind in ("hdf5", "mat73"):
        parts = []
        groups = [g for g in p.groups if "/" not in g]
        shown = sorted(groups)[:_MAX_LISTED]
        for g in shown:
            parts.append(f"group {g}/ ({p.groups[g]} items)")
        if len(groups) > len(shown):
            parts.append(f"... {len(groups) - len(shown)} more groups")
        for name, (shape, dtype) in sorted(p.datasets.items()):
            if "/" not in name:
                parts.append(f"{name} {tuple(shape)} {dtype}")
        text += ": " + (", ".join(parts) or "no datasets or groups")
        if p.attrs:
            text += "; root attributes " + ", ".join(sorted(p.attrs))
    return text
