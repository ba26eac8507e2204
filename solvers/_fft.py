"""Batched real 2-D FFTs for the pseudo-spectral solvers.

The solvers transform many ``n x n`` real fields per time step, so the transforms
are planned once for a fixed batch shape and reuse aligned buffers. Four
backends are supported:

``pyfftw``
    FFTW through pyFFTW (optional dependency, fastest on CPU). Plans use
    ``FFTW_ESTIMATE`` by default so that results do not depend on timing-based
    planner decisions (byte-identical reruns, see ``solvers.md`` §4).
``scipy``
    ``scipy.fft`` (pocketfft) with an explicit ``workers`` count; the default
    when pyFFTW is not importable.
``numpy``
    ``numpy.fft`` (single-threaded, always available).
``torch``
    ``torch.fft`` on CPU tensors sharing memory with the numpy buffers; the thread
    count is set with :func:`torch.set_num_threads` (a process-wide setting).

Two levels of interface:

* :func:`rfft2` / :func:`irfft2`: numpy-compatible, normalised transforms over the
  last two axes, for set-up and output code.
* :class:`InverseRFFT2` / :class:`ForwardRFFT2`: planned, **unnormalised**
  transforms between an ``(m, n, n)`` real array and a *column-truncated*
  half spectrum ``(m, n, ncols)`` holding the ``ky = 0 .. ncols-1`` columns
  (``ncols = n//2 + 1`` is the full ``rfft2`` layout). Solvers whose state is
  zero beyond a dealiasing cut-off skip the zero columns: the transform is done
  as a complex FFT along ``x`` on the kept columns, then a real FFT along ``y``,
  and the element-wise work on the spectra shrinks by ``ncols / (n//2 + 1)``.
  Callers write into ``.input`` and read ``.output`` (no copies); the scale
  factors are left to the caller so they can be folded into multipliers.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import threading

import numpy as np

from ._lazy import lazy_module

_sfft = lazy_module("scipy.fft")

try:  # optional dependency
    import pyfftw as _pyfftw
except ImportError:  # pragma: no cover - exercised where pyfftw is absent
    _pyfftw = None

__all__ = [
    "BACKENDS",
    "available_backends",
    "resolve_backend",
    "default_threads",
    "backend_info",
    "rfft2",
    "irfft2",
    "InverseRFFT2",
    "ForwardRFFT2",
]

BACKENDS = ("pyfftw", "scipy", "numpy", "torch")
_PLANNER_FLAGS = {
    "estimate": "FFTW_ESTIMATE",
    "measure": "FFTW_MEASURE",
    "patient": "FFTW_PATIENT",
}


@functools.lru_cache(maxsize=None)
def _have_torch():
    # find_spec does not import torch (several seconds); the backend imports it
    # only when it is used.
    return importlib.util.find_spec("torch") is not None


def available_backends():
    """Backends importable in this environment, fastest first.

    Returns
    -------
    list of str
        Subset of :data:`BACKENDS`.
    """
    out = []
    if _pyfftw is not None:
        out.append("pyfftw")
    out += ["scipy", "numpy"]
    if _have_torch():
        out.append("torch")
    return out


def resolve_backend(backend="auto"):
    """Turn ``"auto"`` or a backend name into an available backend name.

    Parameters
    ----------
    backend : {"auto", "pyfftw", "scipy", "numpy", "torch"}
        ``"auto"`` picks pyFFTW when importable, else ``scipy.fft``.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        Unknown name, or a backend that is not installed.
    """
    if backend in (None, "auto"):
        return "pyfftw" if _pyfftw is not None else "scipy"
    if backend not in BACKENDS:
        raise ValueError(f"unknown FFT backend {backend!r}; choose one of auto, {', '.join(BACKENDS)}")
    if backend not in available_backends():
        raise ValueError(f"FFT backend {backend!r} is not installed (available: {', '.join(available_backends())})")
    return backend


def default_threads():
    """Number of CPUs this process may run on (the default thread count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def backend_info(backend="auto", threads=None, planner="estimate"):
    """Describe a backend configuration for file metadata.

    Parameters
    ----------
    backend : str
        Backend name or ``"auto"``.
    threads : int or None
        Thread count (``None``: :func:`default_threads`).
    planner : {"estimate", "measure", "patient"}
        FFTW planner effort (ignored by the other backends).

    Returns
    -------
    dict
        ``fft_backend``, ``fft_backend_version``, ``fft_threads`` and, for pyFFTW,
        ``fft_planner``.
    """
    name = resolve_backend(backend)
    threads = default_threads() if threads is None else int(threads)
    if name == "pyfftw":
        version = _pyfftw.__version__
    elif name == "scipy":
        import scipy

        version = scipy.__version__
    elif name == "numpy":
        version = np.__version__
    else:
        import torch

        version = torch.__version__
    info = {"fft_backend": name, "fft_backend_version": str(version), "fft_threads": threads}
    if name == "pyfftw":
        info["fft_planner"] = _PLANNER_FLAGS[planner]
    return info


# --------------------------------------------------------------------------
# Normalised numpy-style helpers
# --------------------------------------------------------------------------


def rfft2(x, backend="auto", threads=None):
    """Real 2-D FFT over the last two axes, normalised as :func:`numpy.fft.rfft2`.

    Parameters
    ----------
    x : ndarray
        Real array ``(..., n0, n1)``.
    backend : str
        Backend name or ``"auto"``.
    threads : int or None
        Threads / workers (``None``: :func:`default_threads`).

    Returns
    -------
    ndarray
        Complex ``(..., n0, n1//2 + 1)``.
    """
    name = resolve_backend(backend)
    threads = default_threads() if threads is None else int(threads)
    x = np.asarray(x)
    if name == "pyfftw":
        return _pyfftw.builders.rfft2(
            x, axes=(-2, -1), threads=threads, planner_effort="FFTW_ESTIMATE", avoid_copy=False
        )()
    if name == "scipy":
        return _sfft.rfft2(x, axes=(-2, -1), workers=threads)
    if name == "numpy":
        return np.fft.rfft2(x, axes=(-2, -1))
    import torch

    torch.set_num_threads(threads)
    return torch.fft.rfft2(torch.from_numpy(np.ascontiguousarray(x))).numpy()


def irfft2(X, s, backend="auto", threads=None):
    """Inverse of :func:`rfft2` with output shape ``s`` over the last two axes.

    Parameters
    ----------
    X : ndarray
        Complex half spectrum ``(..., s[0], s[1]//2 + 1)``.
    s : tuple of int
        Output shape of the last two axes.
    backend : str
        Backend name or ``"auto"``.
    threads : int or None
        Threads / workers.

    Returns
    -------
    ndarray
        Real ``(..., s[0], s[1])``.
    """
    name = resolve_backend(backend)
    threads = default_threads() if threads is None else int(threads)
    X = np.asarray(X)
    s = tuple(int(v) for v in s)
    if name == "pyfftw":
        # A multi-dimensional c2r overwrites its input, and the FFTW object may
        # work on the caller's array directly: transform a private copy.
        work = _pyfftw.empty_aligned(X.shape, dtype=np.result_type(X.dtype, np.complex64))
        work[...] = X
        return _pyfftw.builders.irfft2(
            work, s=s, axes=(-2, -1), threads=threads, planner_effort="FFTW_ESTIMATE", avoid_copy=True
        )()
    if name == "scipy":
        return _sfft.irfft2(X, s=s, axes=(-2, -1), workers=threads)
    if name == "numpy":
        return np.fft.irfft2(X, s=s, axes=(-2, -1))
    import torch

    torch.set_num_threads(threads)
    return torch.fft.irfft2(torch.from_numpy(np.ascontiguousarray(X)), s=s).numpy()


# --------------------------------------------------------------------------
# Planned, unnormalised, column-truncated transforms
# --------------------------------------------------------------------------


def _dtypes(dtype):
    real = np.dtype(dtype)
    if real not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {real}")
    return real, np.dtype(np.complex64 if real == np.float32 else np.complex128)


def _empty(shape, dtype, backend):
    if backend == "pyfftw":
        return _pyfftw.empty_aligned(shape, dtype=dtype)
    return np.empty(shape, dtype=dtype)


def _zeros(shape, dtype, backend):
    a = _empty(shape, dtype, backend)
    a[...] = 0
    return a


@functools.lru_cache(maxsize=None)
def _pocketfft():
    """scipy's compiled pocketfft module, or ``None`` where it is not usable.

    ``scipy.fft`` spends a few microseconds per call on dispatch, argument
    checks and a fresh output array; the planned transforms call the same
    compiled kernels directly with ``out=`` (identical bits), which matters for
    the many small transforms of a time stepper. It is a private module, so
    any mismatch of its interface falls back to the public functions.
    """
    try:
        from scipy.fft._pocketfft import pypocketfft as pp

        x = np.zeros((2, 4, 3), np.complex64)
        y = np.empty((2, 4, 4), np.float32)
        pp.c2c(x, axes=(1,), forward=False, inorm=0, out=x.copy(), nthreads=1)
        pp.c2r(x, axes=(2,), lastsize=4, forward=False, inorm=0, out=y, nthreads=1)
        pp.r2c(y, axes=(2,), forward=True, inorm=0, out=x, nthreads=1)
        return pp
    except Exception:  # pragma: no cover - other scipy versions
        return None


class _Planned:
    """Shared set-up of the planned transforms."""

    def __init__(self, batch, n, ncols, dtype, backend, threads, planner):
        self.batch = int(batch)
        self.n = int(n)
        self.nhalf = self.n // 2 + 1
        self.ncols = self.nhalf if ncols is None else int(ncols)
        if self.n < 2 or self.batch < 1:
            raise ValueError(f"need batch >= 1 and n >= 2, got batch={batch}, n={n}")
        if not 1 <= self.ncols <= self.nhalf:
            raise ValueError(f"ncols must lie in [1, {self.nhalf}], got {ncols}")
        self.backend = resolve_backend(backend)
        self.threads = default_threads() if threads is None else max(1, int(threads))
        if planner not in _PLANNER_FLAGS:
            raise ValueError(f"planner must be one of {sorted(_PLANNER_FLAGS)}, got {planner!r}")
        self.planner = planner
        self.real_dtype, self.complex_dtype = _dtypes(dtype)
        self.real_shape = (self.batch, self.n, self.n)
        self.spec_shape = (self.batch, self.n, self.ncols)
        self.truncated = self.ncols < self.nhalf

    def _fftw(self, a, b, axes, direction):
        return _pyfftw.FFTW(
            a,
            b,
            axes=axes,
            direction=direction,
            flags=(_PLANNER_FLAGS[self.planner],),
            threads=self.threads,
        )

    def _torch_threads(self):
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        return torch


class InverseRFFT2(_Planned):
    """Planned unnormalised inverse real 2-D FFT from a column-truncated spectrum.

    Computes ``output[b, j, l] = sum_{kx, ky} X[b, kx, ky] exp(+2 pi i (kx j + ky l)/n)``
    where ``X`` is ``input`` extended by Hermitian symmetry and by zeros in the
    columns ``ky >= ncols`` (``numpy.fft.irfft2(full) * n**2``).

    Parameters
    ----------
    batch : int
        Leading (batch) size ``m``.
    n : int
        Grid size (square ``n x n``).
    ncols : int or None
        Number of kept ``ky`` columns (``None``: ``n//2 + 1``, the full layout).
    dtype : {"float64", "float32"}
        Real precision.
    backend : str
        ``"auto"``, ``"pyfftw"``, ``"scipy"``, ``"numpy"`` or ``"torch"``.
    threads : int or None
        Threads used by the transform.
    planner : {"estimate", "measure", "patient"}
        FFTW planner effort (pyFFTW only).

    Attributes
    ----------
    input : ndarray
        Complex ``(batch, n, ncols)`` buffer to fill before :meth:`execute`. Its
        content is preserved by the pyFFTW path; other backends may not preserve it.
    output : ndarray
        Real ``(batch, n, n)`` buffer the result is written to.
    """

    def __init__(self, batch, n, ncols=None, dtype="float64", backend="auto", threads=1, planner="estimate"):
        super().__init__(batch, n, ncols, dtype, backend, threads, planner)
        be = self.backend
        self.input = _zeros(self.spec_shape, self.complex_dtype, be)
        self.output = _empty(self.real_shape, self.real_dtype, be)
        if be == "pyfftw":
            if self.truncated:
                # Stage A: complex FFT along x on the kept columns, written into the
                # first columns of a zero-filled half spectrum; stage B: 1-D c2r
                # along y, which pyFFTW plans with FFTW_PRESERVE_INPUT, so the zero
                # columns survive every call and are never rewritten.
                self._mid = _zeros((self.batch, self.n, self.nhalf), self.complex_dtype, be)
                self._a = self._fftw(self.input, self._mid[:, :, : self.ncols], (-2,), "FFTW_BACKWARD")
                self._b = self._fftw(self._mid, self.output, (-1,), "FFTW_BACKWARD")
            else:
                # Multi-dimensional c2r destroys its input: work on a private copy
                # so that ``input`` keeps the documented contents.
                self._mid = _empty(self.spec_shape, self.complex_dtype, be)
                self._a = None
                self._b = self._fftw(self._mid, self.output, (-2, -1), "FFTW_BACKWARD")
        elif self.truncated:
            self._mid = np.zeros((self.batch, self.n, self.nhalf), self.complex_dtype)
        self._pp = _pocketfft() if (be == "scipy" and self.truncated) else None

    def execute(self):
        """Transform ``input`` into ``output`` and return ``output``."""
        be = self.backend
        if be == "pyfftw":
            if self._a is not None:
                self._a.execute()
            else:
                np.copyto(self._mid, self.input)
            self._b.execute()
            return self.output
        n = self.n
        if be == "torch":
            torch = self._torch_threads()
            src = torch.from_numpy(self.input)
            out = torch.from_numpy(self.output)
            if self.truncated:
                mid = torch.from_numpy(self._mid)
                mid[:, :, : self.ncols] = torch.fft.ifft(src, dim=-2, norm="forward")
                torch.fft.irfft(mid, n=n, dim=-1, norm="forward", out=out)
            else:
                torch.fft.irfft2(src, s=(n, n), norm="forward", out=out)
            return self.output
        if self._pp is not None:
            pp, th = self._pp, self.threads
            pp.c2c(self.input, axes=(1,), forward=False, inorm=0, out=self._mid[:, :, : self.ncols], nthreads=th)
            pp.c2r(self._mid, axes=(2,), lastsize=n, forward=False, inorm=0, out=self.output, nthreads=th)
            return self.output
        if self.truncated:
            if be == "scipy":
                self._mid[:, :, : self.ncols] = _sfft.ifft(self.input, axis=-2, norm="forward", workers=self.threads)
                self.output[...] = _sfft.irfft(self._mid, n=n, axis=-1, norm="forward", workers=self.threads)
            else:
                self._mid[:, :, : self.ncols] = np.fft.ifft(self.input, axis=-2, norm="forward")
                self.output[...] = np.fft.irfft(self._mid, n=n, axis=-1, norm="forward")
        elif be == "scipy":
            self.output[...] = _sfft.irfft2(self.input, s=(n, n), norm="forward", workers=self.threads)
        else:
            self.output[...] = np.fft.irfft2(self.input, s=(n, n), norm="forward")
        return self.output


class ForwardRFFT2(_Planned):
    """Planned unnormalised forward real 2-D FFT to a column-truncated spectrum.

    ``output = numpy.fft.rfft2(input)[..., :ncols]`` (no scaling).

    Parameters
    ----------
    batch, n, ncols, dtype, backend, threads, planner
        As for :class:`InverseRFFT2`.
    input : ndarray, optional
        Use this C-contiguous real ``(batch, n, n)`` array as the input buffer
        instead of allocating one (pyFFTW plans it in place; it should be
        SIMD-aligned, e.g. a slice of another plan's buffer).

    Attributes
    ----------
    input : ndarray
        Real ``(batch, n, n)`` buffer to fill before :meth:`execute` (preserved).
    output : ndarray
        Complex ``(batch, n, ncols)`` result buffer.
    """

    def __init__(
        self, batch, n, ncols=None, dtype="float64", backend="auto", threads=1, planner="estimate", input=None
    ):
        super().__init__(batch, n, ncols, dtype, backend, threads, planner)
        be = self.backend
        if input is None:
            self.input = _zeros(self.real_shape, self.real_dtype, be)
        else:
            # Caller-owned buffer (e.g. part of an inverse transform's output),
            # so a product can be formed in place and transformed from there.
            if input.shape != self.real_shape or input.dtype != self.real_dtype or not input.flags.c_contiguous:
                raise ValueError(f"input buffer must be C-contiguous {self.real_dtype} of shape {self.real_shape}")
            self.input = input
        self.output = _empty(self.spec_shape, self.complex_dtype, be)
        if be == "pyfftw":
            if self.truncated:
                # r2c along y for every row, then a complex FFT along x on the kept
                # columns only.
                self._mid = _empty((self.batch, self.n, self.nhalf), self.complex_dtype, be)
                self._a = self._fftw(self.input, self._mid, (-1,), "FFTW_FORWARD")
                self._b = self._fftw(self._mid[:, :, : self.ncols], self.output, (-2,), "FFTW_FORWARD")
            else:
                self._a = self._fftw(self.input, self.output, (-2, -1), "FFTW_FORWARD")
                self._b = None
        self._pp = _pocketfft() if (be == "scipy" and self.truncated) else None
        if self._pp is not None:
            self._half = np.empty((self.batch, self.n, self.nhalf), self.complex_dtype)

    def execute(self):
        """Transform ``input`` into ``output`` and return ``output``."""
        be = self.backend
        nc = self.ncols
        if be == "pyfftw":
            self._a.execute()
            if self._b is not None:
                self._b.execute()
            return self.output
        if be == "torch":
            torch = self._torch_threads()
            src = torch.from_numpy(self.input)
            out = torch.from_numpy(self.output)
            if self.truncated:
                half = torch.fft.rfft(src, dim=-1)
                torch.fft.fft(half[:, :, :nc], dim=-2, out=out)
            else:
                torch.fft.rfft2(src, out=out)
            return self.output
        if self._pp is not None:
            pp, th = self._pp, self.threads
            pp.r2c(self.input, axes=(2,), forward=True, inorm=0, out=self._half, nthreads=th)
            pp.c2c(self._half[:, :, :nc], axes=(1,), forward=True, inorm=0, out=self.output, nthreads=th)
            return self.output
        if be == "scipy":
            if self.truncated:
                half = _sfft.rfft(self.input, axis=-1, workers=self.threads)[:, :, :nc]
                self.output[...] = _sfft.fft(half, axis=-2, workers=self.threads)
            else:
                self.output[...] = _sfft.rfft2(self.input, workers=self.threads)
        else:
            if self.truncated:
                half = np.fft.rfft(self.input, axis=-1)[:, :, :nc]
                self.output[...] = np.fft.fft(half, axis=-2)
            else:
                self.output[...] = np.fft.rfft2(self.input)
        return self.output


_plan_cache = {}
_plan_lock = threading.Lock()


def cached_plan(kind, batch, n, ncols=None, dtype="float64", backend="auto", threads=1, planner="estimate"):
    """Return a planned transform shared by calls from the same thread.

    Plans own their buffers, so the cache is keyed by the calling thread as well:
    two threads never share a buffer.

    Parameters
    ----------
    kind : {"inverse", "forward"}
        Which transform.
    batch, n, ncols, dtype, backend, threads, planner
        As for :class:`InverseRFFT2`.

    Returns
    -------
    InverseRFFT2 or ForwardRFFT2
    """
    cls = {"inverse": InverseRFFT2, "forward": ForwardRFFT2}[kind]
    key = (
        kind,
        threading.get_ident(),
        int(batch),
        int(n),
        None if ncols is None else int(ncols),
        np.dtype(dtype).str,
        resolve_backend(backend),
        int(threads),
        planner,
    )
    with _plan_lock:
        plan = _plan_cache.get(key)
    if plan is None:
        plan = cls(batch, n, ncols, dtype=dtype, backend=backend, threads=threads, planner=planner)
        with _plan_lock:
            if len(_plan_cache) > 64:
                _plan_cache.clear()
            _plan_cache[key] = plan
    return plan
