"""Runtime options of every solver's command line: ``--backend``, ``--threads``, ``--dtype``.

They say how this process computes, not what: none of them is part of a run's
configuration (:func:`solvers._io.run_config`), so a resumed run or a rerun may
change them freely. A solver that offers a real choice among backends or
working precisions declares a :class:`~solvers._spec.Parameter` of that name
itself (``solvers/navier_stokes.py`` declares all three); such a parameter
reaches ``generate``, and it is part of the configuration, as it must be when
the value can change the numbers (float32 does). For every option a solver does
not declare, :func:`add_runtime_options` adds a runtime-only one:

``--backend auto|numpy|torch``
    Accepted when it names one of the solver's own backends
    (:attr:`SolverSpec.backends <solvers._spec.SolverSpec>`, ``("numpy",)``
    unless it says otherwise) or is ``auto``; another value is refused (exit 2)
    with the solver's backends in the message.
``--threads N``
    Caps the thread pools of this process for the run (BLAS and OpenMP through
    :mod:`threadpoolctl`, and torch's intra-op pool when torch is loaded) and
    restores them afterwards, so an in-process :func:`solvers._cli.run_cli`
    leaves the caller's settings as they were. Dask workers started by
    ``--workers`` are single-threaded already.
``--dtype float64|float32``
    Accepted when the solver computes in that precision
    (:attr:`SolverSpec.dtypes <solvers._spec.SolverSpec>`, ``("float64",)``
    unless it says otherwise); another value is refused (exit 2).
"""

from __future__ import annotations

import argparse
import contextlib
import sys

__all__ = ["BACKEND_NAMES", "DTYPE_NAMES", "RUNTIME_OPTIONS", "add_runtime_options", "check_runtime", "limit_threads"]

#: The three runtime options, by parameter name.
RUNTIME_OPTIONS = ("backend", "threads", "dtype")
#: Values ``--backend`` understands (a solver accepts ``auto`` and its own ones).
BACKEND_NAMES = ("auto", "numpy", "torch")
#: Values ``--dtype`` understands (a solver accepts the ones it computes in).
DTYPE_NAMES = ("float64", "float32")


def declared(spec):
    """Runtime option names that ``spec`` declares as parameters of its own.

    Parameters
    ----------
    spec : SolverSpec

    Returns
    -------
    set of str
    """
    return {p.name for p in spec.all_parameters()} & set(RUNTIME_OPTIONS)


def add_runtime_options(parser, spec):
    """Add the runtime options ``spec`` does not declare to ``parser``.

    Their destinations are ``runtime_backend``, ``runtime_threads`` and
    ``runtime_dtype`` (``None`` when not given).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    spec : SolverSpec

    Returns
    -------
    argparse._ArgumentGroup or None
        The group, or None when the solver declares all three itself.
    """
    missing = [name for name in RUNTIME_OPTIONS if name not in declared(spec)]
    if not missing:
        return None
    group = parser.add_argument_group(
        "runtime",
        "How this process computes, not what: not part of the run's configuration, so a resumed run or a\n"
        "rerun may change them. Only values that leave the results unchanged are accepted.",
    )
    backends = ", ".join(spec.backends)
    if "backend" in missing:
        group.add_argument(
            "--backend", dest="runtime_backend", default=None, metavar="|".join(BACKEND_NAMES),
            help=f"Compute backend; {spec.name} has {backends} (auto picks it), others are refused. "
                 f"[default: auto]",
        )
    if "threads" in missing:
        group.add_argument(
            "--threads", dest="runtime_threads", default=None, metavar="N",
            help="Cap the BLAS/OpenMP (and torch) thread pools of this process at N during the run; "
                 "restored afterwards. [default: leave them as they are]",
        )
    if "dtype" in missing:
        dtypes = ", ".join(spec.dtypes)
        group.add_argument(
            "--dtype", dest="runtime_dtype", default=None, metavar="|".join(DTYPE_NAMES),
            help=f"Working precision; {spec.name} computes in {dtypes}, others are refused "
                 f"(files store fields as float32). [default: float64]",
        )
    return group


def check_runtime(spec, args):
    """Check the runtime options given on the command line.

    Parameters
    ----------
    spec : SolverSpec
    args : argparse.Namespace
        As parsed by a parser with :func:`add_runtime_options`.

    Returns
    -------
    dict
        ``{"backend": str, "threads": int or None, "dtype": str}`` for the
        options the shared command line owns (the others are absent).

    Raises
    ------
    ValueError
        A value the solver cannot honour; the message names the option, the
        value and what the solver accepts.
    """
    out = {}
    mine = set(RUNTIME_OPTIONS) - declared(spec)
    if "backend" in mine:
        backend = getattr(args, "runtime_backend", None) or "auto"
        if backend not in BACKEND_NAMES:
            raise ValueError(f"--backend: unknown backend {backend!r}; choose one of {', '.join(BACKEND_NAMES)}")
        if backend != "auto" and backend not in spec.backends:
            raise ValueError(
                f"--backend {backend} is not supported by solver {spec.name!r}; its backends: "
                f"{', '.join(spec.backends)} (or auto)"
            )
        out["backend"] = spec.backends[0] if backend == "auto" else backend
    if "threads" in mine:
        threads = getattr(args, "runtime_threads", None)
        if threads is not None:
            try:
                threads = int(threads)
            except ValueError:
                raise ValueError(f"--threads expects a positive integer, got {threads!r}") from None
            if threads < 1:
                raise ValueError(f"--threads must be >= 1, got {threads}")
        out["threads"] = threads
    if "dtype" in mine:
        dtype = getattr(args, "runtime_dtype", None) or "float64"
        if dtype not in DTYPE_NAMES:
            raise ValueError(f"--dtype: unknown dtype {dtype!r}; choose one of {', '.join(DTYPE_NAMES)}")
        if dtype not in spec.dtypes:
            raise ValueError(
                f"--dtype {dtype} is not supported by solver {spec.name!r}; it computes in {', '.join(spec.dtypes)}"
            )
        out["dtype"] = dtype
    return out


@contextlib.contextmanager
def limit_threads(threads):
    """Cap this process's thread pools at ``threads`` inside the block, then restore them.

    BLAS and OpenMP pools go through :func:`threadpoolctl.threadpool_limits`;
    torch's intra-op pool is set with :func:`torch.set_num_threads` when torch
    is already imported (it is never imported for this).

    Parameters
    ----------
    threads : int or None
        ``None``: change nothing.

    Yields
    ------
    None
    """
    if threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        with threadpool_limits(limits=int(threads)):
            if torch is not None:
                torch.set_num_threads(int(threads))
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(before)
