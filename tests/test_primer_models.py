"""The primer's Stan programs against exact results (compiles two small programs).

Every comparison is to a known answer — the conjugate formula, the exact
quadrature posterior, or the structure of the simulated data — within four
Monte Carlo standard errors.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stan")

from seu_sensitivity.studies import normal_means as pooling  # noqa: E402
from seu_sensitivity.inference.fitting import fit  # noqa: E402
from seu_sensitivity.studies.normal_means import TauPrior  # noqa: E402

SETTINGS = dict(chains=2, warmup=500, draws=1000, cache=False)
N_MCSE = 4


@pytest.fixture(scope="module")
def groups():
    """Eight simulated groups with known population (mu = 3, tau = 2) and unequal standard errors."""
    y, sigma, theta = pooling.simulate_normal_means(8, mu=3.0, tau=2.0, sigma=np.linspace(0.5, 4.0, 8), seed=4)
    return y, sigma


def _theta_errors(idata, expected):
    theta = idata.posterior["theta"].to_numpy()
    return np.array([(theta[..., j].mean() - expected[j]) / pooling.mcse_mean(theta[..., j])
                     for j in range(theta.shape[-1])])


def test_fixed_population_samples_the_shrinkage_formula(groups):
    y, sigma = groups
    idata = fit("primer/normal_means", pooling.normal_means_data(y, sigma, fixed_population=(3.0, 2.0)),
                seed=11, **SETTINGS)
    mean, sd = pooling.conditional_posterior(y, sigma**2, mu=3.0, tau=2.0)
    assert np.max(np.abs(_theta_errors(idata, mean))) < N_MCSE
    sampled_sd = idata.posterior["theta"].std(("chain", "draw")).to_numpy()
    assert np.allclose(sampled_sd, sd, rtol=0.1)
    assert np.allclose(idata.posterior["tau"], 2.0) and np.allclose(idata.posterior["mu"], 3.0)


@pytest.mark.parametrize("centered", [True, False])
def test_partial_pooling_matches_exact_posterior(groups, centered):
    y, sigma = groups
    prior = TauPrior("half-normal", scale=3.0)
    idata = fit("primer/normal_means", pooling.normal_means_data(y, sigma, centered=centered, tau_prior=prior,
                                                                 mu_scale=10.0),
                seed=12, adapt_delta=0.95, **SETTINGS)
    exact = pooling.normal_means_posterior(y, sigma, prior, mu_scale=10.0)
    assert np.max(np.abs(_theta_errors(idata, exact.theta_mean))) < N_MCSE
    tau = idata.posterior["tau"].to_numpy()
    assert abs(tau.mean() - exact.tau_mean) < N_MCSE * pooling.mcse_mean(tau)


def test_uniform_prior_respects_its_bound(groups):
    y, sigma = groups
    idata = fit("primer/normal_means", pooling.normal_means_data(y, sigma, tau_prior=TauPrior("uniform", upper=6.0)),
                seed=13, **SETTINGS)
    assert float(idata.posterior["tau"].max()) <= 6.0


def test_complete_and_no_pooling_are_conjugate(groups):
    y, sigma = groups
    complete = fit("primer/normal_means", pooling.normal_means_data(y, sigma, pooling="complete", mu_scale=10.0),
                   seed=14, **SETTINGS)
    theta = complete.posterior["theta"].to_numpy()
    assert np.allclose(theta, theta[..., :1])  # one effect for every group
    expected, _ = pooling.complete_pooling_estimate(np.append(y, 0.0), np.append(sigma, 10.0))
    mu = complete.posterior["mu"].to_numpy()
    assert abs(mu.mean() - expected) < N_MCSE * pooling.mcse_mean(mu)

    none = fit("primer/normal_means", pooling.normal_means_data(y, sigma, pooling="none", theta_scale=5.0),
               seed=15, **SETTINGS)
    expected_none, _ = pooling.conditional_posterior(y, sigma**2, mu=0.0, tau=5.0)
    assert np.max(np.abs(_theta_errors(none, expected_none))) < N_MCSE
    assert np.all(np.isnan(none.posterior["theta_new"].to_numpy()))  # no population, no new group


def test_crossed_means_are_identified_only_when_one_is_fixed():
    free_data, truth = pooling.simulate_crossed(12, 10, seed=5)
    fixed_data, _ = pooling.simulate_crossed(12, 10, seed=5, fix_mu_alpha=True)
    free = fit("primer/crossed_effects", free_data, seed=16, **SETTINGS)
    fixed = fit("primer/crossed_effects", fixed_data, seed=16, **SETTINGS)
    assert pooling.posterior_correlation(free, "mu_alpha", "mu_gamma") < -0.9
    assert np.all(fixed.posterior["mu_alpha"].to_numpy() == 0.0)
    assert float(fixed.posterior["mu_gamma"].std()) < float(free.posterior["mu_gamma"].std()) / 3
    total = (free.posterior["mu_alpha"] + free.posterior["mu_gamma"]).to_numpy()
    assert abs(total.mean() - truth["sum"]) < 4 * total.std()
