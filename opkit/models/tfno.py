"""TFNORegressor: the tensorised Fourier neural operator of neuraloperator, as an estimator."""

from __future__ import annotations

from ..base import OperatorEstimator, fitted_attributes_doc, shared_params_doc
from ..estimator import store_params
from ..layers.multigrid import MultigridPatched

__all__ = ["TFNORegressor"]


class TFNORegressor(OperatorEstimator):
    __doc__ = f"""Tensorised Fourier neural operator (TFNO / MG-TFNO) regressor.

    An FNO whose spectral weights are a low-rank Tucker, CP or tensor-train
    tensor (Kossaifi et al., "Multi-Grid Tensorized Fourier Neural Operator
    for High-Resolution PDEs"), built on ``neuralop.models.FNO``; optionally
    wrapped in multigrid patching (MG-TFNO). Resolution-invariant: ``predict``
    accepts grids of any resolution.

    Parameters
    ----------
    n_modes : int or tuple of int, default=16
        Fourier modes kept per grid dim (an int is used for every dim).
    hidden_channels : int, default=32
        Width of the Fourier layers.
    n_layers : int, default=4
        Number of Fourier layers.
    factorization : {{"tucker", "cp", "tt", "dense"}}, default="tucker"
        Format of the spectral weights; ``"dense"`` is the plain FNO.
    rank : float, default=0.1
        Rank as a fraction of the dense weight's size.
    multigrid_levels : int, default=0
        Levels of multigrid patching (2-D only; 0 disables it).
    multigrid_padding : float, default=0.0625
        Padding of each multigrid patch, as a fraction of the side.
    positional_embedding : bool, default=True
        Append the grid coordinates (on [0, 1]) as input channels.
    domain_padding : float or "auto", default="auto"
        Zero-padding of the domain as a fraction of each side before the
        Fourier layers (it lets a periodic basis represent non-periodic
        fields). ``"auto"``: 0.125 when any grid dim is non-periodic, else 0.
    time_window : (int, int) or None, default=None
        ``(T_in, T_out)`` for time-dependent data: ``X`` holds ``T_in`` frames
        along ``time`` and ``y`` the next ``T_out``; frames become channels of
        a spatial FNO (the FNO-2D recipe for Navier--Stokes) instead of
        ``time`` being a grid dim (FNO-3D, the default). ``predict`` returns
        ``T_out`` frames whose times keep fit's lead over the input frames.
        :func:`opkit.data.time_windows` cuts such pairs from trajectories.
    {shared_params_doc()}
    {fitted_attributes_doc()}
    Examples
    --------
    >>> from opkit import TFNORegressor
    >>> from opkit.data import load_darcy_small
    >>> train, test = load_darcy_small("both")
    >>> est = TFNORegressor(max_epochs=2, random_state=0).fit(train.a, train.u)
    >>> est.predict(test.a).dims
    ('sample', 'x', 'y')
    """

    resolution_invariant = True

    def __init__(
        self, n_modes=16, hidden_channels=32, n_layers=4, factorization="tucker", rank=0.1, multigrid_levels=0,
        multigrid_padding=0.0625, positional_embedding=True, domain_padding="auto", time_window=None,
        # the shared hyperparameters (opkit.base.SHARED_PARAMS), with this model's defaults
        *, loss="l2", max_epochs=20, batch_size=16, learning_rate=1e-2, weight_decay=1e-4, scheduler="onecycle",
        validation_fraction=0.1, early_stopping=False, n_iter_no_change=10, normalize=True, symmetries="auto",
        device="auto", random_state=None, verbose=0, warm_start=False, checkpoint_path=None,
    ):
        store_params(self, locals())

    def _check_grid(self, spec, what):
        levels = int(self.multigrid_levels)
        if levels:
            if len(spec.grid_dims) != 2:
                raise ValueError(f"multigrid_levels={levels} needs 2-D fields; {what} has grid dims {spec.grid_dims}")
            for dim in spec.grid_dims:
                if spec.sizes[dim] % 2**levels:
                    raise ValueError(
                        f"multigrid_levels={levels} needs sizes divisible by {2**levels}; "
                        f"{what} has {spec.sizes[dim]} points along '{dim}'"
                    )

    def _build_network(self, in_channels, out_channels, input_spec, output_spec):
        from neuralop.models import FNO

        n_dims = len(output_spec.grid_dims)
        modes = (self.n_modes,) * n_dims if isinstance(self.n_modes, int) else tuple(self.n_modes)
        if len(modes) != n_dims:
            raise ValueError(f"n_modes={self.n_modes!r} has {len(modes)} entries but the grid has {n_dims} dims {output_spec.grid_dims}")
        padding = self.domain_padding
        if padding == "auto":
            bounded = any(output_spec.bc[d] != "periodic" for d in output_spec.grid_dims)
            padding = 0.125 if bounded else None
        levels = int(self.multigrid_levels)
        factorization = None if self.factorization in (None, "dense") else self.factorization
        network = FNO(
            n_modes=modes,
            in_channels=in_channels + levels,
            out_channels=out_channels,
            hidden_channels=int(self.hidden_channels),
            n_layers=int(self.n_layers),
            positional_embedding="grid" if self.positional_embedding else None,
            domain_padding=padding or None,
            factorization=factorization,
            rank=float(self.rank),
            implementation="factorized",
        )
        if levels:
            network = MultigridPatched(network, levels, float(self.multigrid_padding))
        return network
