"""``python -m solvers``: list the solver modules and their presets.

Each solver is a module ``solvers.<name>`` with a ``SOLVER`` spec, run as
``python -m solvers.<name> --help``; presets are the TOML recipes in
``datasets/`` (``--preset <name>``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import solvers

from ._cli import list_presets


def solver_modules():
    """Names of the solver modules (public modules of the package).

    Returns
    -------
    list of str
    """
    return sorted(m.name for m in pkgutil.iter_modules(solvers.__path__) if not m.name.startswith("_"))


def main(argv=None):
    """Print every solver with its title and presets.

    Parameters
    ----------
    argv : list of str, optional
        Unused; ``-h``/``--help`` prints this module's docstring.

    Returns
    -------
    int
        Exit code (0).
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    presets = list_presets()
    print("solvers (python -m solvers.<name> --help):")
    for name in solver_modules():
        try:
            title = importlib.import_module(f"solvers.{name}").SOLVER.title
        except Exception as exc:  # a module being written must not hide the others
            title = f"(cannot import: {type(exc).__name__}: {exc})"
        print(f"  {name:16s} {title}")
        for preset, (solver, description) in presets.items():
            if solver == name:
                print(f"      --preset {preset:24s} {description}")
    orphans = {p: s for p, (s, _) in presets.items() if s not in solver_modules()}
    for preset, solver in orphans.items():
        print(f"  (preset {preset!r} names unknown solver {solver!r})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
