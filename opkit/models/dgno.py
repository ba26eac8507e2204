"""DGNOSolver: DGenNO's physics-aware generative operator, trained from a(x) and a weak residual."""

from __future__ import annotations

import numpy as np
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted

from .._validation import FieldSpec, extract_fields
from ..estimator import CORE_PARAMS, OpkitEstimator, params_doc, store_params
from ..physics.wendland import WeakPDE
from ..training import FieldSource, resolve_device
from ._multionet import DGNONetwork, InverseNetwork

__all__ = ["DGNOSolver"]


def _relative(pred, true):
    return ((pred - true).norm(dim=-1) / true.norm(dim=-1).clamp_min(1e-12)).mean()


class _DGNOStep:
    """Loss of one batch: w_pde * weak residual + w_rec * reconstruction of a (+ w_label * data)."""

    def __init__(self, pde, x, y, weights, seed):
        self.pde, self.x, self.y, self.weights = pde, x, y, weights
        self.grid = torch.as_tensor(np.stack(np.meshgrid(x, y, indexing="ij"), -1).reshape(-1, 2))
        self.rng = np.random.default_rng(seed)

    def __call__(self, module, batch):
        a = batch["a"]
        dtype, device = a.dtype, a.device
        grid = self.grid.to(device, dtype)
        w_pde, w_rec, w_label = self.weights
        use_pde = self.pde is not None and w_pde > 0
        u_points, n_quad = [], 0
        if use_pde:
            points, phi, grad_phi = self.pde.test_functions(
                self.pde.sample_centers(int(self.rng.integers(2**31))), dtype=dtype, device=device)
            u_points.append(points.reshape(-1, 2))
            n_quad = u_points[0].shape[0]
        if "u" in batch:
            u_points.append(grid)
        flux = use_pde and self.pde.uses_flux
        out = module(a, u_points=torch.cat(u_points) if u_points else None, a_points=grid, u_grad=use_pde,
                     s_points=u_points[0] if flux else None)
        terms = {}
        if out.get("a_raw") is not None:
            target = (a.flatten(1) - module.a_shift) / module.a_scale
            if module.a_likelihood == "bernoulli":
                rec = torch.nn.functional.binary_cross_entropy_with_logits(out["a_raw"], target)
            else:
                rec = _relative(out["a_raw"], target)
            terms["rec"] = w_rec * rec
        if use_pde:
            pts = u_points[0]
            m, grad_m = self.pde.mollifier(pts)
            net, grad_net = out["u"][:, :n_quad], out["grad_u"][:, :n_quad]
            grad_u = grad_m * net[..., None] + m[:, None] * grad_net
            shape = (len(a), *phi.shape)
            a_q = self.pde.interpolate(a, self.x, self.y, pts).detach().reshape(shape)
            s = out["s"].reshape(*shape, 2) if flux else None
            terms["pde"] = w_pde * self.pde.weak_loss(grad_u.reshape(*shape, 2), a_q, phi, grad_phi, s)
        if "u" in batch:
            u = out["u"][:, n_quad:]
            if self.pde is not None:
                u = self.pde.mollifier(grid)[0] * u
            terms["label"] = w_label * _relative(u, batch["u"].flatten(1))
        return terms


class DGNOSolver(OpkitEstimator):
    __doc__ = f"""Physics-aware generative neural operator (DGenNO) for Darcy-type problems.

    A latent β = tanh(encoder(a)) encodes the coefficient a(x); MultiONet
    decoders give a(x; β) and u(x; β) at any points. ``fit(X)`` trains from
    the coefficients alone with the weak residual of ``pde``; a ``y`` adds a
    data term.

    Smooth a: ``DGNOSolver(DarcyWeak(f=10))``. Two-phase a (two values):
    ``DGNOSolver(DarcyWeak(f=10, form="mixed", interpolation="nearest"),
    a_likelihood="bernoulli", w_rec=1)``, which adds two flux decoders and
    decodes a as the probability of the high phase. The estimator handles
    coefficient-to-solution maps on a 2-D grid; :class:`opkit.physics.BurgersWeak`
    (an initial condition to u(x, t)) is not wired into it yet.

    Parameters
    ----------
    pde : WeakPDE or None, default=None
        Physics object (e.g. ``opkit.physics.DarcyWeak(f=10)``): weak residual,
        domain, boundary mollifier, coefficient interpolation. Required
        unless ``y`` is given.
    latent_dim : int, default=32
    encoder : {{"cnn", "mlp"}}, default="mlp"
    encoder_layers : tuple of int, default=(256, 128)
        Channels of the stride-2 convolutions (cnn) or hidden widths (mlp).
    width, depth : int, default=64, 4
        Width and depth of both MultiONet decoders.
    sum_layers : int, default=3
        Layers whose branch/trunk inner products are averaged (DGenNO: all
        but the first; measured on the CPU protocol at batch 10: 5.0 % with 3
        of 4 against 5.5 % with 2).
    a_likelihood : {{"gaussian", "bernoulli"}}, default="gaussian"
        ``"gaussian"``: the a-decoder gives the standardised a, reconstruction
        loss the relative L2 norm. ``"bernoulli"``: it gives the logit of the
        high phase (a = a_min + (a_max - a_min) p), loss binary cross-entropy.
    w_pde, w_rec, w_label : float, default=1.0, 0.25, 1.0
        Weights of the weak residual, the reconstruction of a and (with ``y``)
        the relative L2 data misfit.
    encoder_lr_scale : float, default=0.1
        The encoder's learning rate relative to ``learning_rate``. The weak
        residual's gradient, orders of magnitude above the reconstruction's,
        otherwise drives the encoder into tanh saturation within a few
        hundred steps: every β goes to the same corner of (-1, 1)^d and the
        decoders see one input (measured: abs(β) 0.99, spread 0.03 across
        samples, u error above that of the mean solution). 1.0 is DGenNO's
        single rate.
    {params_doc(CORE_PARAMS)}

    Notes
    -----
    ``learning_rate`` defaults to 3e-3 here (peak of the onecycle schedule):
    on the CPU protocol of ``benchmarks/bench_dgno.py`` (1,200 steps) it gave
    6.4 % against 8.0 % at 1e-3 (5e-3: 6.0 %, single runs).
    """

    requires_y = False

    def __init__(self, pde=None, latent_dim=32, encoder="mlp", encoder_layers=(256, 128), width=64, depth=4,
                 sum_layers=3, a_likelihood="gaussian", w_pde=1.0, w_rec=0.25, w_label=1.0, encoder_lr_scale=0.1, *,
                 max_epochs=100, batch_size=50, learning_rate=3e-3, weight_decay=1e-4, scheduler="onecycle",
                 validation_fraction=0.1, early_stopping=False, n_iter_no_change=10, device="auto",
                 random_state=None, verbose=0, warm_start=False, checkpoint_path=None):
        store_params(self, locals())

    def _grid(self, X, what="X"):
        array, spec = extract_fields(X, what)
        if array.shape[1] != 1 or len(spec.grid_dims) != 2:
            raise ValueError(f"{what} must be one 2-D field (sample, x, y); got channels {spec.names}, dims {spec.grid_dims}")
        axes = [np.asarray(spec.coords[d]["values"] if spec.coords[d]["values"] is not None
                           else np.linspace(0, 1, spec.sizes[d])) for d in spec.grid_dims]
        return array[:, 0], spec, axes

    def _rebuild_network(self):
        flux = self.pde is not None and bool(getattr(self.pde, "uses_flux", False))
        return DGNONetwork(tuple(self.grid_shape_), int(self.latent_dim), int(self.width), int(self.depth),
                           int(self.sum_layers), self.encoder, tuple(self.encoder_layers), self.a_likelihood, flux)

    def _fit(self, X, y=None):
        if y is None and self.pde is None:
            raise ValueError("DGNOSolver needs pde= (a physics object such as opkit.physics.DarcyWeak(f=10)) "
                             "to train without labels, or y (the solutions u) for a data term; got pde=None and y=None")
        if self.pde is not None and not isinstance(self.pde, WeakPDE):
            raise TypeError(f"pde must be an opkit.physics object, got {type(self.pde).__name__}")
        if self.pde is not None and not hasattr(self.pde, "interpolate"):
            raise TypeError(f"DGNOSolver learns coefficient-to-solution maps on a 2-D grid (pde=DarcyWeak(...)); "
                            f"{type(self.pde).__name__} is not supported by it yet")
        if self.a_likelihood not in ("gaussian", "bernoulli"):
            raise ValueError(f"a_likelihood must be 'gaussian' or 'bernoulli', got {self.a_likelihood!r}")
        a, self.input_spec_, (x, yc) = self._grid(X)
        if self.pde is not None:
            self.pde.check_points(np.array([[x[0], yc[0]], [x[-1], yc[-1]]]), "X's grid")
            self.pde.check_radius(torch.float32)
        fields = {"a": torch.from_numpy(a)}
        if y is not None:
            u, self.output_spec_, _ = self._grid(y, "y")
            if u.shape != a.shape:
                raise ValueError(f"y has shape {u.shape}, X {a.shape}: they must share samples and grid")
            fields["u"] = torch.from_numpy(u)
        else:
            self.output_spec_ = FieldSpec(**{**self.input_spec_.__dict__, "names": ["u"], "var_attrs": {}})
        self.grid_shape_, self.coords_ = list(a.shape[1:]), [x.tolist(), yc.tolist()]
        seed = self._seed()
        generator, device = self._generator(seed), resolve_device(self.device)
        if self.warm_start and hasattr(self, "model_"):
            network = self.model_
        else:
            network = self._init_network(self._rebuild_network, seed)
            if self.a_likelihood == "bernoulli":
                network.a_shift.fill_(float(a.min())); network.a_scale.fill_(float(a.max() - a.min()) or 1.0)
            else:
                network.a_shift.fill_(float(a.mean())); network.a_scale.fill_(float(a.std()) or 1.0)
        network = network.to(device)
        source = FieldSource(**fields)
        step = _DGNOStep(self.pde, x, yc, (float(self.w_pde), float(self.w_rec), float(self.w_label)), seed)
        train_idx, val_idx = self._split_validation(len(source), generator)
        self._run_stage("fit", network, source.subset(train_idx), step=step, generator=generator, device=device,
                        val_source=source.subset(val_idx) if len(val_idx) else None,
                        history=self.history_ if self.warm_start and hasattr(self, "history_") else None)
        self._set_network(network, device)
        return self

    def _points(self, coords):
        if isinstance(coords, (xr.DataArray, xr.Dataset)):
            if "point" not in coords.dims:
                raise ValueError(f"coords must have a 'point' dim with x and y coordinates; its dims are {tuple(coords.dims)}")
            pts = np.stack([np.asarray(coords["x"].values), np.asarray(coords["y"].values)], -1)
        else:
            pts = np.asarray(coords, dtype=float)
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise ValueError(f"coords must be (n_points, 2) or have a 'point' dim; got shape {pts.shape}")
        (x0, x1), (y0, y1) = (self.coords_[0][0], self.coords_[0][-1]), (self.coords_[1][0], self.coords_[1][-1])
        outside = (pts[:, 0] < x0) | (pts[:, 0] > x1) | (pts[:, 1] < y0) | (pts[:, 1] > y1) | ~np.isfinite(pts).all(1)
        if outside.any():
            raise ValueError(f"coords has {int(outside.sum())} point(s) outside the domain [{x0}, {x1}] x [{y0}, {y1}]")
        return pts

    @torch.no_grad()
    def _decode(self, beta, pts):
        dtype = next(self.model_.parameters()).dtype
        p = torch.as_tensor(pts, dtype=dtype, device=self.device_)
        u, _ = self.model_.u_decoder(beta, p)
        if self.pde is not None:
            u = self.pde.mollifier(p)[0] * u
        a, _ = self.model_.decode_a(beta, p)
        return u.cpu().numpy(), a.cpu().numpy()

    @torch.no_grad()
    def _encode(self, X):
        check_is_fitted(self, "model_")
        a, spec, axes = self._grid(X)
        if list(a.shape[1:]) != self.grid_shape_:
            raise ValueError(f"X has grid {a.shape[1:]}, but the encoder was fitted on {tuple(self.grid_shape_)}")
        dtype = next(self.model_.parameters()).dtype
        return self.model_.encode(torch.as_tensor(a, dtype=dtype, device=self.device_)), spec, axes, X

    def _wrap(self, values, spec, axes, X, name, coords):
        samples = X["sample"].values if isinstance(X, (xr.DataArray, xr.Dataset)) and "sample" in X.coords else np.arange(len(values))
        if coords is not None:
            pts = self._points(coords)
            return xr.DataArray(values, dims=("sample", "point"), name=name,
                                coords={"sample": samples, "x": ("point", pts[:, 0]), "y": ("point", pts[:, 1])})
        da = xr.DataArray(values.reshape(len(values), *self.grid_shape_), dims=("sample", *spec.grid_dims[:2]), name=name,
                          coords={"sample": samples, spec.grid_dims[0]: axes[0], spec.grid_dims[1]: axes[1]})
        return da.values if spec.kind == "numpy" else da

    def predict(self, X, coords=None):
        """u on the grid of ``X`` (sample, x, y), or at ``coords`` (sample, point) with x, y coordinates."""
        check_is_fitted(self, "model_")
        beta, spec, axes, X = self._encode(X)
        pts = self._points(coords) if coords is not None else np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 2)
        u, _ = self._decode(beta, pts)
        return self._wrap(u, spec, axes, X, "u", coords)

    def transform(self, X):
        """The latent β of each sample, DataArray (sample, latent)."""
        beta, *_ = self._encode(X)
        return xr.DataArray(beta.cpu().numpy(), dims=("sample", "latent"), name="beta")

    def inverse_transform(self, beta, coords=None):
        """Decode latents: a(x; β) and u(x; β) on the fitted grid, or at ``coords``.

        Parameters
        ----------
        beta : xarray.DataArray or array-like, shape (sample, latent)
            Latents, e.g. from :meth:`transform` or the ``beta`` of
            :meth:`solve_inverse` (then with its ``draw`` dim flattened or selected).
        coords : xarray.Dataset, xarray.DataArray or array-like, optional
            Points (a ``point`` dim with x and y coordinates, or an array
            ``(n_points, 2)``); default the fitted grid.

        Returns
        -------
        xarray.Dataset
            ``a`` and ``u`` with dims (sample, x, y), or (sample, point) at ``coords``.
        """
        check_is_fitted(self, "model_")
        samples = beta["sample"].values if isinstance(beta, xr.DataArray) and "sample" in beta.coords else None
        values = np.asarray(beta.values if isinstance(beta, xr.DataArray) else beta, dtype=float)
        if values.ndim == 1:
            values = values[None]
        if values.ndim != 2 or values.shape[1] != int(self.latent_dim):
            raise ValueError(f"beta must be (sample, latent) with latent={self.latent_dim}; got shape {values.shape}")
        if not np.isfinite(values).all():
            raise ValueError("beta has non-finite values")
        samples = np.arange(len(values)) if samples is None else samples
        dtype = next(self.model_.parameters()).dtype
        b = torch.as_tensor(values, dtype=dtype, device=self.device_)
        if coords is not None:
            pts = self._points(coords)
            u, a = self._decode(b, pts)
            dims, c = ("sample", "point"), {"sample": samples, "x": ("point", pts[:, 0]), "y": ("point", pts[:, 1])}
        else:
            x, yc = self.coords_
            pts = np.stack(np.meshgrid(x, yc, indexing="ij"), -1).reshape(-1, 2)
            u, a = self._decode(b, pts)
            u, a = u.reshape(len(b), *self.grid_shape_), a.reshape(len(b), *self.grid_shape_)
            dims = ("sample", *self.input_spec_.grid_dims[:2])
            c = {"sample": samples, dims[1]: np.asarray(x), dims[2]: np.asarray(yc)}
        return xr.Dataset({"a": (dims, a), "u": (dims, u)}, coords=c)

    def _param_groups(self, module, stage):
        if stage == "solve_inverse":  # the decoders stay frozen: only the latents move
            return [{"params": [module.theta], "weight_decay": 0.0, "name": "theta"}]
        scale = float(self.encoder_lr_scale)
        if not scale > 0:
            raise ValueError(f"encoder_lr_scale must be > 0, got {self.encoder_lr_scale!r}")
        if scale == 1.0:
            return None
        encoder = [p for p in module.encoder.parameters() if p.requires_grad]
        ids = {id(p) for p in encoder}
        rest = [p for p in module.parameters() if p.requires_grad and id(p) not in ids]
        # Decoders first: the history's "lr" is that of the first group.
        return [{"params": rest, "name": "decoders"}, {"params": encoder, "lr_scale": scale, "name": "encoder"}]

    def solve_inverse(self, obs, snr_db=25.0, w_data=25.0, w_pde=1.0, n_iter=500, lr=1e-2, n_samples=5,
                      n_draws=8, temperature=0.5):
        """Recover a from sparse (noisy) u: latents optimised against the misfit plus the weak residual.

        The decoders stay frozen; each problem gets ``n_samples`` ensemble
        members (its own noise draw and initial latent), whose spread is the
        uncertainty. With ``a_likelihood="bernoulli"`` (two-phase a) the
        decoded phase probabilities ``p`` enter the weak residual through
        ``n_draws`` relaxed Bernoulli draws per iteration,
        ``a = a_low + (a_high - a_low) * sigmoid((logit p + L) / temperature)``
        with logistic noise ``L``, the loss averaged over the draws.

        Parameters
        ----------
        obs : xarray.DataArray
            u on an ``obs`` dim with ``x`` and ``y`` coordinates along it, optionally with a ``sample`` dim first.
        snr_db : float or None, default=25.0
            Gaussian noise of this signal-to-noise ratio is added to ``obs``
            (sigma = sqrt(mean(u^2) / 10^(snr/10))), a new draw per ensemble
            member; None uses ``obs`` as given.
        w_data, w_pde : float
            Weights of the relative L2 misfit and the weak residual (with the
            decoded a). Both are means over the problems and ensemble members,
            the residual's top-k term taken per member, so each member
            minimises DGenNO's single-problem objective whatever their number.
        n_iter : int
            Adam iterations (epochs of the core's ``solve_inverse`` stage).
        lr : float
        n_samples : int
            Ensemble members per problem.
        n_draws : int, default=8
            Relaxed Bernoulli draws of a per iteration (two-phase only).
        temperature : float, default=0.5
            Temperature of the relaxation (two-phase only; smaller: closer to 0/1 draws).

        Returns
        -------
        xarray.Dataset
            ``a_mean``, ``a_std``, ``u_mean``, ``u_std`` (sample, x, y) on the
            fitted grid (mean and spread over the ensemble), ``a_prob`` (the
            mean probability of the high phase; two-phase only), ``beta``
            (sample, draw, latent), one latent per ensemble member, and
            ``loss`` (iteration), the objective during the optimisation. The
            estimator's fitted state (``history_`` included) is left as it was.
        """
        check_is_fitted(self, "model_")
        if snr_db is not None and not np.isfinite(float(snr_db)):
            raise ValueError(f"snr_db must be a finite number of decibels (or None for no added noise), got {snr_db!r}")
        if not isinstance(obs, xr.DataArray) or "obs" not in obs.dims:
            raise ValueError("obs must be a DataArray with an 'obs' dim and x, y coordinates along it")
        two_phase = self.a_likelihood == "bernoulli"
        if two_phase and not (int(n_draws) >= 1 and float(temperature) > 0):
            raise ValueError(f"n_draws must be >= 1 and temperature > 0; got n_draws={n_draws!r}, temperature={temperature!r}")
        obs = obs if "sample" in obs.dims else obs.expand_dims("sample")
        pts = self._points(np.stack([obs["x"].values, obs["y"].values], -1))
        values = np.asarray(obs.transpose("sample", "obs").values, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("obs has non-finite values")
        n, k = len(values), int(n_samples)
        rng = np.random.default_rng(self._seed())
        clean = np.repeat(values, k, axis=0)
        if snr_db is not None:
            sigma = np.sqrt((clean**2).mean(1, keepdims=True) / 10 ** (float(snr_db) / 10))
            clean = clean + sigma * rng.standard_normal(clean.shape)
        theta = torch.as_tensor(0.1 * rng.standard_normal((n * k, int(self.latent_dim))), dtype=torch.float32)
        module = InverseNetwork(self.model_, theta.to(self.device_))
        source = FieldSource(index=torch.arange(n * k), obs=torch.as_tensor(clean, dtype=torch.float32))
        pde, obs_points, network = self.pde, torch.as_tensor(pts, dtype=torch.float32), self.model_
        x, yc = self.coords_
        grid = torch.as_tensor(np.stack(np.meshgrid(x, yc, indexing="ij"), -1).reshape(-1, 2), dtype=torch.float32)
        seeds = np.random.default_rng(int(rng.integers(2**31)))
        noise = torch.Generator().manual_seed(int(rng.integers(2**31)))

        def step(net, batch):
            device = batch["obs"].device
            op = obs_points.to(device)
            if pde is None or w_pde == 0:
                out = net(batch["index"], op, op, u_grad=False)
                u = out["u"] if pde is None else pde.mollifier(op)[0] * out["u"]
                return {"data": w_data * _relative(u, batch["obs"])}
            points, phi, grad_phi = pde.test_functions(pde.sample_centers(int(seeds.integers(2**31))), device=device)
            flat = points.reshape(-1, 2)
            out = net(batch["index"], torch.cat([flat, op]), flat, u_grad=True, s_points=flat if pde.uses_flux else None)
            m, grad_m = pde.mollifier(torch.cat([flat, op]))
            u = m * out["u"]
            grad_u = (grad_m * out["u"][..., None] + m[:, None] * out["grad_u"])[:, : len(flat)]
            shape = (len(u), *phi.shape)
            if two_phase:  # relaxed Bernoulli draws of the decoded phase
                logits = out["a_raw"].reshape(shape)
                u01 = torch.rand((int(n_draws), *shape), generator=noise).clamp(1e-6, 1 - 1e-6).to(device)
                z = torch.sigmoid((logits + torch.log(u01) - torch.log1p(-u01)) / float(temperature))
                a_q = network.a_shift + network.a_scale * z
            else:
                a_q = out["a"].reshape(shape)
            s = out["s"].reshape(*shape, 2) if pde.uses_flux else None
            return {"data": w_data * _relative(u[:, len(flat):], batch["obs"]),
                    "pde": w_pde * pde.weak_loss(grad_u.reshape(*shape, 2), a_q, phi, grad_phi, s, per_sample=True)}

        # The stage must not touch the fitted state: keep the fit's history.
        kept = {name: getattr(self, name) for name in ("history_", "stage_history_", "n_epochs_") if hasattr(self, name)}
        try:
            history = self._run_stage("solve_inverse", module, source, step=step, generator=self._generator(),
                                      device=self.device_, max_epochs=int(n_iter), batch_size=n * k,
                                      learning_rate=float(lr), scheduler="constant", early_stopping=False,
                                      checkpoint_path=None)
        finally:
            for name in ("history_", "stage_history_", "n_epochs_"):
                if name in kept:
                    setattr(self, name, kept[name])
                elif hasattr(self, name):
                    delattr(self, name)
        beta = torch.tanh(module.theta.detach())
        u, a = self._decode(beta, grid.numpy())
        shape = (n, k, *self.grid_shape_)
        u, a = u.reshape(shape), a.reshape(shape)
        dims = ("sample", "x", "y")
        coords = {"sample": obs["sample"].values if "sample" in obs.coords else np.arange(n), "x": x, "y": yc}
        data = {"a_mean": (dims, a.mean(1)), "a_std": (dims, a.std(1)), "u_mean": (dims, u.mean(1)),
                "u_std": (dims, u.std(1)), "beta": (("sample", "draw", "latent"), beta.cpu().numpy().reshape(n, k, -1)),
                "loss": (("iteration",), np.asarray(history["train_loss"], dtype=float))}
        if two_phase:
            low, span = float(self.model_.a_shift), float(self.model_.a_scale)
            data["a_prob"] = (dims, ((a - low) / span).mean(1))
        return xr.Dataset(data, coords=coords)

    def _extra_state(self):
        return {"grid_shape": self.grid_shape_, "coords": self.coords_, "input_spec": self.input_spec_.to_dict(),
                "output_spec": self.output_spec_.to_dict()}, {}

    def _set_extra_state(self, meta, tensors):
        self.grid_shape_, self.coords_ = meta["grid_shape"], meta["coords"]
        self.input_spec_ = FieldSpec.from_dict(meta["input_spec"])
        self.output_spec_ = FieldSpec.from_dict(meta["output_spec"])
