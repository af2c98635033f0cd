"""Prior predictive simulation of h_m01 and fit-against-truth summaries, checked against known answers.

Monte Carlo comparisons use tolerances of 4 standard errors (a false alarm
about once in 16,000 comparisons) with fixed seeds.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from seu_sensitivity.inference import prior_predictive as pp
from seu_sensitivity.model.design import factorial_design
from seu_sensitivity.model.priors import HM01Priors
from seu_sensitivity.model.simulate import random_menus, simulate_hierarchical

SEED_DESIGN = factorial_design(
    {"model": ["GPT-4o", "GPT-4o-mini", "Claude 3.5S", "Claude 3.5H", "Gemini 1.5P", "Gemini 1.5F"],
     "prompt": ["neutral", "chain-of-thought", "role-play"]}
)
#: priors that pin log(alpha) at gamma0_mu (every other spread is negligible)
def pinned(log_alpha: float) -> HM01Priors:
    return HM01Priors(gamma0_mu=log_alpha, gamma0_sd=1e-9, gamma_sd=1e-9, sigma_cell_sd=1e-9)


def test_log_alpha_moments_match_simulation_on_the_seed_design():
    priors = HM01Priors(gamma0_mu=2.5, gamma0_sd=0.8, gamma_sd=0.6, sigma_cell_sd=0.7)
    moments = pp.log_alpha_prior_moments(SEED_DESIGN, priors)
    # the reference cell has no predictors; a non-reference cell of both factors has two
    assert moments["sd"].iloc[0] == pytest.approx(np.sqrt(0.8**2 + 0.7**2))
    assert moments["sd"].iloc[-1] == pytest.approx(np.sqrt(0.8**2 + 2 * 0.6**2 + 0.7**2))
    n = 200_000
    draws = pp.draw_regression_prior(SEED_DESIGN, priors, n_draws=n, seed=1)["log_alpha"]
    mean_se = moments["sd"].to_numpy() / np.sqrt(n)
    assert np.all(np.abs(draws.mean(axis=0) - moments["mean"].to_numpy()) < 4 * mean_se)
    centred = draws - draws.mean(axis=0)
    variance = (centred**2).mean(axis=0)
    variance_se = np.sqrt(((centred**4).mean(axis=0) - variance**2) / n)
    assert np.all(np.abs(variance - moments["sd"].to_numpy() ** 2) < 4 * variance_se)



def test_log_alpha_moments_with_sigma_cell_held_match_simulation():
    """With sigma_cell held (the formulation chapter's sweep), log alpha_j is exactly
    normal: gamma0 + x_j gamma + s z_j. Its simulated mean and variance must match."""
    priors = HM01Priors(gamma0_mu=2.5, gamma0_sd=0.8, gamma_sd=0.6, sigma_cell_sd=0.7)
    held = 1.7
    moments = pp.log_alpha_prior_moments(SEED_DESIGN, priors, sigma_cell=held)
    assert moments["sd"].iloc[0] == pytest.approx(np.sqrt(0.8**2 + held**2))
    rng = np.random.default_rng(2)
    n = 200_000
    X = SEED_DESIGN.X.to_numpy(dtype=float)
    draws = (rng.normal(2.5, 0.8, size=(n, 1)) + rng.normal(0.0, 0.6, size=(n, X.shape[1])) @ X.T
             + held * rng.normal(size=(n, X.shape[0])))
    mean_se = moments["sd"].to_numpy() / np.sqrt(n)
    assert np.all(np.abs(draws.mean(axis=0) - moments["mean"].to_numpy()) < 4 * mean_se)
    variance_se = moments["sd"].to_numpy() ** 2 * np.sqrt(2 / n)  # normal: SE of a variance
    assert np.all(np.abs(draws.var(axis=0) - moments["sd"].to_numpy() ** 2) < 4 * variance_se)
    with pytest.raises(ValueError, match="sigma_cell"):
        pp.log_alpha_prior_moments(SEED_DESIGN, priors, sigma_cell=-1.0)

def test_behaviour_at_the_limits_of_alpha():
    menus = random_menus(300, 10, seed=2)
    eta = np.random.default_rng(3).random((2, 10))
    out = pp.menu_behaviour(np.array([0.0, 1e5]), eta, menus)
    # alpha = 0: uniform choice on each menu, exactly
    assert out["p_maximiser"][0] == pytest.approx(np.mean(1 / menus.sum(axis=1)), abs=1e-12)
    assert out["entropy"][0] == pytest.approx(1.0, abs=1e-12)
    # alpha huge: the maximiser, deterministically
    assert out["p_maximiser"][1] == pytest.approx(1.0, abs=1e-6)
    assert out["entropy"][1] == pytest.approx(0.0, abs=1e-4)


def test_p_maximiser_never_falls_as_alpha_grows():
    menus = random_menus(200, 8, seed=4)
    eta = np.random.default_rng(5).random(8)
    alphas = np.geomspace(0.01, 1000, 60)
    curve = pp.menu_behaviour(alphas, np.broadcast_to(eta, (60, 8)), menus)
    assert np.all(np.diff(curve["p_maximiser"]) >= -1e-12)
    assert np.all(np.diff(curve["entropy"]) <= 1e-12)


def test_simulated_rate_is_unbiased_for_the_probability():
    """The mean simulated maximiser rate over 2000 replications equals p_maximiser (4 SE)."""
    menus = random_menus(50, 8, seed=6)
    eta = np.random.default_rng(7).random(8)
    alpha = np.full(2000, 6.0)
    out = pp.menu_behaviour(alpha, np.broadcast_to(eta, (2000, 8)), menus, rng=np.random.default_rng(8))
    from seu_sensitivity.model.choice import choice_probabilities

    p = choice_probabilities(6.0, eta, menus)
    best = np.where(menus == 1, eta, -np.inf).argmax(axis=1)
    p_best = p[np.arange(50), best]
    se = np.sqrt(np.sum(p_best * (1 - p_best))) / 50 / np.sqrt(2000)
    assert out["p_maximiser"][0] == pytest.approx(p_best.mean(), abs=1e-12)
    assert abs(out["rate_maximiser"].mean() - p_best.mean()) < 4 * se


def test_prior_predictive_at_pinned_alpha():
    tiny = pp.prior_predictive(SEED_DESIGN, pinned(-40.0), n_draws=30, n_obs=40, R=10, D=3, seed=9)
    assert np.allclose(tiny.alpha, np.exp(-40.0))
    np.testing.assert_allclose(tiny.p_maximiser, tiny.uniform_rate, atol=1e-9)
    np.testing.assert_allclose(tiny.entropy, 1.0, atol=1e-9)
    huge = pp.prior_predictive(SEED_DESIGN, pinned(np.log(1e6)), n_draws=30, n_obs=40, R=10, D=3, seed=9)
    assert huge.p_maximiser.min() > 0.99 and huge.rate_maximiser.mean() > 0.99


def test_prior_predictive_alpha_follows_the_prior_and_behaviour_rises_with_alpha():
    prior = pp.prior_predictive(SEED_DESIGN, n_draws=3000, n_obs=30, R=10, D=3, seed=10)
    moments = pp.log_alpha_prior_moments(SEED_DESIGN)
    se = moments["sd"].to_numpy() / np.sqrt(3000)
    assert np.all(np.abs(prior.log_alpha.mean(axis=0) - moments["mean"].to_numpy()) < 4 * se)
    assert prior.alpha_quantiles().index.tolist() == SEED_DESIGN.cell_ids
    # decision makers with larger alpha choose the maximiser more often (rank correlation)
    rank = lambda a: np.argsort(np.argsort(a.ravel()))
    assert np.corrcoef(rank(prior.alpha), rank(prior.p_maximiser))[0, 1] > 0.5
    assert np.all((prior.p_maximiser >= prior.uniform_rate - 1e-12) & (prior.p_maximiser <= 1 + 1e-12))


def test_prior_predictive_is_reproducible_and_independent_of_chunking(monkeypatch):
    first = pp.prior_predictive(SEED_DESIGN, n_draws=40, n_obs=20, R=8, D=2, seed=11)
    monkeypatch.setattr(pp, "_CHUNK_ELEMENTS", 2000)  # many small chunks
    second = pp.prior_predictive(SEED_DESIGN, n_draws=40, n_obs=20, R=8, D=2, seed=11)
    for name in ("alpha", "p_maximiser", "rate_maximiser", "entropy"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    third = pp.prior_predictive(SEED_DESIGN, n_draws=40, n_obs=20, R=8, D=2, seed=12)
    assert not np.array_equal(first.alpha, third.alpha)


def _fake_fit(truth: dict, shift: float, n_draws: int, rng: np.random.Generator):
    """An InferenceData whose 'posterior' is Normal(truth + shift, 1) around each true value."""
    predictors = list(truth["gamma"].index)
    cells = list(truth["alpha"].index)
    draw = lambda centre: rng.normal(np.asarray(centre, dtype=float) + shift, 1.0,
                                     size=(1, n_draws) + np.shape(centre))
    return az.from_dict(
        posterior={"gamma0": draw(truth["gamma0"]), "gamma": draw(truth["gamma"].to_numpy()),
                   "sigma_cell": draw(truth["sigma_cell"]), "alpha": draw(truth["alpha"].to_numpy())},
        dims={"gamma": ["predictor"], "alpha": ["cell"]},
        coords={"predictor": predictors, "cell": cells},
    )


def test_recovery_table_covers_at_the_nominal_rate_when_centred_on_the_truth():
    """Each 'posterior' is N(truth + e, 1) with e ~ N(0, 1) shared across the draws of one
    parameter: a calibrated posterior, so 90% intervals cover with probability ~0.9."""
    rng = np.random.default_rng(13)
    _, truth = simulate_hierarchical(SEED_DESIGN, n_obs=5, R=6, D=2, seed=14)
    covered = []
    for _ in range(40):
        error = rng.standard_normal()
        table = pp.recovery_table(_fake_fit(truth, error, 2000, rng), truth, prob=0.9)
        covered.append(table["covered"].to_numpy())
    covered = np.concatenate(covered)
    # with a shared error per table the rows are dependent; P(|e| <= 1.645) = 0.9 per table
    assert abs(covered.mean() - 0.9) < 4 * np.sqrt(0.9 * 0.1 / 40)
    table = pp.recovery_table(_fake_fit(truth, 0.0, 4000, rng), truth)
    assert list(table["group"].unique()) == ["gamma0", "gamma", "sigma_cell", "alpha"]
    assert len(table) == 1 + SEED_DESIGN.P + 1 + SEED_DESIGN.J
    assert table.loc["gamma0", "truth"] == truth["gamma0"]
    np.testing.assert_allclose(table["mean"], table["truth"], atol=4 / np.sqrt(4000))
    far = pp.recovery_table(_fake_fit(truth, 10.0, 500, rng), truth)
    assert not far["covered"].any() and np.all(far["z"] > 5)


def test_coverage_lower_bound_matches_the_binomial():
    for n, prob in ((18, 0.9), (27, 0.9), (40, 0.5)):
        c = pp.coverage_lower_bound(n, prob, level=0.005)
        assert binom.cdf(c - 1, n, prob) <= 0.005 < binom.cdf(c, n, prob)
        # and by simulation: counts below the bound are rare
        counts = np.random.default_rng(n).binomial(n, prob, size=200_000)
        assert (counts < c).mean() <= 0.005 + 4 * np.sqrt(0.005 / 200_000)
    with pytest.raises(ValueError):
        pp.coverage_lower_bound(0, 0.9)


def test_per_cell_statistic_and_concentration():
    data, truth = simulate_hierarchical(factorial_design({"llm": ["a", "b"]}), n_obs=300, R=8, D=2,
                                        gamma0=np.log(40.0), gamma=[-np.log(40.0) - 20], sigma_cell=0.0, seed=15)
    values = pp.per_cell_statistic(data, data.y)
    assert values.shape == (2,)
    for j in range(2):
        cell = data.cell(j)
        assert values[j] == pytest.approx(pp.choice_concentration(cell.I, cell.y))
    # cell a (alpha 40) concentrates its choices far more than cell b (alpha ~ 0)
    assert values[0] > 2 * values[1]
    replicated = np.stack([data.y, data.y, data.y])
    np.testing.assert_allclose(pp.per_cell_statistic(data, replicated), np.tile(values, (3, 1)))


def test_alpha_prior_quantiles_match_direct_simulation():
    priors = HM01Priors(gamma0_mu=2.5, gamma0_sd=0.8, gamma_sd=0.6, sigma_cell_sd=0.7)
    probs = (0.05, 0.5, 0.95)
    exact = pp.alpha_prior_quantiles(SEED_DESIGN, priors, probs)
    assert exact.shape == (SEED_DESIGN.J, 3) and exact.index.tolist() == SEED_DESIGN.cell_ids
    draws = pp.draw_regression_prior(SEED_DESIGN, priors, n_draws=200_000, seed=3)
    log_alpha = draws["log_alpha"]
    # share of draws below each exact quantile: binomial, within 4 SEs of p
    for j, cell in enumerate(SEED_DESIGN.cell_ids):
        for p in probs:
            share = np.mean(log_alpha[:, j] <= np.log(exact.loc[cell, p]))
            assert abs(share - p) < 4 * np.sqrt(p * (1 - p) / log_alpha.shape[0])


def test_alpha_prior_quantiles_reduce_to_the_lognormal_without_cell_spread():
    priors = HM01Priors(gamma0_mu=3.0, gamma0_sd=0.5, gamma_sd=0.4, sigma_cell_sd=1e-9)
    q = pp.alpha_prior_quantiles(SEED_DESIGN, priors, (0.05, 0.95))
    sd = pp.log_alpha_prior_moments(SEED_DESIGN, priors)["sd"].to_numpy()
    assert np.allclose(q[0.95], np.exp(3.0 + 1.6448536269514722 * sd), rtol=1e-8)
    assert np.allclose(q[0.05], np.exp(3.0 - 1.6448536269514722 * sd), rtol=1e-8)
    with pytest.raises(ValueError, match="probs"):
        pp.alpha_prior_quantiles(SEED_DESIGN, priors, (0.5, 1.0))


def test_eta_spread_prior_matches_the_closed_form_with_two_consequences():
    """K = 2, D = 1: eta_r = P(consequence 2) = logistic(d w_r) with d = beta_2 - beta_1 ~ Normal(0, sqrt(2) beta_sd),
    simulated here directly; the two means of the spread agree within 4 Monte Carlo SEs."""
    from scipy.special import expit

    from seu_sensitivity.inference.prior_predictive import eta_spread_prior

    w = np.linspace(-2.0, 2.0, 9)[:, None]
    spread = eta_spread_prior(w, 2, beta_sd=1.5, n_draws=20000, seed=3)
    d = np.random.default_rng(4).normal(0.0, np.sqrt(2) * 1.5, size=20000)
    direct = expit(d[:, None] * w[:, 0]).std(axis=1)
    se = np.hypot(spread.std(), direct.std()) / np.sqrt(20000)
    assert abs(spread.mean() - direct.mean()) < 4 * se
    wider = eta_spread_prior(w, 2, beta_sd=3.0, n_draws=20000, seed=3)
    assert np.median(wider) > np.median(spread)
    with pytest.raises(ValueError, match="beta_sd"):
        eta_spread_prior(w, 2, beta_sd=0.0)
    with pytest.raises(ValueError, match="K must be at least 2"):
        eta_spread_prior(w, 1, beta_sd=1.0)
