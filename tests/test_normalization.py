"""Normalisers kept inside the network: per channel and per grid point."""

import numpy as np
import pytest
import torch

import opkit
from opkit import TFNORegressor
from opkit.layers.normalization import ChannelNormalizer, PointwiseNormalizer, make_normalizer, resample_grid
from opkit.quickstart import refine_coefficient

from conftest import TINY_TFNO


def test_resample_periodic_axis_is_spectral_and_exact_for_band_limited_fields():
    x16, x40 = np.arange(16) / 16, np.arange(40) / 40
    field = lambda x: np.sin(2 * np.pi * x) + 0.5 * np.cos(6 * np.pi * x)  # noqa: E731
    coarse = torch.tensor(field(x16)).view(1, 16)
    fine = resample_grid(coarse, (40,), (True,))
    np.testing.assert_allclose(fine.numpy()[0], field(x40), atol=1e-12)
    np.testing.assert_allclose(resample_grid(fine, (16,), (True,)).numpy()[0], field(x16), atol=1e-12)


def test_resample_bounded_axis_is_linear_between_nodes_including_both_ends():
    x5, x9 = np.linspace(0, 1, 5), np.linspace(0, 1, 9)
    coarse = torch.tensor(2 * x5[:, None] + 3 * x5[None, :] + 1).view(1, 5, 5)  # linear: reproduced exactly
    fine = resample_grid(coarse, (9, 9), (False, False))
    np.testing.assert_allclose(fine.numpy()[0], 2 * x9[:, None] + 3 * x9[None, :] + 1, atol=1e-12)


def test_resample_mixed_axes():
    coarse = torch.randn(2, 3, 8, 6, dtype=torch.float64)
    fine = resample_grid(coarse, (16, 11), (True, False))
    assert fine.shape == (2, 3, 16, 11)
    torch.testing.assert_close(fine[..., ::2, ::2], coarse)  # both kinds keep the old nodes


def test_pointwise_normalizer_statistics_and_round_trip():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(200, 2, 6, 5, generator=generator, dtype=torch.float64) * torch.linspace(1, 3, 5) + 4
    x[..., 0, :] = 0.0  # a Dirichlet boundary: no spread at all
    norm = PointwiseNormalizer(2, (6, 5))
    for block in x.split(64):  # streamed in blocks, as the estimators do
        norm.update(block)
    norm.finalize()
    z = norm.encode(x.float())
    assert torch.isfinite(z).all()
    torch.testing.assert_close(z[:, :, 1:].mean(0), torch.zeros(2, 5, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(z[:, :, 1:].std(0, unbiased=False), torch.ones(2, 5, 5), atol=1e-4, rtol=0)
    assert z[:, :, 0].abs().max() == 0
    torch.testing.assert_close(norm.decode(z), x.float(), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"expects \(batch, 2, 6, 5\)"):
        norm.update(torch.zeros(3, 2, 5, 5))


def test_make_normalizer_kinds_and_bad_value():
    assert isinstance(make_normalizer(True, 2, (4, 4), (False, False)), ChannelNormalizer)
    assert isinstance(make_normalizer("pointwise", 2, (4, 4), (False, False)), PointwiseNormalizer)
    with pytest.raises(ValueError, match="normalize must be"):
        make_normalizer("per-pixel", 2, (4, 4), (False, False))


def test_pointwise_estimator_predicts_other_grids_and_round_trips(darcy, tmp_path):
    train, test = darcy
    est = TFNORegressor(**TINY_TFNO, normalize="pointwise", random_state=0, device="cpu").fit(train.a, train.u)
    assert est.model_.output_normalizer.mean.shape == (1, 16, 16)
    expected = est.predict(test.a)
    fine = est.predict(refine_coefficient(test.a, 2))
    assert fine.sizes["x"] == 32 and np.isfinite(fine.values).all()
    loaded = opkit.load(est.save(tmp_path / "pointwise.opkit"))
    np.testing.assert_allclose(loaded.predict(test.a).values, expected.values, rtol=1e-6, atol=1e-7)


def test_unknown_normalize_value_is_named(darcy):
    train, _ = darcy
    with pytest.raises(ValueError, match="normalize must be"):
        TFNORegressor(**TINY_TFNO, normalize="pixel", device="cpu").fit(train.a, train.u)


def test_estimator_docstrings_state_their_own_defaults():
    doc = opkit.MgNOOperator.__doc__
    assert f'loss : {{"l2", "h1", "h-1"}} or float, default="{opkit.MgNOOperator().loss}"' in doc
    assert f"batch_size : int, default={TFNORegressor().batch_size}" in TFNORegressor.__doc__
