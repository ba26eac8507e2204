"""Small estimators on the estimator core, one per shape the core must serve.

* :class:`ToyPoissonSolver`: label-free (``fit(X)``), a 1-D Poisson problem
  ``-u'' = f``, ``u(0) = u(1) = 0``, learned from the finite-difference residual.
* :class:`ToyVectorRegressor`: vectors in, vectors out (``(sample, component)``).
* :class:`ToyTwoStageRegressor`: a trunk and a head; stage ``fit`` trains both
  with AdamW in float32, stage ``refine`` only the head with full-batch L-BFGS
  in float64.

They register themselves (``opkit.ESTIMATORS``) when this module is imported,
so ``opkit.load`` and ``OpKit`` find them.
"""

import numpy as np
import torch
import xarray as xr
from sklearn.utils.validation import check_is_fitted

from opkit.estimator import CORE_PARAMS, OpkitEstimator, params_doc, store_params
from opkit.outputs import extract_vectors, rebuild_vectors
from opkit._validation import FieldSpec
from opkit.training import FieldSource, SupervisedStep, resolve_device


def poisson_data(n_samples, n_points=31, seed=0):
    """``f`` on the interior points of [0, 1] and the exact ``u`` (sums of 4 sine modes)."""
    rng = np.random.default_rng(seed)
    x = np.arange(1, n_points + 1) / (n_points + 1)
    k = np.arange(1, 5)
    a = rng.normal(size=(n_samples, 4)) / k
    modes = np.sin(np.pi * k[:, None] * x[None, :])
    u = a @ modes
    f = (a * (np.pi * k) ** 2) @ modes
    coords = {"sample": np.arange(n_samples), "x": x}
    return (xr.DataArray(f.astype(np.float32), dims=("sample", "x"), coords=coords, name="f"),
            xr.DataArray(u.astype(np.float32), dims=("sample", "x"), coords=coords, name="u"))


class _SpectralGain(torch.nn.Module):
    """``u = S diag(g) S f / pi^2``: a learned gain per sine mode (``S`` the orthogonal DST-I), starting at 0.

    One parameter per mode makes the residual fit well conditioned for Adam.
    """

    def __init__(self, n):
        super().__init__()
        j = torch.arange(1, n + 1, dtype=torch.float64)
        self.register_buffer("basis", (np.sqrt(2.0 / (n + 1)) * torch.sin(np.pi * j[:, None] * j[None, :] / (n + 1))).float())
        self.gain = torch.nn.Parameter(torch.zeros(n))

    def forward(self, f):
        return (f @ self.basis * self.gain) @ self.basis / np.pi**2


class PoissonResidual:
    """Step: relative mean square of ``-u'' - f`` on the grid, ``u = 0`` at both ends."""

    def __init__(self, h):
        self.h = h

    def __call__(self, module, batch):
        f = batch["f"]
        u = torch.nn.functional.pad(module(f), (1, 1))
        residual = -(u[:, 2:] - 2 * u[:, 1:-1] + u[:, :-2]) / self.h**2 - f
        return {"residual": (residual**2).mean() / (f**2).mean()}


class ToyPoissonSolver(OpkitEstimator):
    __doc__ = f"""Label-free toy: maps ``f`` to ``u`` for ``-u'' = f`` by a gain per sine mode, from the residual alone.

    Parameters
    ----------
    {params_doc(CORE_PARAMS)}
    """

    requires_y = False

    def __init__(self, *, max_epochs=100, batch_size=32, learning_rate=1e-3, weight_decay=1e-4,
                 scheduler="onecycle", validation_fraction=0.1, early_stopping=False, n_iter_no_change=10,
                 device="auto", random_state=None, verbose=0, warm_start=False, checkpoint_path=None):
        store_params(self, locals())

    def _rebuild_network(self):
        return _SpectralGain(self.n_points_)

    def _fit(self, X, y=None):
        f = np.asarray(X.transpose("sample", "x").values, dtype=np.float32)
        self.n_points_ = f.shape[1]
        self.x_ = np.asarray(X["x"].values)
        seed = self._seed()
        generator, device = self._generator(seed), resolve_device(self.device)
        network = self._init_network(self._rebuild_network, seed).to(device)
        h = 1.0 / (self.n_points_ + 1)
        self._run_stage("fit", network, FieldSource(f=torch.from_numpy(f)), step=PoissonResidual(h),
                        generator=generator, device=device)
        self._set_network(network, device)
        return self

    @torch.no_grad()
    def predict(self, X):
        check_is_fitted(self, "model_")
        f = torch.from_numpy(np.asarray(X.transpose("sample", "x").values, dtype=np.float32))
        u = self.model_(f.to(self.device_)).cpu().numpy()
        return xr.DataArray(u, dims=("sample", "x"), coords={"sample": X["sample"].values, "x": X["x"].values}, name="u")

    def _score_bc(self, y):
        return {"x": "dirichlet"}

    def _extra_state(self):
        return {"n_points": self.n_points_}, {"x": torch.tensor(self.x_)}

    def _set_extra_state(self, meta, tensors):
        self.n_points_ = int(meta["n_points"])
        self.x_ = tensors["x"].numpy()


def relative_mse(prediction, target):
    """Mean over samples of ``|prediction - target|^2 / |target|^2``."""
    return (((prediction - target) ** 2).sum(1) / (target**2).sum(1)).mean()


class _Mlp(torch.nn.Module):
    def __init__(self, n_in, n_out, hidden):
        super().__init__()
        self.trunk = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.Tanh(),
                                         torch.nn.Linear(hidden, hidden), torch.nn.Tanh())
        self.head = torch.nn.Linear(hidden, n_out)

    def forward(self, x):
        return self.head(self.trunk(x))


class ToyVectorRegressor(OpkitEstimator):
    __doc__ = f"""Vector toy: an MLP from ``(sample, feature)`` to ``(sample, component)``.

    Parameters
    ----------
    hidden : int, default=32
        Width of the two hidden layers.
    {params_doc(CORE_PARAMS)}
    """

    output_kind = "vector"

    def __init__(self, hidden=32, *, max_epochs=100, batch_size=32, learning_rate=1e-3, weight_decay=1e-4,
                 scheduler="onecycle", validation_fraction=0.1, early_stopping=False, n_iter_no_change=10,
                 device="auto", random_state=None, verbose=0, warm_start=False, checkpoint_path=None):
        store_params(self, locals())

    def _rebuild_network(self):
        return _Mlp(self.input_spec_.n_channels, self.output_spec_.n_channels, int(self.hidden))

    def _prepare(self, X, y):
        X_arr, self.input_spec_ = extract_vectors(X, "X")
        y_arr, self.output_spec_ = extract_vectors(y, "y")
        if len(X_arr) != len(y_arr):
            raise ValueError(f"X and y have different numbers of samples ({len(X_arr)} vs {len(y_arr)})")
        self.x_mean_ = torch.from_numpy(X_arr.mean(0))
        self.x_std_ = torch.from_numpy(X_arr.std(0) + 1e-8)
        return FieldSource(x=(torch.from_numpy(X_arr) - self.x_mean_) / self.x_std_, y=torch.from_numpy(y_arr))

    def _fit(self, X, y):
        source = self._prepare(X, y)
        seed = self._seed()
        generator, device = self._generator(seed), resolve_device(self.device)
        network = self._init_network(self._rebuild_network, seed).to(device)
        train_idx, val_idx = self._split_validation(len(source), generator)
        self._run_stage("fit", network, source.subset(train_idx), step=SupervisedStep(relative_mse),
                        val_source=source.subset(val_idx) if len(val_idx) else None,
                        generator=generator, device=device)
        self._set_network(network, device)
        return self

    @torch.no_grad()
    def predict(self, X):
        check_is_fitted(self, "model_")
        X_arr, _ = extract_vectors(X, "X")
        dtype = next(self.model_.parameters()).dtype
        x = ((torch.from_numpy(X_arr) - self.x_mean_) / self.x_std_).to(self.device_, dtype)
        out = self.model_(x).cpu().numpy()
        coord = X["sample"].values if isinstance(X, xr.DataArray) and "sample" in X.coords else None
        return rebuild_vectors(out, self.output_spec_, sample_coord=coord)

    def _extra_state(self):
        return ({"input_spec": self.input_spec_.to_dict(), "output_spec": self.output_spec_.to_dict()},
                {"x_mean": self.x_mean_, "x_std": self.x_std_})

    def _set_extra_state(self, meta, tensors):
        self.input_spec_ = FieldSpec.from_dict(meta["input_spec"])
        self.output_spec_ = FieldSpec.from_dict(meta["output_spec"])
        self.x_mean_, self.x_std_ = tensors["x_mean"], tensors["x_std"]


class ToyTwoStageRegressor(ToyVectorRegressor):
    __doc__ = f"""Two-stage toy: AdamW on trunk and head, then L-BFGS in float64 on the head alone.

    Parameters
    ----------
    hidden : int, default=16
        Width of the trunk.
    refine_epochs : int, default=5
        L-BFGS steps of the ``refine`` stage.
    {params_doc(CORE_PARAMS)}
    """

    def __init__(self, hidden=16, refine_epochs=5, *, max_epochs=100, batch_size=32, learning_rate=1e-3,
                 weight_decay=1e-4, scheduler="onecycle", validation_fraction=0.1, early_stopping=False,
                 n_iter_no_change=10, device="auto", random_state=None, verbose=0, warm_start=False,
                 checkpoint_path=None):
        store_params(self, locals())

    def _stage_settings(self, stage):
        if stage == "refine":
            return {"optimizer": "lbfgs", "dtype": "float64", "max_epochs": int(self.refine_epochs),
                    "learning_rate": 1.0}
        return {}

    def _param_groups(self, module, stage):
        if stage == "refine":
            return [{"params": module.head.parameters(), "name": "head"}]
        return None

    def _fit(self, X, y):
        super()._fit(X, y)
        source = self._prepare(X, y)
        self._run_stage("refine", self.model_, source, step=SupervisedStep(relative_mse),
                        generator=self._generator(), device=self.device_)
        return self
