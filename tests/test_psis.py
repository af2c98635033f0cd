"""psis: the vectorised PSIS and PSIS-LOO against ArviZ 0.23's own results, computed here."""

from __future__ import annotations

import warnings

import arviz as az
import numpy as np
import pandas as pd
import pytest

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

    result = doctest.testmod(psis)
    assert result.attempted > 0 and result.failed == 0
