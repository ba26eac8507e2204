"""SpectralRefiner: a space-time FNO (SFNO) refined per instance against the Navier--Stokes H^-1 residual."""

from __future__ import annotations

import copy
import math
import time
import warnings

import numpy as np
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ..estimator import CORE_PARAMS, OpkitEstimator, params_doc, store_params
from ..layers.spacetime_spectral import OutputSpectral, SpaceTimeFFN, SpectralConv3d, enlarge_spectral, evaluate_output
from ..physics.ns_residual import (
    DEFAULT_ALPHA,
    _check_periodic,
    _laplacian_symbols,
    _uniform_axis,
    ns_residual,
    residual_norm,
    sobolev_norm,
)
from ..training import FieldSource, cast_module, resolve_device

__all__ = ["SpectralRefiner", "SFNONetwork", "head_scales"]


class SFNONetwork(nn.Module):
    """The SFNO: lifting, spectral blocks over (x, y, t), one-channel latent, output operator.

    Parameters
    ----------
    n_in : int
        Input frames.
    width, modes, modes_t, n_layers, latent_steps, period : int
    n_time_features : int
        Sinusoidal time channels of the lifting.
    energy_growth : float
        The exponent ``beta`` of the time features ``sin/cos(k pi t) e^(beta t)``.
    """

    def __init__(self, n_in, width, modes, modes_t, n_layers, latent_steps, period, n_time_features, energy_growth):
        super().__init__()
        self.n_in, self.latent_steps, self.period = int(n_in), int(latent_steps), int(period)
        self.n_time_features, self.energy_growth = int(n_time_features), float(energy_growth)
        channels = 4 + self.n_time_features
        self.norm = nn.GroupNorm(1, channels)
        self.lift = nn.Conv3d(channels, width, 1)
        self.lift_spectral = SpectralConv3d(width, width, modes, modes, modes_t)
        self.lift_ffn = SpaceTimeFFN(width, width)
        self.spectral = nn.ModuleList(SpectralConv3d(width, width, modes, modes, modes_t) for _ in range(n_layers))
        self.ffn = nn.ModuleList(SpaceTimeFFN(width, width) for _ in range(n_layers))
        self.skip = nn.ModuleList(nn.Conv3d(width, width, 1) for _ in range(n_layers))
        self.reduce = nn.Conv3d(width, 1, 1)
        self.head = OutputSpectral(modes, modes, modes_t)

    def _features(self, w):
        """(B, T, nx, ny) -> (B, C, nx, ny, T): vorticity, x, y, t and the time features."""
        B, T, nx, ny = w.shape
        dtype, device = w.dtype, w.device
        x = torch.arange(nx, dtype=dtype, device=device) / nx
        y = torch.arange(ny, dtype=dtype, device=device) / ny
        t = torch.linspace(0, 1, T, dtype=dtype, device=device)
        grid = torch.stack(torch.meshgrid(x, y, t, indexing="ij"))  # (3, nx, ny, T)
        feats = []
        for i in range(self.n_time_features):
            k = i // 2 + 1
            f = torch.sin(k * math.pi * t) if i % 2 == 0 else torch.cos(k * math.pi * t)
            feats.append((f * torch.exp(self.energy_growth * t)).expand(nx, ny, T))
        extra = torch.cat([grid, torch.stack(feats)]) if feats else grid
        return torch.cat([w.permute(0, 2, 3, 1)[:, None], extra.expand(B, *extra.shape)], 1)

    def latent(self, w):
        """The one-channel latent (B, 1, nx, ny, latent_steps) before the output operator."""
        if w.shape[1] != self.n_in:
            raise ValueError(f"X has {w.shape[1]} input frames; the network was fitted on {self.n_in}")
        h = self.lift(self.norm(self._features(w)))
        h = nn.functional.gelu(self.lift_ffn(self.lift_spectral(h, self.latent_steps)) + h[..., -1:])
        for i, (K, F, W) in enumerate(zip(self.spectral, self.ffn, self.skip)):
            h = F(K(h)) + W(h)
            if i < len(self.spectral) - 1:
                h = nn.functional.gelu(h)
        return self.reduce(h)

    def taus(self, n_out, dtype, device, first=1):
        """Latent-unit times of ``n_out`` frames over the horizon (``first=0`` includes the last input)."""
        return torch.arange(first, n_out + 1, dtype=dtype, device=device) * (self.latent_steps / n_out)

    def forward(self, w, n_out=None):
        """(B, n_in, nx, ny) -> (B, n_out, nx, ny), ``n_out`` frames evenly covering the horizon."""
        n_out = self.latent_steps if n_out is None else int(n_out)
        return self.head(self.latent(w), w[:, -1], self.taus(n_out, w.dtype, w.device), self.period)


class _RefinedHeads(nn.Module):
    """One enlarged output operator per sample on a cached latent (the refinement stage's module).

    The optimised variables are real offsets in scaled units: ``weight =
    weight0 + scale_weight * z_weight`` (``z`` holds real and imaginary parts
    in a trailing axis of two), likewise for the bias, so that a diagonal
    preconditioner is a choice of ``scale_*`` and ``z = 0`` is the start.

    Parameters
    ----------
    latent, last : torch.Tensor
        Cached latent (S, 1, nx, ny, T) and last input frames (S, nx, ny).
    weight, bias : torch.Tensor, complex
        Starting heads (S, 2mx, 2my, mt).
    period : int
    bias_scale : float
    scale_weight, scale_bias : torch.Tensor, optional
        Real scales broadcastable to ``weight``/``bias`` (default 1).
    """

    def __init__(self, latent, last, weight, bias, period, bias_scale, scale_weight=None, scale_bias=None):
        super().__init__()
        real = weight.real.dtype
        self.register_buffer("latent", latent)
        self.register_buffer("last", last)
        self.register_buffer("weight0", weight.detach().clone())
        self.register_buffer("bias0", bias.detach().clone())
        one = torch.ones((), dtype=real)
        self.register_buffer("scale_weight", one if scale_weight is None else scale_weight.to(real))
        self.register_buffer("scale_bias", one.clone() if scale_bias is None else scale_bias.to(real))
        self.z_weight = nn.Parameter(torch.zeros(*weight.shape, 2, dtype=real, device=weight.device))
        self.z_bias = nn.Parameter(torch.zeros(*bias.shape, 2, dtype=real, device=bias.device))
        self.period, self.bias_scale = int(period), float(bias_scale)

    @property
    def weight(self):
        return self.weight0 + self.scale_weight * torch.view_as_complex(self.z_weight)

    @property
    def bias(self):
        return self.bias0 + self.scale_bias * torch.view_as_complex(self.z_bias)

    def forward(self, index, taus):
        return evaluate_output(self.latent[index], self.last[index], self.weight[index], self.bias[index], taus,
                               self.period, self.bias_scale)


def head_scales(latent, last, weight_shape, period, frame_rate, viscosity, length, s, alpha, bias_scale, jump=0.0,
                floor=1e-3):
    r"""Diagonal preconditioner of the refinement: per-mode scales of the output operator's weight and bias.

    A perturbation :math:`\delta c` of the output coefficient at spatial
    wavenumber :math:`\kappa` and temporal mode :math:`k_t` changes the
    frames by a travelling mode of frequency :math:`\omega = 2\pi k_t /
    P \cdot` ``frame_rate`` (amplitude ``mult`` :math:`|\delta c|`, ``mult``
    1 for :math:`k_t = 0`, else 2), and the residual, linearised about the
    last input frame, by about

    .. math::

        a = \text{mult}\,(a_s + |\kappa|^2)^{s/2}
            \big(\omega^2 + j^2 + (\nu|\kappa|^2 + U|\kappa| + G/|\kappa|)^2\big)^{1/2}

    times :math:`|\delta c|`: time derivative, the start-up term :math:`j`
    (``jump``), viscosity, transport by the flow (rms speed :math:`U`) and
    the perturbation's velocity acting on the vorticity gradient (rms
    :math:`G`), in the norm's weight. The start-up term is there because the
    residual's trajectory begins with the fixed last input frame: shifting
    the frames after it by :math:`\delta` changes the second-order
    differences at the first two of ``N + 1`` frames by :math:`1.5\delta/dt`
    and :math:`0.5\delta/dt`, a root-mean-square :math:`j = (2.5/(N+1))^{1/2}
    / dt` over the trajectory; without it the slow modes look nearly inert,
    are scaled up by orders of magnitude and L-BFGS moves far along them (on
    the unit tests' problem the error then rose 1.2x in 10 iterations
    instead of falling about 8x). The bias enters
    the coefficient as ``bias_scale`` :math:`\delta b` and the weight as
    :math:`\hat v\,\delta W` (:math:`\hat v` the latent's mode), so the
    scales ``1 / (bias_scale a)`` and ``1 / (|v| a)`` make a unit step of every
    scaled variable change the residual by a comparable amount (the Jacobi,
    or diagonal Gauss--Newton, scaling). Sensitivities below ``floor`` times
    the largest are raised to it (the mean mode, modes the latent lacks).

    Parameters
    ----------
    latent : torch.Tensor, shape (S, 1, nx, ny, T)
    last : torch.Tensor, shape (S, nx, ny)
    weight_shape : tuple
        ``(S, 2mx, 2my, mt)`` of the heads.
    period : int
    frame_rate : float
        Latent time units per unit of physical time.
    viscosity, length, s, alpha, bias_scale : float
    jump : float, default=0.0
        The start-up term :math:`j` (zero for a trajectory without a fixed first frame).
    floor : float, default=1e-3

    Returns
    -------
    scale_weight, scale_bias : torch.Tensor, shape (S, 2mx, 2my, mt), real
    """
    S, nx, ny, T = latent.shape[0], latent.shape[-3], latent.shape[-2], latent.shape[-1]
    mx, my, mt = weight_shape[-3] // 2, weight_shape[-2] // 2, weight_shape[-1]
    dtype, device = last.dtype, last.device
    _, _, k2, inv = _laplacian_symbols(nx, length, device, dtype)
    wh = torch.fft.fft2(last, norm="forward")
    speed = torch.sqrt((inv * wh.abs() ** 2).sum((-2, -1)))  # rms |u|, u = grad^perp of (-Laplace)^-1 w
    grad = torch.sqrt((k2 * wh.abs() ** 2).sum((-2, -1)))  # rms |grad w|
    ix = torch.arange(-mx, mx, device=device) % nx
    iy = torch.arange(-my, my, device=device) % ny
    kap2 = k2[ix[:, None], iy[None, :]]  # (2mx, 2my)
    kap = kap2.sqrt()
    kt = torch.arange(mt, device=device, dtype=dtype)
    omega = 2 * math.pi * kt / period * frame_rate
    mult = torch.where(kt == 0, torch.ones_like(kt), 2 * torch.ones_like(kt))
    inv_kap = torch.where(kap > 0, 1 / kap.clamp_min(1e-300), torch.zeros_like(kap))
    transport = speed[:, None, None] * kap + grad[:, None, None] * inv_kap
    rate = viscosity * kap2 + transport  # (S, 2mx, 2my)
    sens = (mult * torch.sqrt(omega**2 + jump**2 + rate[..., None] ** 2)) * ((alpha + kap2) ** (s / 2))[..., None]
    sens_bias = bias_scale * sens
    seq = torch.cat([last[:, None, :, :, None], latent], -1)
    seq = torch.nn.functional.pad(seq, (0, int(period) - (T + 1)))[:, 0]
    vh = torch.fft.rfftn(seq, dim=(-3, -2, -1), norm="forward")
    mte = min(mt, vh.shape[-1])
    vmodes = vh[..., :mte].index_select(-3, ix).index_select(-2, iy).abs()
    vabs = torch.zeros(S, 2 * mx, 2 * my, mt, dtype=dtype, device=device)
    vabs[..., :mte] = vmodes
    sens_weight = vabs * sens

    def scale(x):
        top = x.flatten(1).amax(1).clamp_min(1e-300)[:, None, None, None]
        return 1.0 / torch.maximum(x, floor * top)

    return scale(sens_weight), scale(sens_bias)


class _BestIterate:
    """Per-sample best residual seen and the scaled variables where it was seen (samples are independent)."""

    def __init__(self, heads):
        self.heads = heads
        self.norm = None
        self.z_weight = heads.z_weight.detach().clone()
        self.z_bias = heads.z_bias.detach().clone()

    def update(self, norms, index):
        norms = norms.detach()
        if self.norm is None:
            self.norm = torch.full((self.z_weight.shape[0],), math.inf, dtype=norms.dtype, device=norms.device)
        better = torch.isfinite(norms) & (norms < self.norm[index])
        if better.any():
            rows = index[better]
            self.norm[rows] = norms[better]
            self.z_weight[rows] = self.heads.z_weight.detach()[rows]
            self.z_bias[rows] = self.heads.z_bias.detach()[rows]

    def restore(self):
        with torch.no_grad():
            self.heads.z_weight.copy_(self.z_weight)
            self.heads.z_bias.copy_(self.z_bias)


class _BochnerStep:
    """Relative Bochner L2(0, T; L2) error per sample, averaged over the batch."""

    def __call__(self, module, batch):
        pred = module(batch["x"], n_out=batch["y"].shape[1])
        diff = (pred - batch["y"]).flatten(1).norm(dim=1)
        return (diff / batch["y"].flatten(1).norm(dim=1).clamp_min(1e-12)).mean()


class _ResidualStep:
    """Sum over samples of the residual norm of the refined trajectory (samples are independent)."""

    def __init__(self, taus, dt, forcing, viscosity, length, drag, s, alpha, order, best=None):
        self.taus, self.dt, self.forcing = taus, dt, forcing
        self.viscosity, self.length, self.drag, self.s, self.alpha, self.order = viscosity, length, drag, s, alpha, order
        self.best = best

    def norms(self, module, index):
        traj = trajectory(module, index, self.taus)
        f = None if self.forcing is None else self.forcing.to(traj.device, traj.dtype)
        rh = ns_residual(traj, f, self.viscosity, length=self.length, dt=self.dt, drag=self.drag, order=self.order)
        return sobolev_norm(rh, self.length, self.s, self.alpha)

    def __call__(self, module, batch):
        index = batch["index"]
        norms = self.norms(module, index)
        if self.best is not None:
            self.best.update(norms, index)  # every evaluation, line-search trials included, is a candidate
        return norms.sum()


def trajectory(heads, index, taus):
    """Last input frame followed by the heads' frames at ``taus[1:]`` (``taus[0] = 0``)."""
    out = heads(index, taus[1:])
    return torch.cat([heads.last[index][:, None], out], 1)


class SpectralRefiner(OpkitEstimator):
    __doc__ = f"""Space-time FNO for vorticity windows, refined per instance on the Navier--Stokes H^-1 residual.

    The SFNO maps a window of ``n_in`` vorticity frames to the next window:
    the lifting adds ``x``, ``y``, ``t`` and sinusoidal time channels,
    GroupNorm and a ``1x1x1`` convolution to ``width`` channels, then a 3-D
    spectral convolution over ``(x, y, t)`` onto ``latent_steps`` levels; each
    of ``n_layers`` blocks is ``v <- gelu(FFN(K v) + W v)``; a ``1x1x1``
    reduction to one channel is followed by the output operator (last input
    frame prepended, zero-padded in time, one-channel spectral convolution
    plus a learned spectral source, summed as a Fourier series at the output
    times, last input frame added), so any number of output frames comes out.

    ``fit(X, y)`` minimises the relative Bochner ``L2(0, T; L2)`` error.
    :meth:`refine` then optimises, per sample and without labels, only an
    enlarged output operator at ``X``'s grid against the ``H^-1`` norm of the
    residual (:func:`opkit.physics.residual_norm`), in float64, by default
    with L-BFGS on diagonally preconditioned coefficients
    (:func:`head_scales`), keeping each sample's best iterate.

    Parameters
    ----------
    width : int, default=20
    modes : int, default=12
        Spatial wavenumbers ``-modes .. modes-1`` kept along x and y.
    modes_t : int, default=5
        Temporal ``rfft`` modes kept.
    n_layers : int, default=3
    latent_steps : int, default=10
        Time levels of the latent (the output operator's samples of the horizon).
    time_padding : int or None, default=None
        Zero levels appended in time before the output operator's transform
        (None: ``latent_steps + 1``, i.e. a doubled period).
    n_time_features : int or None, default=None
        Sinusoidal time channels (None: ``width - 4``, at least 0).
    energy_growth : float, default=0.0
        ``beta`` of the time features ``sin/cos(k pi t) e^(beta t)`` (the
        prior energy growth rate, e.g. 0.02 or -0.01).
    {params_doc(CORE_PARAMS)}
    Attributes
    ----------
    model_ : SFNONetwork
    refined_ : dict
        After :meth:`refine`: per-sample enlarged heads (``weight``, ``bias``
        tensors with a leading sample axis), their ``modes``, ``grid``,
        ``samples``, ``residual_before`` / ``residual_after`` (per sample, of
        the starting and the returned heads; never larger after),
        ``startup_jump_before`` / ``startup_jump_after`` (relative ``L2``
        gap between a head's own value at ``t = 0`` and the last input frame,
        which the trajectory of the residual starts from), ``wall_time``,
        ``optimizer`` and ``preconditioned``.
    n_in_, out_steps_, horizon_, dt_in_ : int, int, float, float
        Input frames, output frames, time span of the output window, input frame spacing.

    Examples
    --------
    >>> from opkit.models import SpectralRefiner
    >>> est = SpectralRefiner(width=8, modes=6, modes_t=3, max_epochs=2, random_state=0)
    >>> sorted(est.get_params())[:3]
    ['batch_size', 'checkpoint_path', 'device']
    """

    def __init__(self, width=20, modes=12, modes_t=5, n_layers=3, latent_steps=10, time_padding=None,
                 n_time_features=None, energy_growth=0.0, *, max_epochs=15, batch_size=4, learning_rate=1e-2,
                 weight_decay=1e-4, scheduler="onecycle", validation_fraction=0.1, early_stopping=False,
                 n_iter_no_change=10, device="auto", random_state=None, verbose=0, warm_start=False,
                 checkpoint_path=None):
        store_params(self, locals())

    # -- data ---------------------------------------------------------------------------
    @staticmethod
    def _window(X, what):
        """``(array (S, T, nx, ny) float64, info)`` from a DataArray with sample, time and two grid dims."""
        if isinstance(X, xr.Dataset):
            names = list(X.data_vars)
            if len(names) != 1:
                raise ValueError(f"{what} must hold one vorticity variable; got {names}")
            X = X[names[0]]
        if isinstance(X, xr.DataArray):
            for d in ("sample", "time"):
                if d not in X.dims:
                    raise ValueError(f"{what} needs a {d!r} dim; its dims are {tuple(X.dims)}")
            grid = [d for d in X.dims if d not in ("sample", "time")]
            if len(grid) != 2:
                raise ValueError(f"{what} must have two grid dims besides sample and time; got {grid}")
            if set(grid) == {"x", "y"}:
                grid = ["x", "y"]  # the residual's Jacobian u.grad(w) changes sign if x and y swap
            _check_periodic(X, grid, what)
            arr = np.asarray(X.transpose("sample", "time", *grid).values, dtype=np.float64)
            times = np.asarray(X["time"].values, dtype=float) if "time" in X.coords else np.arange(X.sizes["time"], dtype=float)
            if len(times) > 1:
                _uniform_axis(times, "time", what)
            coords = {d: (np.asarray(X[d].values, dtype=float).tolist() if d in X.coords else None) for d in grid}
            samples = X["sample"].values.tolist() if "sample" in X.coords else None
            info = dict(dims=grid, coords=coords, times=times.tolist(), samples=samples, kind="xarray")
        else:
            arr = np.asarray(X, dtype=np.float64)
            if arr.ndim != 4:
                raise ValueError(f"{what} must be (sample, time, x, y); got an array of shape {arr.shape}")
            info = dict(dims=["x", "y"], coords={"x": None, "y": None}, times=list(range(arr.shape[1])),
                        samples=None, kind="numpy")
        if arr.shape[2] != arr.shape[3]:
            raise ValueError(f"{what} must be on a square grid; got {arr.shape[2]} x {arr.shape[3]}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        return arr, info

    @staticmethod
    def _length(info):
        c = info["coords"][info["dims"][0]]
        return 1.0 if c is None else len(c) * _uniform_axis(c, info["dims"][0], "X")

    def _period(self):
        pad = int(self.latent_steps) + 1 if self.time_padding is None else int(self.time_padding)
        return int(self.latent_steps) + 1 + max(pad, 0)

    def _rebuild_network(self):
        nf = max(int(self.width) - 4, 0) if self.n_time_features is None else int(self.n_time_features)
        return SFNONetwork(self.n_in_, int(self.width), int(self.modes), int(self.modes_t), int(self.n_layers),
                           int(self.latent_steps), self._period(), nf, float(self.energy_growth))

    # -- stage 1 ------------------------------------------------------------------------
    def _fit(self, X, y=None):
        x, xinfo = self._window(X, "X")
        t, yinfo = self._window(y, "y")
        if len(x) != len(t):
            raise ValueError(f"X has {len(x)} samples, y {len(t)}: they must be paired")
        if x.shape[2:] != t.shape[2:]:
            raise ValueError(f"X's grid {x.shape[2:]} and y's {t.shape[2:]} differ")
        self.n_in_, self.out_steps_ = int(x.shape[1]), int(t.shape[1])
        xt, yt = np.asarray(xinfo["times"]), np.asarray(yinfo["times"])
        self.dt_in_ = float(xt[1] - xt[0]) if len(xt) > 1 else 1.0
        if xinfo["kind"] == "xarray" and yinfo["kind"] == "xarray":
            self.horizon_ = float(yt[-1] - xt[-1])
            step = self.horizon_ / self.out_steps_
            expected = xt[-1] + step * np.arange(1, self.out_steps_ + 1)
            if not self.horizon_ > 0 or not np.allclose(yt, expected, rtol=0, atol=1e-6 * max(1.0, abs(step))):
                raise ValueError("y's time coordinate must continue X's uniformly: frames at "
                                 f"t_last + j*dt_out, j = 1..{self.out_steps_}; got {yt.tolist()}")
        else:
            self.horizon_ = float(self.out_steps_ * self.dt_in_)
        self.input_info_, self.output_info_ = xinfo, {k: yinfo[k] for k in ("dims", "kind")}
        seed = self._seed()
        generator, device = self._generator(seed), resolve_device(self.device)
        network = self.model_ if self.warm_start and hasattr(self, "model_") else self._init_network(self._rebuild_network, seed)
        network = network.to(device)
        source = FieldSource(x=torch.as_tensor(x, dtype=torch.float32), y=torch.as_tensor(t, dtype=torch.float32))
        train_idx, val_idx = self._split_validation(len(source), generator)
        self._run_stage("fit", network, source.subset(train_idx), step=_BochnerStep(), generator=generator,
                        device=device, val_source=source.subset(val_idx) if len(val_idx) else None,
                        history=self.history_ if self.warm_start and hasattr(self, "history_") else None)
        self._set_network(network, device)
        self.refined_ = None
        return self

    # -- prediction ---------------------------------------------------------------------
    def _trunk64(self):
        net = copy.deepcopy(self.model_).to(self.device_)
        cast_module(net, torch.float64)
        return net

    def _wrap(self, values, info, n_out):
        x_last = info["times"][-1]
        times = x_last + (self.horizon_ / n_out) * np.arange(1, n_out + 1)
        if info["kind"] == "numpy":
            return values
        coords = {"time": times}
        for d in info["dims"]:
            if info["coords"][d] is not None:
                coords[d] = info["coords"][d]
        if info["samples"] is not None:
            coords["sample"] = info["samples"]
        return xr.DataArray(values, dims=("sample", "time", *info["dims"]), coords=coords, name="vorticity",
                            attrs={"bc_x": "periodic", "bc_y": "periodic"})

    def predict(self, X, n_out=None, refine=False):
        """The output window for each input window.

        Parameters
        ----------
        X : xarray.DataArray (sample, time, x, y) or ndarray
            ``n_in_`` input frames, any square grid.
        n_out : int, optional
            Frames covering the fitted horizon ``horizon_`` (default ``out_steps_``);
            more frames sample the same window more finely.
        refine : bool, default=False
            Use the per-sample heads of :meth:`refine` (``X`` must be the
            refined samples on the refined grid).

        Returns
        -------
        xarray.DataArray (sample, time, x, y), or ndarray for ndarray input
        """
        check_is_fitted(self, "model_")
        x, info = self._window(X, "X")
        n_out = self.out_steps_ if n_out is None else int(n_out)
        if n_out < 1:
            raise ValueError(f"n_out must be >= 1, got {n_out}")
        if refine:
            heads = self._refined_heads(x, info)
            taus = self.model_.taus(n_out, torch.float64, self.device_)
            with torch.no_grad():
                out = heads(torch.arange(len(x), device=self.device_), taus)
            return self._wrap(out.cpu().numpy(), info, n_out)
        dtype = next(self.model_.parameters()).real.dtype
        with torch.no_grad():
            out = self.model_(torch.as_tensor(x, dtype=dtype, device=self.device_), n_out=n_out)
        return self._wrap(out.double().cpu().numpy(), info, n_out)

    # -- stage 2 ------------------------------------------------------------------------
    def _latent64(self, x):
        net = self._trunk64()
        with torch.no_grad():
            w = torch.as_tensor(x, dtype=torch.float64, device=self.device_)
            return net.latent(w), w[:, -1], net

    def _refined_heads(self, x, info):
        if not getattr(self, "refined_", None):
            raise ValueError("predict(refine=True) needs refine(X, forcing, viscosity) first: refined_ is empty")
        r = self.refined_
        if len(x) != len(r["weight"]) or list(x.shape[2:]) != list(r["grid"]):
            raise ValueError(f"X has {len(x)} samples on a {x.shape[2:]} grid, but the refined heads are for "
                             f"{len(r['weight'])} samples on {tuple(r['grid'])}")
        if r["samples"] is not None and info["samples"] is not None and list(info["samples"]) != list(r["samples"]):
            raise ValueError("X's sample coordinate differs from the refined samples'")
        latent, last, net = self._latent64(x)
        return _RefinedHeads(latent, last, r["weight"].to(self.device_), r["bias"].to(self.device_),
                             net.period, net.head.bias_scale)

    def _stage_settings(self, stage):
        return {"dtype": "float64"} if stage == "refine" else {}

    def refine(self, X, forcing, viscosity, n_iter=50, lr_weight=1e-3, lr_bias=3e-3, *, optimizer="lbfgs",
               precondition=None, modes=None, modes_t=None, time_refinement=4, s=-1, alpha=DEFAULT_ALPHA, drag=0.0,
               order=2, gain=1e-6, dtype="float64"):
        """Label-free per-sample refinement of the output operator on ``X``'s grid.

        The trunk is frozen and its latent cached; the output operator is
        replaced, per sample, by one with more modes (trained modes copied,
        new ones ``~ gain``), and only its weight and bias are optimised in
        float64 against the residual norm of the predicted trajectory (last
        input frame plus the output frames queried at ``time_refinement``
        times the stored frame rate, so the finite-difference time derivative
        is accurate). Samples are independent: the objective is the sum of
        their norms.

        By default the optimiser is L-BFGS with a strong Wolfe line search on
        *preconditioned* variables: every weight and bias coefficient is
        scaled by the inverse of its estimated effect on the residual
        (:func:`head_scales`, a diagonal Gauss--Newton scaling from the
        linearised residual), so a unit step moves the residual comparably
        whatever the mode; unscaled, the low temporal and high spatial modes
        differ in sensitivity by orders of magnitude and a first-order or
        quasi-Newton method crawls along the stiff ones. ``optimizer="adam"``
        runs Adam on the raw coefficients at ``lr_weight``/``lr_bias`` with a
        cosine decay to zero. Either way, every residual evaluation is a
        candidate and each sample keeps its best one: the returned head never
        has a larger residual than the starting (zero-shot) head.

        Parameters
        ----------
        X : xarray.DataArray (sample, time, x, y)
            Input windows on the target grid (periodic, domain length from the coordinates).
        forcing : None, float, array (x, y) or DataArray
            Vorticity forcing on ``X``'s grid.
        viscosity : float
        n_iter : int, default=50
            L-BFGS iterations (one step of the core's ``refine`` stage, at most
            ``1.25 n_iter`` residual evaluations with the line search), or Adam
            iterations (epochs of the stage, one evaluation each).
        lr_weight, lr_bias : float, default=1e-3, 3e-3
            Adam only: peak learning rates of the weight and of the spectral
            bias. The coefficients are grid-independent (``norm="forward"``),
            so these are not torch-cfd's numbers (1e-4, 1e-2 on unnormalised
            DFTs).
        optimizer : {"lbfgs", "adam"}, default="lbfgs"
        precondition : bool, optional
            Optimise the scaled variables of :func:`head_scales` (default: True
            for L-BFGS, False for Adam, which rescales per coordinate itself).
            Preconditioned Adam takes its rates in the scaled units, where the
            defaults are far too large (on the unit tests' problem the error
            rose about 5x).
        modes : int, optional
            Spatial modes of the enlarged layer (default ``n // 3``, the 2/3 rule).
        modes_t : int, optional
            Temporal modes (default all the padded period allows).
        time_refinement : int, default=4
            Query frames per stored output frame for the time derivative.
        s, alpha, drag, order
            As in :func:`opkit.physics.residual_norm`.
        gain : float, default=1e-6
        dtype : {"float64"}
            float32 is refused with a warning (refinement needs float64).

        Returns
        -------
        self

        Notes
        -----
        The residual's trajectory starts from the last input frame, as the
        true flow does. A head whose own value at ``t = 0`` differs from it (an
        unrefined SFNO's does, by 1-3 % in the benchmark) has a start-up jump,
        and the finite-difference time derivative across it, about
        ``jump / dt`` at the first two query frames, then dominates the norm
        and grows like ``sqrt(time_refinement)``: ``residual_before`` compares
        across samples only at one ``time_refinement``. The jump is recorded
        in ``refined_["startup_jump_before"]``; refinement narrows it.
        """
        if optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam', got {optimizer!r}")
        precondition = (optimizer == "lbfgs") if precondition is None else bool(precondition)
        check_is_fitted(self, "model_")
        if dtype != "float64":
            warnings.warn(f"refinement runs in float64 (dtype={dtype!r} requested): the residual's cancellation "
                          "needs it", UserWarning, stacklevel=2)
        x, info = self._window(X, "X")
        if viscosity is None:
            raise ValueError("viscosity is required (the kinematic viscosity nu of the flow)")
        nu = float(viscosity)
        if not (nu > 0 and math.isfinite(nu)):
            raise ValueError(f"viscosity must be > 0, got {viscosity!r}")
        n = x.shape[-1]
        f = None
        if forcing is not None:
            if isinstance(forcing, xr.DataArray):
                d = info["dims"]
                if set(forcing.dims) != set(d):
                    raise ValueError(f"forcing must have X's grid dims {tuple(d)}; got {tuple(forcing.dims)}")
                forcing = forcing.transpose(*d).values
            farr = np.asarray(forcing, dtype=np.float64)
            if farr.ndim and farr.shape != (n, n):
                raise ValueError(f"forcing has shape {farr.shape}, but X's grid is ({n}, {n})")
            f = torch.as_tensor(farr)
        length = self._length(info)
        r = max(int(time_refinement), 1)
        n_frames = self.out_steps_ * r
        latent, last, net = self._latent64(x)
        mx = max(int(self.modes), n // 3 if modes is None else int(modes))
        mt = max(int(self.modes_t), net.period // 2 if modes_t is None else int(modes_t))
        gen = torch.Generator().manual_seed(self._seed())
        S = len(x)
        weight = enlarge_spectral(net.head.weight.detach().expand(S, -1, -1, -1).clone(), mx, mx, mt, gain, gen)
        bias = enlarge_spectral(net.head.bias.detach().expand(S, -1, -1, -1).clone(), mx, mx, mt, gain, gen)
        scales = (None, None)
        if precondition:
            dt_q = self.horizon_ / n_frames
            jump = math.sqrt(2.5 / (n_frames + 1)) / dt_q  # the fixed first frame against a shifted rest (FD stencils)
            scales = head_scales(latent, last, weight.shape, net.period, net.latent_steps / self.horizon_, nu, length,
                                 float(s), float(alpha), net.head.bias_scale, jump=jump)
        heads = _RefinedHeads(latent, last, weight, bias, net.period, net.head.bias_scale, *scales).to(self.device_)
        taus = net.taus(n_frames, torch.float64, self.device_, first=0)
        best = _BestIterate(heads)
        step = _ResidualStep(taus, self.horizon_ / n_frames, f, nu, length, float(drag), s, alpha, order, best)
        index = torch.arange(S, device=self.device_)

        def norms():
            with torch.no_grad():
                return step.norms(heads, index)

        def jumps():
            # the heads' own value at t = 0 against the last input frame (the trajectory starts with the latter)
            with torch.no_grad():
                gap = (heads(index, taus[:1])[:, 0] - heads.last).flatten(1).norm(dim=1)
                return (gap / heads.last.flatten(1).norm(dim=1).clamp_min(1e-300)).cpu().numpy().tolist()

        start = norms()
        best.update(start, index)
        before, jump_before = start.cpu().numpy().tolist(), jumps()
        started = time.perf_counter()
        source = FieldSource(index=torch.arange(S))
        if optimizer == "lbfgs":
            self._run_stage("refine", heads, source, step=step, generator=gen, device=self.device_,
                            param_groups=[{"params": [heads.z_weight, heads.z_bias], "weight_decay": 0.0}],
                            optimizer="lbfgs", max_epochs=1, lbfgs_max_iter=int(n_iter), batch_size=S,
                            learning_rate=1.0, weight_decay=0.0, early_stopping=False, checkpoint_path=None)
        else:
            groups = [{"params": [heads.z_weight], "lr_scale": 1.0, "weight_decay": 0.0, "name": "weight"},
                      {"params": [heads.z_bias], "lr_scale": float(lr_bias) / float(lr_weight), "weight_decay": 0.0,
                       "name": "bias"}]
            self._run_stage("refine", heads, source, step=step, generator=gen, device=self.device_,
                            param_groups=groups, optimizer="adamw", max_epochs=int(n_iter), batch_size=S,
                            learning_rate=float(lr_weight), weight_decay=0.0, scheduler="cosine",
                            early_stopping=False, checkpoint_path=None)
        best.update(norms(), index)  # the last update of Adam was not evaluated yet
        best.restore()
        wall = time.perf_counter() - started
        self.refined_ = dict(weight=heads.weight.detach().cpu(), bias=heads.bias.detach().cpu(), modes=[mx, mx, mt],
                             grid=[n, n], samples=info["samples"], residual_before=before,
                             residual_after=norms().cpu().numpy().tolist(), wall_time=wall, time_refinement=r,
                             optimizer=optimizer, preconditioned=precondition, startup_jump_before=jump_before,
                             startup_jump_after=jumps())
        return self

    def residual_norm(self, pred, forcing=None, viscosity=None, s=-1, **kwargs):
        """The H^-1 residual estimator of a trajectory; needs no fitted model.

        See :func:`opkit.physics.residual_norm` (same arguments).
        """
        return residual_norm(pred, forcing, viscosity, s, **kwargs)

    # -- persistence ----------------------------------------------------------------------
    def _extra_state(self):
        meta = {"n_in": self.n_in_, "out_steps": self.out_steps_, "horizon": self.horizon_, "dt_in": self.dt_in_,
                "input_info": self.input_info_, "output_info": self.output_info_}
        tensors = {}
        if getattr(self, "refined_", None):
            r = self.refined_
            meta["refined"] = {k: v for k, v in r.items() if k not in ("weight", "bias")}
            # complex128 stored as its float64 real view (safetensors has no C128)
            tensors = {"refined.weight": torch.view_as_real(r["weight"]), "refined.bias": torch.view_as_real(r["bias"])}
        return meta, tensors

    def _set_extra_state(self, meta, tensors):
        self.n_in_, self.out_steps_ = int(meta["n_in"]), int(meta["out_steps"])
        self.horizon_, self.dt_in_ = float(meta["horizon"]), float(meta["dt_in"])
        self.input_info_, self.output_info_ = meta["input_info"], meta["output_info"]
        self.refined_ = None
        if meta.get("refined"):
            self.refined_ = dict(meta["refined"], weight=torch.view_as_complex(tensors["refined.weight"].contiguous()),
                                bias=torch.view_as_complex(tensors["refined.bias"].contiguous()))
