"""Tests of seu_sensitivity.studies.normal_means: shrinkage algebra, the exact normal-means
posterior (against brute-force Monte Carlo with known truth), predictive draws
and the crossed-effects simulator."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from seu_sensitivity.studies import normal_means as pooling
from seu_sensitivity.datasets import eight_schools
from seu_sensitivity.studies.normal_means import TauPrior


# ------------------------------------------------------------------ shrinkage algebra


def test_shrinkage_weight_limits_and_monotonicity():
    V = np.array([1.0, 4.0, 25.0, 100.0])
    w = pooling.shrinkage_weight(V, tau=5.0)
    assert np.all(np.diff(w) < 0), "noisier groups must keep less of their own estimate"
    assert np.allclose(pooling.shrinkage_weight(V, tau=0.0), 0.0)  # complete pooling
    assert np.all(pooling.shrinkage_weight(V, tau=1e6) > 1 - 1e-9)  # no pooling
    # w_j = (1/V)/(1/V + 1/tau^2), written independently
    assert np.allclose(w, (1 / V) / (1 / V + 1 / 25.0))


def test_shrinkage_weight_broadcasts_over_tau_draws():
    V = np.array([1.0, 9.0])
    tau = np.array([[1.0, 2.0, 3.0]])  # (chain, draw)
    w = pooling.shrinkage_weight(V, tau)
    assert w.shape == (1, 3, 2)
    assert np.isclose(w[0, 2, 1], 9.0 / 18.0)


@pytest.mark.parametrize("bad", [dict(V=[0.0], tau=1.0), dict(V=[1.0], tau=-1.0)])
def test_shrinkage_weight_rejects_invalid(bad):
    with pytest.raises(ValueError):
        pooling.shrinkage_weight(**bad)


def test_conditional_posterior_matches_monte_carlo_with_known_truth():
    """Draw theta from the population, y given theta; the regression of theta on y
    (the exact conditional mean) must match the shrinkage formula."""
    rng = np.random.default_rng(5)
    mu, tau, V = 2.0, 3.0, 16.0
    n = 400_000
    theta = mu + tau * rng.standard_normal(n)
    y = theta + np.sqrt(V) * rng.standard_normal(n)
    mean, sd = pooling.conditional_posterior(y, np.full(n, V), mu=mu, tau=tau)
    resid = theta - mean
    # E[theta - E[theta|y]] = 0 and sd(theta | y) constant: both within Monte Carlo error
    assert abs(resid.mean()) < 4 * resid.std() / np.sqrt(n)
    assert abs(resid.std() - sd[0]) < 4 * sd[0] / np.sqrt(2 * n)
    # residuals are uncorrelated with y (that is what makes it the conditional mean)
    assert abs(np.corrcoef(resid, y)[0, 1]) < 4 / np.sqrt(n)


def test_complete_pooling_estimate_is_inverse_variance_weighted():
    y, sigma = np.array([1.0, 5.0]), np.array([1.0, 2.0])
    mean, se = pooling.complete_pooling_estimate(y, sigma)
    assert mean == pytest.approx((1 * 1 + 5 * 0.25) / 1.25)
    assert se == pytest.approx(1 / np.sqrt(1.25))


# ------------------------------------------------------------------ exact posterior


@pytest.mark.parametrize("prior", [TauPrior("half-normal", scale=5.0), TauPrior("half-cauchy", scale=5.0),
                                   TauPrior("uniform", upper=50.0)])
def test_tau_prior_density_integrates_to_one_and_matches_samples(prior):
    grid = np.linspace(0, 5000 if prior.kind == "half-cauchy" else 60, 400_001)
    mass = np.trapezoid(prior.density(grid), grid)
    assert mass == pytest.approx(1.0, abs=2e-3)
    draws = prior.sample(200_000, seed=1)
    # P(tau < 5) from draws vs density, within 4 binomial standard errors
    p_density = np.trapezoid(prior.density(grid[grid <= 5]), grid[grid <= 5])
    assert abs((draws < 5).mean() - p_density) < 4 * np.sqrt(p_density * (1 - p_density) / draws.size)


def test_tau_prior_rejects_unknown_kind():
    with pytest.raises(ValueError):
        TauPrior("flat")


def test_exact_posterior_matches_importance_sampling_from_the_prior():
    """Brute force with known truth: sample (mu, tau) from the prior, weight by the
    marginal likelihood of the data, and compare the weighted moments."""
    schools = eight_schools()
    y, sigma = schools["y"].to_numpy(), schools["sigma"].to_numpy()
    prior = TauPrior("half-normal", scale=5.0)
    post = pooling.normal_means_posterior(y, sigma, prior, mu_loc=0.0, mu_scale=20.0)
    rng = np.random.default_rng(3)
    n = 400_000
    tau = prior.sample(n, seed=rng)
    mu = rng.normal(0.0, 20.0, n)
    logw = stats.norm.logpdf(y, mu[:, None], np.sqrt(sigma**2 + tau[:, None] ** 2)).sum(axis=1)
    w = np.exp(logw - logw.max())
    w /= w.sum()
    ess = 1 / np.sum(w**2)
    for values, exact in ((tau, post.tau_mean), (mu, post.mu_posterior_mean)):
        estimate = np.sum(w * values)
        sd = np.sqrt(np.sum(w * (values - estimate) ** 2))
        assert abs(estimate - exact) < 4 * sd / np.sqrt(ess)
    # theta_A by Rao-Blackwellisation over the weighted draws
    wA = pooling.shrinkage_weight(sigma[0] ** 2, tau)
    cond = wA * y[0] + (1 - wA) * mu
    est = np.sum(w * cond)
    sd = np.sqrt(np.sum(w * (cond - est) ** 2))
    assert abs(est - post.theta_mean[0]) < 4 * sd / np.sqrt(ess)


def test_exact_posterior_orders_pooling_by_prior_and_standard_error():
    schools = eight_schools()
    y, sigma = schools["y"].to_numpy(), schools["sigma"].to_numpy()
    uniform = pooling.normal_means_posterior(y, sigma, TauPrior("uniform", upper=100.0))
    half_normal = pooling.normal_means_posterior(y, sigma, TauPrior("half-normal", scale=5.0))
    assert uniform.tau_mean > half_normal.tau_mean
    assert uniform.pooling_factor.mean() < half_normal.pooling_factor.mean()
    # a school with a larger standard error is pooled more
    order = np.argsort(sigma, kind="stable")
    assert np.all(np.diff(half_normal.pooling_factor[order]) >= -1e-12)
    assert 0.0 <= half_normal.tau_cdf(1.0) <= half_normal.tau_cdf(5.0) <= 1.0
    # partial-pooling means lie between the data and the posterior mean of mu
    lo = np.minimum(y, half_normal.mu_posterior_mean) - 1e-9
    hi = np.maximum(y, half_normal.mu_posterior_mean) + 1e-9
    assert np.all((half_normal.theta_mean > lo) & (half_normal.theta_mean < hi))
    assert np.all(half_normal.theta_sd < sigma)


# ------------------------------------------------------------------ Stan data and summaries


def test_normal_means_data_switches():
    d = pooling.normal_means_data([1.0, 2.0, 3.0], [1.0, 1.0, 2.0], pooling="partial", centered=True,
                                  tau_prior=TauPrior("uniform", upper=30.0), fixed_population=(1.5, 2.5))
    assert (d["pooling"], d["centered"], d["fix_population"], d["tau_prior"]) == (3, 1, 1, 1)
    assert (d["mu_fixed"], d["tau_fixed"], d["tau_upper"]) == (1.5, 2.5, 30.0)
    assert d["sigma_new"] == pytest.approx(np.sqrt(6.0 / 3.0))
    with pytest.raises(ValueError):
        pooling.normal_means_data([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        pooling.normal_means_data([1.0], [0.0])
    with pytest.raises(ValueError):
        pooling.normal_means_data([1.0], [1.0], pooling="none", fixed_population=(0.0, 1.0))


def test_shrinkage_summary():
    table = pooling.shrinkage_summary(["a", "b", "c"], [10.0, -2.0, 4.0], [7.0, 0.0, 4.0], 4.0, size=[5, 50, 9])
    assert list(table.index) == ["a", "b", "c"]
    assert table["shift"].tolist() == [-3.0, 2.0, 0.0]
    assert table.loc["a", "pulled"] == pytest.approx(0.5)
    assert table.loc["b", "pulled"] == pytest.approx(1 / 3)
    assert np.isnan(table.loc["c", "pulled"])  # no distance to travel


def test_mcse_mean_requires_chain_draw_shape():
    with pytest.raises(ValueError):
        pooling.mcse_mean(np.zeros(10))


# ------------------------------------------------------------------ prediction


def test_new_group_predictive_variance_is_total_variance():
    rng = np.random.default_rng(9)
    n = 200_000
    mu = rng.normal(1.0, 2.0, n)  # posterior-like draws with Var(mu) = 4
    tau = np.abs(rng.normal(0.0, 3.0, n))  # E[tau^2] = 9
    y_new = pooling.predictive_new_group(mu, tau, sigma=4.0, seed=rng)
    expected = 4.0 + 9.0 + 16.0
    # sd of a sample variance: sqrt((m4 - s^4) / n), estimated from the draws
    m4 = np.mean((y_new - y_new.mean()) ** 4)
    assert abs(y_new.var() - expected) < 4 * np.sqrt((m4 - expected**2) / n)
    same = pooling.predictive_same_group(mu, sigma=4.0, seed=rng)
    assert same.var() < y_new.var()
    with pytest.raises(ValueError):
        pooling.predictive_new_group(np.zeros(3), np.zeros(4), 1.0)


# ------------------------------------------------------------------ crossed effects


def test_simulate_crossed_layout_and_identified_sum():
    data, truth = pooling.simulate_crossed(4, 3, mu_alpha=2.0, mu_gamma=-1.0, sigma_y=0.0, seed=2)
    assert data["N"] == 12 and data["P"] == 4 and data["I"] == 3
    y = np.array(data["y"]).reshape(4, 3)
    # with no noise, y = alpha_p + gamma_i exactly
    assert np.allclose(y, truth["alpha"][:, None] + truth["gamma"][None, :])
    # shifting c from items to persons gives identical data: the means are not separately identified
    c = 0.7
    assert np.allclose(y, (truth["alpha"] + c)[:, None] + (truth["gamma"] - c)[None, :])
    assert truth["sum"] == pytest.approx(1.0)
    fixed, _ = pooling.simulate_crossed(4, 3, fix_mu_alpha=True, seed=2)
    assert fixed["fix_mu_alpha"] == 1 and fixed["y"] != data["y"]  # sigma_y differs, so do the data


def test_posterior_correlation_and_ess_per_gradient():
    import arviz as az

    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 500))
    idata = az.from_dict(posterior={"a": a, "b": -a + 0.1 * rng.standard_normal((2, 500)), "c": np.ones((2, 500))},
                         sample_stats={"n_steps": np.full((2, 500), 7)})
    assert pooling.posterior_correlation(idata, "a", "b") < -0.99
    assert np.isnan(pooling.posterior_correlation(idata, "a", "c"))
    value = pooling.ess_per_gradient(idata, ["a"])
    expected = 1000 * float(az.ess(idata, var_names=["a"])["a"]) / 7000
    assert value == pytest.approx(expected)
