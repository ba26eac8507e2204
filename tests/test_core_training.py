"""The training loop's pieces: steps with named terms, sample sources, parameter groups, stages."""

import numpy as np
import pytest
import torch

from opkit.training import (
    FieldSource,
    SampleSubset,
    SourceSubset,
    SupervisedStep,
    TrainConfig,
    subset_source,
    train_module,
)


class AllPairs:
    """Every pair ``k <= m`` of snapshots of each trajectory, built at ``take`` time, with lead time ``t_m - t_k``."""

    def __init__(self, trajectories, times):
        self.trajectories, self.times = trajectories, times
        n_time = len(times)
        pairs = [(s, k, m) for s in range(len(trajectories)) for k in range(n_time) for m in range(k, n_time)]
        self.pairs = torch.tensor(pairs)

    def __len__(self):
        return len(self.pairs)

    def take(self, index):
        s, k, m = self.pairs[index].T
        return {"x": self.trajectories[s, k], "tau": self.times[m] - self.times[k], "y": self.trajectories[s, m]}


class Decay(torch.nn.Module):
    """``u(t + tau) = exp(-rate * tau) u(t)`` with a learned rate."""

    def __init__(self):
        super().__init__()
        self.rate = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, tau):
        return x * torch.exp(-self.rate * tau)[:, None]


def pair_step(module, batch):
    error = module(batch["x"], batch["tau"]) - batch["y"]
    return {"data": (error**2).mean(), "prior": 1e-6 * module.rate**2}


def test_lazy_pair_source_with_lead_time_and_named_terms():
    times = torch.linspace(0, 1, 6)
    u0 = torch.randn(4, 8, generator=torch.Generator().manual_seed(0))
    trajectories = u0[:, None] * torch.exp(-1.5 * times)[None, :, None]
    source = AllPairs(trajectories, times)
    assert len(source) == 4 * 6 * 7 // 2  # (K + 1)(K + 2) / 2 pairs per trajectory, tau = 0 included
    module = Decay()
    config = TrainConfig(max_epochs=40, batch_size=16, learning_rate=0.1, weight_decay=0.0, scheduler="cosine")
    history, _ = train_module(module, pair_step, subset_source(source, np.arange(70)), config, device=torch.device("cpu"),
                              generator=torch.Generator().manual_seed(0), val_source=subset_source(source, np.arange(70, 84)))
    assert module.rate.item() == pytest.approx(1.5, abs=0.02)
    for key in ("train/data", "train/prior", "val/data", "val/prior"):
        assert len(history[key]) == 40
    # The optimised loss is the sum of the terms (no "loss" key).
    np.testing.assert_allclose(history["train_loss"], np.add(history["train/data"], history["train/prior"]), rtol=1e-6)
    assert history["val/data"][-1] < 1e-3 * history["val/data"][0]


def test_source_subsets_pick_the_right_samples():
    x = torch.arange(10.0)[:, None]
    source = FieldSource(x=x, y=2 * x)
    part = subset_source(source, [7, 2, 5])
    assert isinstance(part, FieldSource)  # tensors are indexed now
    np.testing.assert_array_equal(part.take(torch.tensor([0, 2]))["y"].numpy().ravel(), [14, 10])
    generic = subset_source(AllPairs(torch.zeros(1, 3, 2), torch.arange(3.0)), [5, 0])
    assert isinstance(generic, SourceSubset) and len(generic) == 2
    np.testing.assert_array_equal(generic.take(torch.tensor([0, 1]))["tau"].numpy(), [0.0, 0.0])

    class Lazy:
        def __init__(self, array):
            self.array = array

        def __len__(self):
            return len(self.array)

        def take(self, index):
            return self.array[np.asarray(index)]

    lazy = FieldSource(x=Lazy(np.arange(10, dtype=np.float32)[:, None]))
    np.testing.assert_array_equal(lazy.subset([9, 1]).fields["x"].take([1]), [[1.0]])
    assert isinstance(lazy.subset([9, 1]).fields["x"], SampleSubset)
    with pytest.raises(ValueError, match="differ in length"):
        FieldSource(x=x, y=x[:3])


class TrunkHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = torch.nn.Linear(3, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, x):
        return self.head(torch.tanh(self.trunk(x)))


def _regression(n=64):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 3, generator=g)
    return FieldSource(x=x, y=x.sum(1, keepdim=True) ** 2)


def test_parameter_groups_scale_learning_rates_and_leave_the_rest_frozen():
    module = TrunkHead()
    trunk_before = {k: v.clone() for k, v in module.trunk.state_dict().items()}
    config = TrainConfig(max_epochs=2, batch_size=16, learning_rate=1e-2, scheduler="constant")
    step = SupervisedStep(torch.nn.functional.mse_loss)
    history, _ = train_module(module, step, _regression(), config, device=torch.device("cpu"),
                              generator=torch.Generator().manual_seed(0),
                              param_groups=[{"params": module.head.parameters(), "lr_scale": 0.5}])
    assert history["lr"] == [5e-3, 5e-3]
    for key, value in module.trunk.state_dict().items():
        torch.testing.assert_close(value, trunk_before[key], rtol=0, atol=0)
    assert all(p.requires_grad for p in module.parameters())
    # requires_grad=False parameters are never trained, whatever the groups.
    module.head.weight.requires_grad_(False)
    head_weight = module.head.weight.clone()
    train_module(module, step, _regression(), config, device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(module.head.weight, head_weight, rtol=0, atol=0)
    assert not module.head.weight.requires_grad
    module.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameters"):
        train_module(module, step, _regression(), config, device=torch.device("cpu"), generator=torch.Generator())


def test_lbfgs_float64_stage_converges_on_a_least_squares_problem():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(50, 4, generator=g, dtype=torch.float64)
    coef = torch.tensor([[1.0, -2.0, 0.5, 3.0]], dtype=torch.float64)
    source = FieldSource(x=x, y=x @ coef.T + 0.25)
    module = torch.nn.Linear(4, 1)
    config = TrainConfig(max_epochs=3, optimizer="lbfgs", dtype="float64", learning_rate=1.0)
    history, _ = train_module(module, SupervisedStep(torch.nn.functional.mse_loss), source, config,
                              device=torch.device("cpu"), generator=torch.Generator())
    assert module.weight.dtype == torch.float64
    torch.testing.assert_close(module.weight, coef.double(), rtol=0, atol=1e-8)
    assert history["train_loss"][-1] < 1e-16
    with pytest.raises(ValueError, match="optimizer must be one of"):
        train_module(module, SupervisedStep(torch.nn.functional.mse_loss), source,
                     TrainConfig(optimizer="sgd"), device=torch.device("cpu"), generator=torch.Generator())


def test_complex_weights_survive_a_float64_stage():
    from opkit.training import cast_module

    module = torch.nn.Module()
    module.w = torch.nn.Parameter(torch.tensor([1 + 2j], dtype=torch.complex64))
    module.b = torch.nn.Parameter(torch.ones(1))
    cast_module(module, torch.float64)
    assert module.w.dtype == torch.complex128 and module.w.imag.item() == 2.0
    assert module.b.dtype == torch.float64


class _ThreadProbe(torch.nn.Module):
    """A linear map that records the intra-op thread count it runs under."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)
        self.seen = set()

    def forward(self, x):
        self.seen.add(torch.get_num_threads())
        return self.linear(x)


@pytest.mark.parametrize("n_features, expected", [(4, {1}), (2**15, {2})])
def test_small_cpu_batches_train_on_one_thread_and_the_thread_count_comes_back(n_features, expected):
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        module = _ThreadProbe()
        x = torch.randn(8, n_features)
        source = FieldSource(x=x[:, :4], y=x[:, :4], pad=x)  # pad only sets the batch's size
        step = lambda m, b: ((m(b["x"]) - b["y"]) ** 2).mean()  # noqa: E731
        train_module(module, step, source, TrainConfig(max_epochs=1, batch_size=4),
                     device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
        assert module.seen == expected
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_step_scheduler_halves_the_rate_after_every_fifth_of_the_run():
    from opkit.training import TrainConfig, _make_scheduler

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    scheduler = _make_scheduler("step", optimizer, TrainConfig(max_epochs=10), steps_per_epoch=3)
    rates = []
    for _ in range(30):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == 1.0 and rates[5] == 1.0 and rates[6] == 0.5 and rates[29] == 0.0625
    assert sorted(set(rates), reverse=True) == [1.0, 0.5, 0.25, 0.125, 0.0625]


@pytest.mark.parametrize("steps", [1, 3, 5, 7])
def test_onecycle_runs_of_a_few_steps_do_not_divide_by_zero(steps):
    from opkit.training import TrainConfig, _make_scheduler

    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    scheduler = _make_scheduler("onecycle", optimizer, TrainConfig(max_epochs=1), steps_per_epoch=steps)
    rates = []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert all(0 < r <= 1.0 for r in rates) and max(rates) == pytest.approx(1.0)


def test_gradient_clip_bounds_the_norm_the_optimiser_sees():
    # One batch, so the gradients left on the module after the stage are those of the step taken.
    def grad_norm(clip):
        module = TrunkHead()
        with torch.no_grad():
            module.head.weight.mul_(100.0)  # a steep loss: gradient norm far above the clip
        config = TrainConfig(max_epochs=1, batch_size=64, learning_rate=1e-3, scheduler="constant",
                             gradient_clip=clip)
        train_module(module, SupervisedStep(torch.nn.functional.mse_loss), _regression(), config,
                     device=torch.device("cpu"), generator=torch.Generator().manual_seed(0))
        return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in module.parameters()])))

    unclipped = grad_norm(None)
    assert unclipped > 10.0
    assert grad_norm(5.0) == pytest.approx(5.0, rel=1e-5)
