"""PoseidonRegressor: pairs, loss, learning, fine-tuning groups, checkpoints, persistence, bad input."""

import json

import numpy as np
import pytest
import torch
import xarray as xr

import opkit
from opkit import PoseidonRegressor
from opkit.layers.scot import ScOT, ScOTConfig
from opkit.models.poseidon import _pair_indices, _PairSource, relative_l1_groups

SMALL = dict(image_size=16, patch_size=2, embed_dim=12, depths=[1, 1, 1, 1], num_heads=[3, 3, 3, 3],
             window_size=4, skip_connections=[1, 1, 1, 0])  # lists: JSON round trip


def advection(n=6, n_times=5, size=16, seed=0, speed=0.25):
    """Exact trajectories of u_t + c u_x = 0 on the periodic square: u = f(x - c t, y)."""
    rng = np.random.default_rng(seed)
    g = np.arange(size) / size
    t = np.linspace(0, 1, n_times)
    phase, amp = rng.uniform(0, 1, (n, 1, 1, 1)), rng.uniform(0.5, 1.5, (n, 1, 1, 1))
    x = g[None, None, :, None] - speed * t[None, :, None, None] - phase
    u = amp * np.sin(2 * np.pi * x) * np.cos(2 * np.pi * g[None, None, None, :]) + 0.2
    return xr.Dataset({"u": (("sample", "time", "x", "y"), u)}, coords={"time": t, "x": g, "y": g})


def small(**kw):
    kw = {"config": SMALL, "batch_size": 16, "learning_rate": 2e-3, "random_state": 0, **kw}
    return PoseidonRegressor(model_size="tiny", **kw)


def test_pair_counts_and_lazy_source():
    assert len(_pair_indices(5, "all2all")) == 5 * 6 // 2  # (K+1)(K+2)/2 with K = 4, tau = 0 included
    assert _pair_indices(4, "one2all") == [(0, 0), (0, 1), (0, 2), (0, 3)]
    assert _pair_indices(3, "next") == [(0, 1), (1, 2)]
    with pytest.raises(ValueError, match="time_pairs"):
        _pair_indices(3, "random")
    fields = torch.arange(2 * 4 * 1 * 2 * 2, dtype=torch.float32).reshape(2, 4, 1, 2, 2)
    source = _PairSource(fields, 1, _pair_indices(4, "all2all"), np.array([0.0, 0.25, 0.5, 1.0]))
    assert len(source) == 2 * 10
    batch = source.take(torch.tensor([0, 9, 13]))  # traj 0 (0, 0); traj 0 (3, 3); traj 1 (1, 1)... by order
    pairs = _pair_indices(4, "all2all")
    for row, i in enumerate([0, 9, 13]):
        k, kb = pairs[i % 10]
        torch.testing.assert_close(batch["x"][row], fields[i // 10, k])
        torch.testing.assert_close(batch["y"][row], fields[i // 10, kb])
        assert float(batch["t"][row]) == [0.0, 0.25, 0.5, 1.0][kb] - [0.0, 0.25, 0.5, 1.0][k]
    est = small(max_epochs=1).fit(advection(n=3))
    assert est.lead_time_scale_ == 1.0 and len(est.history_["epoch"]) == 1


def test_grouped_relative_l1_matches_the_formula():
    rng = np.random.default_rng(1)
    p, y = rng.normal(size=(3, 4, 5, 5)), rng.normal(size=(3, 4, 5, 5))
    groups = [[0], [1, 2], [3]]
    expected = np.mean([np.abs(p[:, g] - y[:, g]).sum() / (np.abs(y[:, g]).sum() + 1e-10) for g in groups])
    got = relative_l1_groups(torch.tensor(p), torch.tensor(y), groups)
    assert abs(float(got) - expected) < 1e-12
    assert small()._groups(["rho", "vx", "vy", "p"]) == [[0], [1, 2], [3]]


def test_learns_advection_and_rolls_out():
    train, test = advection(n=6), advection(n=4, seed=1)
    untrained = small(max_epochs=1, learning_rate=1e-9).fit(train)
    est = small(max_epochs=20, learning_rate=5e-3, batch_size=8).fit(train)
    assert est.history_["train_loss"][-1] < 0.5 * est.history_["train_loss"][0]
    start, end = test.isel(time=0), test.isel(time=-1)
    err_fit, err_untrained = 1 - est.score(start, end, 1.0), 1 - untrained.score(start, end, 1.0)
    assert err_fit < 0.5 * err_untrained, (err_fit, err_untrained)
    multi = est.predict(start, lead_time=[0.5, 1.0], n_steps=2)
    assert multi["u"].dims == ("sample", "lead_time", "x", "y") and np.isfinite(multi["u"].values).all()
    # another square grid: resampled spectrally to the network's and back
    fine = advection(n=2, size=32, seed=1).isel(time=0)
    assert est.predict(fine, 0.5)["u"].shape == (2, 32, 32)


def test_save_load_round_trip(tmp_path):
    est = small(max_epochs=1).fit(advection(n=3))
    start = advection(n=2, seed=3).isel(time=0)
    est.save(tmp_path / "p.opkit")
    back = opkit.load(tmp_path / "p.opkit")
    np.testing.assert_array_equal(back.predict(start, 0.5)["u"].values, est.predict(start, 0.5)["u"].values)
    assert back.get_params() == est.get_params()


def test_pretrained_round_trip_new_variables_and_finetune_groups(tmp_path):
    est = small(max_epochs=1).fit(advection(n=3))
    folder = est.save_pretrained(tmp_path / "ckpt")
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "swinv2"
    start = advection(n=2, seed=4).isel(time=0)
    same = PoseidonRegressor.from_pretrained(folder, variables=("u",), batch_size=16)
    np.testing.assert_allclose(same.predict(start, 0.5)["u"].values, est.predict(start, 0.5)["u"].values, atol=1e-6)
    # new variables: only the embedding and the two recovery convolutions are replaced
    new = PoseidonRegressor.from_pretrained(folder, variables=("a", "b"), random_state=0)
    old_state, new_state = est.model_.state_dict(), new.model_.state_dict()
    heads = ("embeddings.patch_embeddings", "patch_recovery")
    for key, value in new_state.items():
        if key.startswith(heads):
            assert value.shape != old_state[key].shape or not torch.equal(value, old_state[key])
        else:
            assert torch.equal(value, old_state[key]), key
    groups = same._param_groups(same.model_, "finetune")
    assert [g["name"] for g in groups] == ["backbone", "embedding_recovery", "time_norms"]
    assert sum(len(g["params"]) for g in groups) == len(list(same.model_.parameters()))
    assert [same.learning_rate * g["lr_scale"] for g in groups] == pytest.approx([5e-5, 5e-4, 5e-4])
    assert groups[2]["weight_decay"] == 0.0
    same.set_params(max_epochs=2).fit(advection(n=4, seed=5))
    assert "finetune" in same.stage_history_ and len(same.history_["epoch"]) == 2


def test_published_layout_checkpoint_with_incompressible_data(tmp_path):
    from safetensors.torch import save_file

    config = ScOTConfig(**SMALL)  # 4 channels (rho, vx, vy, p), the published layout
    torch.manual_seed(0)
    net = ScOT(config)
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "model.safetensors"))
    est = PoseidonRegressor.from_pretrained(tmp_path, max_epochs=1, batch_size=8)
    assert est.stats_["rho"] == (0.80, 0.31)
    torch.testing.assert_close(est.model_.state_dict()["decoder.layers.0.blocks.0.attention.self.query.weight"],
                               net.state_dict()["decoder.layers.0.blocks.0.attention.self.query.weight"])
    a = advection(n=3)
    flow = xr.Dataset({"vx": a["u"], "vy": -a["u"]})  # incompressible data: (1, vx, vy, 0), rho and p masked
    est.fit(flow)
    assert est.missing_vars_ == ["rho", "p"]
    out = est.predict(flow.isel(time=0), 0.5)
    assert sorted(out.data_vars) == ["vx", "vy"]


def test_static_vars_are_inputs_only():
    ds = advection(n=3)
    ds["c"] = (("sample", "x", "y"), np.ones((3, 16, 16)))
    est = small(max_epochs=1, static_vars=("c",)).fit(ds)
    assert est.model_.config.num_channels == 2 and est.model_.config.num_out_channels == 1
    out = est.predict(ds.isel(time=0), 1.0, n_steps=3)
    assert list(out.data_vars) == ["u"]


def test_pairs_form_fit():
    ds = advection(n=4)
    est = small(max_epochs=1).fit(ds.isel(time=0), ds.isel(time=-1))
    assert est.predict(ds.isel(time=0))["u"].shape == (4, 16, 16)


def test_bad_input(tmp_path):
    ds = advection(n=2)
    with pytest.raises(ValueError, match=r"no variable\(s\) \['w'\]"):
        small(variables=("w",)).fit(ds)
    with pytest.raises(ValueError, match="square"):
        small().fit(ds.isel(y=slice(0, 8)))
    with pytest.raises(ValueError, match="model_size"):
        PoseidonRegressor(model_size="XXL").fit(ds)
    with pytest.raises(ValueError, match="2 snapshots"):
        small().fit(ds.isel(time=[0]))
    with pytest.raises(ValueError, match="NaN"):
        small().fit(ds.where(ds.x < 0.5))
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80pickle")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        PoseidonRegressor.from_pretrained(tmp_path)
    est = small(max_epochs=1).fit(ds)
    with pytest.raises(ValueError, match="select one snapshot"):
        est.predict(ds)
    with pytest.raises(ValueError, match="n_steps"):
        est.predict(ds.isel(time=0), 1.0, n_steps=0)


def test_every_stage_clips_the_gradient_norm_as_the_recipe():
    est = small()
    for stage in ("fit", "pretrain", "finetune"):
        assert est._stage_config(stage).gradient_clip == 5.0


@pytest.mark.parametrize("fraction, n_val", [(0.3, 3), (0.01, 1), (0.0, 0)])
def test_finetuning_holds_out_validation_fraction_of_the_trajectories(tmp_path, fraction, n_val):
    folder = small(max_epochs=1).fit(advection(n=2)).save_pretrained(tmp_path / "ckpt")
    est = PoseidonRegressor.from_pretrained(folder, variables=("u",), max_epochs=1, batch_size=16,
                                            validation_fraction=fraction, random_state=0)
    seen = {}
    run_stage = est._run_stage

    def spy(stage, module, source, **kw):
        seen.update(stage=stage, train=len(source), val=len(kw["val_source"]) if kw.get("val_source") else 0,
                    early_stopping=kw.get("early_stopping", False))
        return run_stage(stage, module, source, **kw)

    est._run_stage = spy
    est.fit(advection(n=10, n_times=3, seed=6))
    pairs = len(_pair_indices(3, "all2all"))
    assert seen["stage"] == "finetune"
    assert (seen["train"], seen["val"]) == ((10 - n_val) * pairs, n_val * pairs)
    assert seen["early_stopping"] == (n_val > 0)  # the best validation epoch is kept
