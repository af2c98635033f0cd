"""psis: the vectorised PSIS and PSIS-LOO against ArviZ 0.23's own results, computed here; loo: the model comparison."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

from seu_sensitivity.inference import loo as loo_module
from seu_sensitivity.inference import psis

RTOL = 1e-10
#: k near 0 can differ in its last bit (about 2e-16) from ArviZ's, which is not small relative to k
K_ATOL = 1e-14


def arviz_psislw(log_weights: np.ndarray, reff: float) -> tuple[np.ndarray, np.ndarray]:
    """az.psislw on (draws, observations): ArviZ takes the draws last."""
    smoothed, k = az.psislw(log_weights.T.copy(), reff)
    return smoothed.T, k


def assert_same_psis(log_weights: np.ndarray, reff: float = 1.0) -> np.ndarray:
    expected_lw, expected_k = arviz_psislw(log_weights, reff)
    smoothed, k = psis.psislw(log_weights, reff)
    np.testing.assert_allclose(k, expected_k, rtol=RTOL, atol=K_ATOL)  # also checks inf in the same places
    np.testing.assert_allclose(smoothed, expected_lw, rtol=RTOL)
    return expected_k


def pareto_log_weights(draws: int, shapes: np.ndarray, seed: int) -> np.ndarray:
    """log w = k E, E ~ Exp(1): Pareto weights whose tail shape is k, one k per observation."""
    return shapes * np.random.default_rng(seed).exponential(size=(draws, len(shapes)))


def test_normal_log_likelihood():
    log_lik = np.random.default_rng(1).normal(-1.0, 0.5, size=(1000, 40))
    k = assert_same_psis(-log_lik)
    assert np.all(np.isfinite(k))


def test_heavy_tails_give_large_k():
    k = assert_same_psis(pareto_log_weights(1000, np.linspace(0.2, 1.6, 30), seed=2))
    assert np.any((k > 0.7) & (k <= 1)) and np.any(k > 1)


@pytest.mark.parametrize("reff", [0.3, 0.05])
def test_reff_below_one_lengthens_the_tail(reff):
    # 3 sqrt(S / reff) exceeds S / 5 for reff = 0.05: the S / 5 cap is exercised too
    assert_same_psis(pareto_log_weights(2000, np.linspace(0.1, 1.2, 20), seed=3), reff)


def test_few_draws():
    assert np.all(np.isfinite(assert_same_psis(pareto_log_weights(30, np.linspace(0.2, 1.2, 10), seed=4))))
    # 20 draws: a tail of 4, too short to fit, so ArviZ's k = inf and no smoothing
    assert np.all(np.isinf(assert_same_psis(pareto_log_weights(20, np.linspace(0.2, 1.2, 10), seed=5))))


def test_constant_and_tied_log_likelihoods():
    rng = np.random.default_rng(6)
    log_lik = np.round(rng.normal(size=(1000, 12)) * np.linspace(2, 20, 12))  # ties shorten some tails
    log_lik[:, 0] = -0.7  # constant: an empty tail
    k = assert_same_psis(-log_lik)
    assert np.isinf(k[0]) and np.all(np.isfinite(k[1:]))


def test_one_observation():
    log_weights = np.random.default_rng(7).normal(size=500)
    smoothed, k = psis.psislw(log_weights)
    expected_lw, expected_k = az.psislw(log_weights.copy())
    np.testing.assert_allclose(smoothed, expected_lw, rtol=RTOL)
    np.testing.assert_allclose(k, expected_k, rtol=RTOL, atol=K_ATOL)


def make_idata(seed: int, shift: float = 0.0) -> az.InferenceData:
    """4 chains x 250 draws x 60 observations, a few influential observations (large k)."""
    rng = np.random.default_rng(seed)
    log_lik = rng.normal(-1.0 + shift, 0.3, size=(4, 250, 60))
    log_lik[..., :3] = -np.linspace(0.5, 1.5, 3) * rng.exponential(size=(4, 250, 3))
    return az.from_dict(posterior={"mu": rng.normal(size=(4, 250)), "tau": rng.gamma(2.0, size=(4, 250))},
                        log_likelihood={"y": log_lik}, coords={"obs": np.arange(60)}, dims={"y": ["obs"]})


@pytest.mark.parametrize("reff", [None, 0.8])
def test_loo_matches_arviz(reff):
    idata = make_idata(8)
    with warnings.catch_warnings(record=True) as arviz_warnings:
        warnings.simplefilter("always")
        expected = az.loo(idata, pointwise=True, reff=reff)
    with warnings.catch_warnings(record=True) as our_warnings:
        warnings.simplefilter("always")
        result = psis.loo(idata, reff=reff)

    assert list(result.index) == list(expected.index)
    for field in ("elpd_loo", "se", "p_loo", "good_k"):
        assert result[field] == pytest.approx(expected[field], rel=RTOL)
    for field in ("n_samples", "n_data_points", "warning", "scale"):
        assert result[field] == expected[field]
    assert expected["warning"]  # the influential observations trip ArviZ's threshold
    assert len(our_warnings) == len(arviz_warnings) == 1
    for field in ("loo_i", "pareto_k"):
        assert result[field].name == expected[field].name
        assert result[field].dims == expected[field].dims
        np.testing.assert_array_equal(result[field]["obs"], expected[field]["obs"])
        np.testing.assert_allclose(result[field].values, expected[field].values, rtol=RTOL, atol=K_ATOL)


def test_compare_gives_the_same_table():
    models = {"a": make_idata(9), "b": make_idata(10, shift=-0.02)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = az.compare({name: az.loo(idata, pointwise=True, reff=0.9) for name, idata in models.items()})
        result = az.compare({name: psis.loo(idata, reff=0.9) for name, idata in models.items()})
    assert list(result.index) == list(expected.index)
    pd.testing.assert_frame_equal(result, expected, rtol=1e-8)


def test_input_left_untouched():
    log_weights = np.random.default_rng(11).normal(size=(300, 1))
    before = log_weights.copy()
    psis.psislw(log_weights)
    np.testing.assert_array_equal(log_weights, before)


def test_doctests():
    import doctest

    for module in (psis, loo_module):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0


# -- the LOO comparison (inference.loo) -----------------------------------------------------

def _fake_idata(alpha_draws, log_lik, y):
    return az.from_dict(
        posterior={"alpha": alpha_draws},
        log_likelihood={"y": log_lik},
        posterior_predictive={"y": np.broadcast_to(y, log_lik.shape).copy()},
        observed_data={"y": y},
        dims={"y": ["obs"]},
        coords={"obs": list(range(len(y)))},
    )


def _fits_for_loo(seed=3):
    rng = np.random.default_rng(seed)
    fits, sizes = {}, {"a": 5, "b": 7, "c": 4}
    for name, m in sizes.items():
        fits[name] = _fake_idata(rng.lognormal(2, 0.2, (2, 200)), rng.normal(-1.0, 0.3, (2, 200, m)),
                                 rng.integers(1, 3, size=m))
    return fits, sizes


def test_independent_inference_data_concatenates_in_the_given_order():
    fits, sizes = _fits_for_loo()
    order = ["c", "a", "b"]
    joint = loo_module.independent_inference_data(fits, order)
    ll = joint.log_likelihood["y"]
    assert ll.sizes["obs"] == sum(sizes.values())
    assert list(joint.log_likelihood["y"]["obs"].values) == list(range(sum(sizes.values())))
    assert list(joint.posterior["alpha"]["cell"].values) == order
    start = 0
    for name in order:
        np.testing.assert_array_equal(ll.values[..., start:start + sizes[name]], fits[name].log_likelihood["y"].values)
        np.testing.assert_array_equal(joint.observed_data["y"].values[start:start + sizes[name]],
                                      fits[name].observed_data["y"].values)
        start += sizes[name]
    # PSIS-LOO is pointwise: with the same relative efficiency, the joint elpd is the sum of the cells'
    joint_loo = az.loo(joint, reff=1.0)
    total = sum(az.loo(fits[name], reff=1.0).elpd_loo for name in order)
    assert joint_loo.elpd_loo == pytest.approx(total, rel=1e-10)


def test_independent_inference_data_rejects_unequal_draws_and_missing_cells():
    fits, _ = _fits_for_loo()
    with pytest.raises(KeyError, match="d"):
        loo_module.independent_inference_data(fits, ["a", "d"])
    rng = np.random.default_rng(0)
    fits["b"] = _fake_idata(rng.lognormal(2, 0.2, (2, 100)), rng.normal(-1, 0.3, (2, 100, 7)), np.ones(7, int))
    with pytest.raises(ValueError, match="chains, draws"):
        loo_module.independent_inference_data(fits, ["a", "b"])


def test_loo_table_ranks_the_model_that_predicts_better_first():
    rng = np.random.default_rng(4)
    y = np.ones(30, int)
    good = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-0.2, 0.05, (2, 300, 30)), y)
    bad = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-1.5, 0.05, (2, 300, 30)), y)
    comparison, loos = loo_module.loo_table({"bad": bad, "good": good})
    assert list(comparison.index) == ["good", "bad"]
    assert set(loos) == {"good", "bad"}
    counts = loo_module.pareto_k_counts(loos)
    assert list(counts.columns) == ["k > 0.7", "k > 1", "max k"]
    short = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-1, 0.05, (2, 300, 29)), y[:29])
    with pytest.raises(ValueError, match="different numbers of observations"):
        loo_module.loo_table({"good": good, "short": short})


def _ar1(rng, rho, shape):
    x = np.empty(shape)
    x[:, 0] = rng.normal(size=shape[0])
    for t in range(1, shape[1]):
        x[:, t] = rho * x[:, t - 1] + np.sqrt(1 - rho**2) * rng.normal(size=shape[0])
    return x


def test_relative_efficiency_ignores_nan_padding_and_sees_autocorrelation():
    # AR(1) draws with rho = 0.9 have ESS / n close to (1 - rho) / (1 + rho) = 0.053
    rng = np.random.default_rng(6)
    alpha = _ar1(rng, 0.9, (4, 4000))
    plain = az.from_dict(posterior={"alpha": alpha})
    padded = az.from_dict(posterior={"alpha": alpha, "beta": np.full((4, 4000, 3), np.nan)})
    assert 0.03 < loo_module.relative_efficiency(plain) < 0.08
    assert loo_module.relative_efficiency(padded) == pytest.approx(loo_module.relative_efficiency(plain))
    # and LOO runs on such a posterior
    y = np.ones(20, int)
    idata = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-0.5, 0.1, (2, 300, 20)), y)
    idata.posterior["beta"] = (("chain", "draw", "consequence"),
                               np.where(np.arange(3) < 2, rng.normal(size=(2, 300, 3)), np.nan))
    _, loos = loo_module.loo_table({"padded": idata})
    assert np.isfinite(loos["padded"].elpd_loo)
