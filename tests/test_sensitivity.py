"""Power-scaling sensitivity, checked on conjugate normal models whose posterior is known exactly.

Draws are exact posterior draws of mu in y_i ~ Normal(mu, 1), mu ~ Normal(m0, s0),
so the only approximation is power-scaling's importance sampling, and what
the diagnosis should say follows from the prior and data chosen.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from seu_sensitivity.inference.sensitivity import (
    PRIOR_DATA_CONFLICT,
    STRONG_PRIOR,
    diagnosis,
    hyperprior_log_density,
    hyperprior_sensitivity,
    sensitivity_table,
)
from seu_sensitivity.model.priors import HM01Priors
from seu_sensitivity.model.simulate import simulate_cell
from seu_sensitivity.studies.study import Study

CHAINS, DRAWS = 4, 2000


def conjugate_normal(m0: float, s0: float, y: np.ndarray, seed: int = 0, name: str = "mu") -> az.InferenceData:
    """Exact posterior draws of mu with log_prior and pointwise log_likelihood groups."""
    rng = np.random.default_rng(seed)
    precision = 1 / s0**2 + len(y)
    mean = (m0 / s0**2 + y.sum()) / precision
    mu = rng.normal(mean, precision**-0.5, size=(CHAINS, DRAWS))
    idata = az.from_dict(posterior={name: mu},
                         log_likelihood={"y": stats.norm.logpdf(y, loc=mu[..., None], scale=1.0)})
    idata.add_groups(log_prior={name: stats.norm.logpdf(mu, m0, s0)})
    return idata


def data(n: int, mean: float = 0.0, seed: int = 1) -> np.ndarray:
    y = np.random.default_rng(seed).normal(size=n)
    return y - y.mean() + mean  # the sample mean exactly ``mean``


def test_weak_prior_and_much_data_is_not_prior_sensitive():
    table = sensitivity_table(conjugate_normal(m0=0.0, s0=100.0, y=data(200, mean=1.0)))
    row = table.loc["mu"]
    assert row["prior"] < 0.05
    assert row["likelihood"] > 0.05
    assert row["diagnosis"] == "-"


def test_strong_prior_far_from_the_data_is_a_conflict():
    # prior and likelihood equally precise (s0 = 0.1, n = 100), their centres 50 posterior sds apart
    table = sensitivity_table(conjugate_normal(m0=5.0, s0=0.1, y=data(100, mean=0.0)))
    row = table.loc["mu"]
    assert row["prior"] > 0.05 and row["likelihood"] > 0.05
    assert row["diagnosis"] == PRIOR_DATA_CONFLICT


def test_strong_prior_with_almost_no_data_is_a_strong_prior():
    # one observation against a prior worth 400: the likelihood barely moves the posterior
    table = sensitivity_table(conjugate_normal(m0=0.0, s0=0.05, y=np.array([0.0])))
    row = table.loc["mu"]
    assert row["prior"] > 0.05
    assert row["likelihood"] < 0.05
    assert row["diagnosis"] == STRONG_PRIOR


def test_prior_sensitivity_grows_with_the_prior_weight():
    y = data(50, mean=0.5)
    weights = [sensitivity_table(conjugate_normal(m0=0.0, s0=s0, y=y)).loc["mu", "prior"] for s0 in (10.0, 0.3, 0.1)]
    assert weights[0] < weights[1] < weights[2]


def test_diagnosis_thresholds():
    assert diagnosis(0.05, 0.05) == PRIOR_DATA_CONFLICT
    assert diagnosis(0.06, 0.049) == STRONG_PRIOR
    assert diagnosis(0.049, 0.9) == "-"
    assert diagnosis(0.2, 0.2, threshold=0.3) == "-"


def test_sensitivity_table_needs_both_groups():
    idata = az.from_dict(posterior={"mu": np.zeros((2, 10))}, log_likelihood={"y": np.zeros((2, 10, 3))})
    with pytest.raises(ValueError, match="log_prior"):
        sensitivity_table(idata)


# -- h_m01's hyperpriors ----------------------------------------------------------------------


def hm01_like(seed: int = 0, sigma_cell: np.ndarray | None = None) -> az.InferenceData:
    rng = np.random.default_rng(seed)
    posterior = {
        "gamma0": rng.normal(3.0, 0.4, size=(2, 5)),
        "gamma": rng.normal(0.0, 0.7, size=(2, 5, 2)),
        "sigma_cell": np.abs(rng.normal(0.0, 0.3, size=(2, 5))) if sigma_cell is None else sigma_cell,
    }
    return az.from_dict(posterior=posterior, dims={"gamma": ["predictor"]},
                        coords={"predictor": ["llm: B", "task: ellsberg"]})


def test_hyperprior_log_density_matches_scipy():
    priors = HM01Priors(gamma0_mu=2.5, gamma0_sd=0.5, gamma_sd=0.7, sigma_cell_sd=0.3)
    idata = hm01_like()
    lp = hyperprior_log_density(idata, priors)
    post = idata.posterior
    for chain, draw in [(0, 0), (1, 3), (0, 4)]:
        g0, g, s = (post[v].values[chain, draw] for v in ("gamma0", "gamma", "sigma_cell"))
        expected = (stats.norm(2.5, 0.5).logpdf(g0) + stats.norm(0, 0.7).logpdf(g).sum()
                    + stats.halfnorm(scale=0.3).logpdf(s))
        total = sum(float(lp[v].values[chain, draw].sum()) for v in lp.data_vars)
        assert total == pytest.approx(expected, rel=1e-12)
        # the half-normal is normalised: log 2 above the normal density
        assert float(lp["sigma_cell"].values[chain, draw]) == pytest.approx(np.log(2) + stats.norm(0, 0.3).logpdf(s))


def test_fixed_hyperparameters_have_no_prior_term():
    # complete pooling: sigma_cell held at 0 on every draw, found from the draws
    pooled = hm01_like(sigma_cell=np.zeros((2, 5)))
    lp = hyperprior_log_density(pooled, HM01Priors())
    assert sorted(lp.data_vars) == ["gamma", "gamma0"]
    post = pooled.posterior
    expected = stats.norm(3.0, 1.0).logpdf(post["gamma0"].values) + stats.norm(0, 1.0).logpdf(post["gamma"].values).sum(-1)
    np.testing.assert_allclose(lp["gamma0"].values + lp["gamma"].values.sum(-1), expected, rtol=1e-12)
    # gamma0 fixed by name
    lp = hyperprior_log_density(hm01_like(), HM01Priors(), fixed=["gamma0"])
    assert sorted(lp.data_vars) == ["gamma", "sigma_cell"]
    with pytest.raises(ValueError, match="not hyperparameters"):
        hyperprior_log_density(hm01_like(), fixed=["beta"])


def conjugate_hm01(priors: HM01Priors, ybar: float, n: int, seed: int = 0) -> az.InferenceData:
    """An h_m01-shaped fit whose gamma0 is the exact conjugate posterior under ``priors`` (gamma, sigma_cell fixed)."""
    rng = np.random.default_rng(seed)
    y = data(n, mean=ybar, seed=seed + 1)
    precision = 1 / priors.gamma0_sd**2 + n
    mean = (priors.gamma0_mu / priors.gamma0_sd**2 + y.sum()) / precision
    gamma0 = rng.normal(mean, precision**-0.5, size=(CHAINS, DRAWS))
    return az.from_dict(
        posterior={"gamma0": gamma0, "sigma_cell": np.zeros((CHAINS, DRAWS)), "alpha": np.exp(gamma0)[..., None]},
        log_likelihood={"y": stats.norm.logpdf(y, loc=gamma0[..., None], scale=1.0)},
        dims={"alpha": ["cell"]}, coords={"cell": ["c1"]},
    )


def test_hyperprior_sensitivity_reads_the_priors_it_is_given():
    strong = HM01Priors(gamma0_mu=5.0, gamma0_sd=0.1)
    idata = conjugate_hm01(strong, ybar=0.0, n=100)
    groups = list(idata.groups())
    table = hyperprior_sensitivity(idata, strong, labels={"c1": "LLM A × task 1"})
    assert list(idata.groups()) == groups  # the fit is not changed
    assert list(table.index) == ["gamma0", "alpha: LLM A × task 1"]  # sigma_cell is fixed, so not reported
    assert (table["diagnosis"] == PRIOR_DATA_CONFLICT).all()
    # the same draws judged against a vague hyperprior: nothing to power-scale that matters
    vague = hyperprior_sensitivity(conjugate_hm01(HM01Priors(gamma0_mu=0.0, gamma0_sd=100.0), ybar=0.0, n=100),
                                   HM01Priors(gamma0_mu=0.0, gamma0_sd=100.0))
    assert (vague["diagnosis"] == "-").all() and (vague["prior"] < 0.05).all()


# -- the study -------------------------------------------------------------------------------


def small_study() -> Study:
    cells = pd.DataFrame({"cell_id": ["x", "y"], "llm": ["A", "B"]})
    return Study.from_cells(cells, {c: simulate_cell(M=20, R=6, D=2, seed=1)[0] for c in "xy"}, "~ llm")


def test_with_priors_keeps_the_original_study():
    study = small_study()
    study.hierarchical = "default fit"
    tight = study.with_priors(HM01Priors(gamma_sd=0.5))
    assert tight.priors.gamma_sd == 0.5 and study.priors == HM01Priors()
    assert tight.hierarchical is None and study.hierarchical == "default fit"
    assert tight.data is study.data and tight.formula == study.formula
    with pytest.raises(ValueError, match="HM01Priors"):
        study.with_priors({"gamma_sd": 0.5})


def test_study_prior_sensitivity_uses_its_priors_and_labels():
    study = small_study()
    rng = np.random.default_rng(2)
    gamma0 = rng.normal(3.0, 0.1, size=(CHAINS, DRAWS))
    study.hierarchical = az.from_dict(
        posterior={"gamma0": gamma0, "gamma": rng.normal(0.0, 0.2, size=(CHAINS, DRAWS, 1)),
                   "sigma_cell": np.abs(rng.normal(0.0, 0.1, size=(CHAINS, DRAWS))),
                   "alpha": np.exp(gamma0[..., None] + rng.normal(0, 0.1, size=(CHAINS, DRAWS, 2)))},
        log_likelihood={"y": -0.5 * (gamma0[..., None] - 3.0) ** 2 * np.ones(5)},
        dims={"gamma": ["predictor"], "alpha": ["cell"]},
        coords={"predictor": list(study.predictors().columns), "cell": study.cell_ids},
    )
    table = study.prior_sensitivity()
    assert list(table.index) == ["gamma0", "llm: B", "sigma_cell", "alpha: A", "alpha: B"]
    assert list(table.columns) == ["variable", "element", "prior", "likelihood", "diagnosis"]
