"""MgNOOperator: the multigrid neural operator as an estimator."""

from __future__ import annotations

from ..base import OperatorEstimator, fitted_attributes_doc, shared_params_doc
from ..estimator import store_params
from ..layers.multigrid_conv import MgNONet, max_levels, padding_modes, smoothing_schedule

__all__ = ["MgNOOperator"]


class MgNOOperator(OperatorEstimator):
    __doc__ = f"""Multigrid neural operator (MgNO) for fields on 2-D grids.

    He, Liu and Xu, "MgNO: Efficient Parameterization of Linear Operators via
    Multigrid" (ICLR 2024). Each of ``n_layers`` layers computes
    ``u <- GELU(W_Mg u + W u + b)``, where ``W_Mg`` is a learned multigrid
    cycle (:class:`opkit.layers.multigrid_conv.MultigridCycle`): on every
    level, smoothing steps ``u <- u + S (f - A u)`` with 3 x 3 convolutions,
    strided-convolution restriction of ``u`` and ``f``, transposed-convolution
    prolongation on the way up. A 1 x 1 convolution maps the last layer to
    the outputs. Convolutions are padded as the boundary conditions of ``y``
    say (``bc_x``/``bc_y`` attributes: zeros for Dirichlet, circular for
    periodic, reflection for Neumann), unless ``padding`` overrides it.

    Not resolution-invariant: the 3 x 3 stencils are learned for the grid
    spacing of ``fit`` (a stencil that approximates an operator at one
    spacing approximates another one at half the spacing), so ``predict``
    refuses grids of another size with a ``ValueError``. Any grid size can
    be trained on, odd ones included.

    The defaults are the smallest published configuration (Darcy flow: 4
    layers, 24 channels, 6 levels, two smoothing steps on the finest level
    and one on the others, no post-smoothing; 572,661 parameters for one
    input and one output channel on a grid of 128 points or more). On
    smaller grids the number of levels is capped at
    :func:`~opkit.layers.multigrid_conv.max_levels` (3 levels on 16 x 16, 5
    on 64 x 64), which lowers the parameter count.

    Training defaults were measured on the embedded 16 x 16 Darcy data (20
    epochs, seed 0, test relative L2): outputs normalised per grid point, as
    MgNO's own code does (0.084 against 0.091 with one mean and std per
    channel); relative L2 training loss (0.082, and a lower test H1 error
    too, against 0.084 with MgNO's H1 loss); AdamW at 2e-3 (1e-3: 0.083;
    5e-3 diverges). See ``docs/benchmarks.rst``.

    Parameters
    ----------
    channels : int, default=24
        Width of the hidden layers (channels of the multigrid iterate ``u``).
    n_layers : int, default=4
        Number of MgNO layers.
    n_levels : int, default=6
        Levels of every multigrid cycle (grids ``n, ceil(n/2), ...``); capped
        by the grid size as said above.
    pre_smoothing : int or tuple of int, default=(2, 1, 1, 1, 1, 1)
        Smoothing steps on each level on the way down, finest first (an int
        applies to every level); the finest level needs at least one.
    post_smoothing : int or tuple of int, default=0
        Smoothing steps on each level on the way up (0: MgNO's sawtooth
        cycle, smoothing only on the way down; positive counts give a V-cycle).
    padding : {{"auto", "zeros", "circular", "reflect"}} or dict, default="auto"
        Convolution padding; ``"auto"`` follows the ``bc_*`` attributes of
        ``y``; a dict gives one mode (or ``"auto"``) per grid dim name.
    {shared_params_doc()}
    {fitted_attributes_doc()}
    Examples
    --------
    >>> from opkit.models import MgNOOperator
    >>> from opkit.data import load_darcy_small
    >>> train, test = load_darcy_small("both")
    >>> est = MgNOOperator(max_epochs=2, random_state=0).fit(train.a, train.u)
    >>> est.predict(test.a).dims
    ('sample', 'x', 'y')
    """

    resolution_invariant = False

    def __init__(
        self, channels=24, n_layers=4, n_levels=6, pre_smoothing=(2, 1, 1, 1, 1, 1), post_smoothing=0, padding="auto",
        # the shared hyperparameters (opkit.base.SHARED_PARAMS), with this model's defaults
        *, loss="l2", max_epochs=20, batch_size=8, learning_rate=2e-3, weight_decay=1e-4, scheduler="onecycle",
        validation_fraction=0.1, early_stopping=False, n_iter_no_change=10, normalize="pointwise", symmetries="auto",
        device="auto", random_state=None, verbose=0, warm_start=False, checkpoint_path=None,
    ):
        store_params(self, locals())

    def _check_grid(self, spec, what):
        if len(spec.grid_dims) != 2:
            raise ValueError(f"MgNOOperator needs fields on a 2-D grid; {what} has grid dims {spec.grid_dims}")
        for dim in spec.grid_dims:
            if spec.sizes[dim] < 2:
                raise ValueError(f"MgNOOperator needs at least 2 points per dim; {what} has {spec.sizes[dim]} along '{dim}'")

    def levels_for(self, spec) -> int:
        """Number of multigrid levels used on the grid of ``spec`` (``n_levels`` capped).

        Parameters
        ----------
        spec : FieldSpec

        Returns
        -------
        int
        """
        return max(1, min(int(self.n_levels), max_levels(spec.sizes[d] for d in spec.grid_dims)))

    def _build_network(self, in_channels, out_channels, input_spec, output_spec):
        levels = self.levels_for(output_spec)
        pre = smoothing_schedule(self.pre_smoothing, levels, "pre_smoothing")
        post = smoothing_schedule(self.post_smoothing, levels, "post_smoothing")
        modes = padding_modes(self.padding, output_spec.grid_dims, output_spec.bc)
        return MgNONet(in_channels, out_channels, int(self.channels), int(self.n_layers), pre, post, modes)
