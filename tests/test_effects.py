"""Posterior summaries of regression effects, on InferenceData with known draws."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest
from scipy import stats

from seu_sensitivity.inference.effects import (contrast, effects_table, heterogeneity, log_alpha_by_chain, mean_and_mcse,
                                               pooling_path, regression_gap, regression_mean, summarise)

PREDICTORS = ["llm[T.B]", "prompt[T.directive]", "llm[T.B]:prompt[T.directive]"]
CELLS = ["A__neutral", "A__directive", "B__neutral", "B__directive"]
X_TREATMENT = np.array([[0, 0, 0], [0, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=float)


def _idata(gamma0, gamma, sigma_cell, z):
    """An h_m01-shaped InferenceData whose log_alpha is built from the given draws exactly as the model does."""
    log_alpha = gamma0[..., None] + np.einsum("cdp,jp->cdj", gamma, X_TREATMENT) + sigma_cell[..., None] * z
    return az.from_dict(
        posterior={"gamma0": gamma0, "gamma": gamma, "sigma_cell": sigma_cell, "z": z, "log_alpha": log_alpha},
        constant_data={"X": X_TREATMENT},
        dims={"gamma": ["predictor"], "z": ["cell"], "log_alpha": ["cell"], "X": ["cell", "predictor"]},
        coords={"predictor": PREDICTORS, "cell": CELLS},
    )


@pytest.fixture
def known():
    rng = np.random.default_rng(42)
    shape = (4, 2500)
    truth = {"gamma0": 3.0, "gamma": np.array([-0.5, 0.3, 0.8]), "sd": np.array([0.1, 0.2, 0.4])}
    gamma0 = rng.normal(truth["gamma0"], 0.05, size=shape)
    gamma = rng.normal(truth["gamma"], truth["sd"], size=shape + (3,))
    sigma_cell = np.abs(rng.normal(0, 0.3, size=shape))
    z = rng.standard_normal(shape + (4,))
    return _idata(gamma0, gamma, sigma_cell, z), truth


def test_effects_table_matches_normal_draws(known):
    idata, truth = known
    table = effects_table(idata, prob=0.9)
    assert list(table.index) == PREDICTORS
    n = 4 * 2500
    # means within 4 Monte Carlo standard errors of the truth
    assert np.all(np.abs(table["mean"] - truth["gamma"]) < 4 * truth["sd"] / np.sqrt(n))
    # interval ends at the normal quantiles (quantile MCSE ~ sd * 2.1 / sqrt(n) at 5%; 4x that)
    z90 = stats.norm.ppf(0.95)
    assert np.all(np.abs(table["lower"] - (truth["gamma"] - z90 * truth["sd"])) < 4 * 2.2 * truth["sd"] / np.sqrt(n))
    assert np.all(np.abs(table["upper"] - (truth["gamma"] + z90 * truth["sd"])) < 4 * 2.2 * truth["sd"] / np.sqrt(n))
    # multiplicative effects are exp of the log-scale summaries, not summaries of exp draws
    np.testing.assert_allclose(table["exp lower"], np.exp(table["lower"]))
    np.testing.assert_allclose(table["exp upper"], np.exp(table["upper"]))
    assert np.all(np.abs(np.log(table["exp(gamma)"]) - truth["gamma"]) < 4 * 1.26 * truth["sd"] / np.sqrt(n))
    # P(gamma > 0) against the normal tail probability, binomial MC error
    p_true = stats.norm.sf(0, loc=truth["gamma"], scale=truth["sd"])
    assert np.all(np.abs(table["P(gamma > 0)"] - p_true) < 4 * np.sqrt(p_true * (1 - p_true) / n) + 1e-3)


def test_effects_table_interval_probability(known):
    idata, _ = known
    narrow, wide = effects_table(idata, prob=0.5), effects_table(idata, prob=0.95)
    assert np.all(wide["lower"] < narrow["lower"]) and np.all(wide["upper"] > narrow["upper"])
    with pytest.raises(ValueError, match="prob"):
        effects_table(idata, prob=1.5)


def test_contrast_difference_in_differences_recovers_interaction(known):
    idata, _ = known
    did = contrast(idata, {"B__directive": 1, "B__neutral": -1, "A__directive": -1, "A__neutral": 1})
    # with treatment coding, the difference in differences of the regression means is the interaction
    # coefficient; the cell draws add sigma_cell times the same combination of z
    post = idata.posterior.stack(sample=("chain", "draw"))
    z = post["z"].transpose("sample", "cell").values
    expected = post["gamma"].sel(predictor=PREDICTORS[2]).values + post["sigma_cell"].values * (
        z[:, 3] - z[:, 2] - z[:, 1] + z[:, 0]
    )
    np.testing.assert_allclose(did, expected, atol=1e-12)
    on_gamma = contrast(idata, {PREDICTORS[2]: 1.0}, var="gamma")
    np.testing.assert_allclose(on_gamma, post["gamma"].sel(predictor=PREDICTORS[2]).values)


def test_contrast_rejects_unknown_labels(known):
    idata, _ = known
    with pytest.raises(KeyError, match="unknown cell"):
        contrast(idata, {"C__neutral": 1.0})
    with pytest.raises(ValueError, match="no weights"):
        contrast(idata, {})


def test_regression_mean_is_log_alpha_minus_cell_deviation(known):
    idata, _ = known
    line = regression_mean(idata)
    post = idata.posterior.stack(sample=("chain", "draw"))
    deviation = (post["sigma_cell"] * post["z"]).transpose("sample", "cell")
    np.testing.assert_allclose(line.values, post["log_alpha"].transpose("sample", "cell").values - deviation.values,
                               atol=1e-12)
    assert list(line["cell"].values) == CELLS


def test_regression_mean_without_predictors():
    idata = az.from_dict(
        posterior={"gamma0": np.array([[1.0, 2.0]])},
        constant_data={"X": np.zeros((3, 0))},
        dims={"X": ["cell", "predictor"]},
        coords={"cell": ["a", "b", "c"]},
    )
    np.testing.assert_allclose(regression_mean(idata).values, [[1.0] * 3, [2.0] * 3])


def test_heterogeneity_prior_row_is_half_normal_and_posterior_row_the_draws():
    rng = np.random.default_rng(3)
    draws = rng.uniform(0.2, 0.6, size=(2, 5000))
    idata = az.from_dict(posterior={"sigma_cell": draws})
    table = heterogeneity(idata, prior_sd=0.5, prob=0.8, thresholds=(0.1, 0.5))
    # HalfNormal(0.5): P(sigma > 0.1) = 2 * (1 - Phi(0.2))
    assert table.loc["prior", "P(sigma_cell > 0.1)"] == pytest.approx(2 * stats.norm.sf(0.2))
    assert table.loc["prior", "upper"] == pytest.approx(0.5 * stats.norm.ppf(0.95))
    n = draws.size
    assert table.loc["posterior", "P(sigma_cell > 0.1)"] == 1.0
    assert abs(table.loc["posterior", "P(sigma_cell > 0.5)"] - 0.25) < 4 * np.sqrt(0.25 * 0.75 / n)
    assert abs(table.loc["posterior", "lower"] - 0.24) < 0.01 and abs(table.loc["posterior", "upper"] - 0.56) < 0.01


def test_summarise_probabilities():
    s = summarise(np.concatenate([-np.ones(30), np.ones(70)]), prob=0.9)
    assert s["P(> 0)"] == pytest.approx(0.7)
    assert s["mean"] == pytest.approx(0.4)
    with pytest.raises(ValueError, match="no draws"):
        summarise(np.array([]))


def test_tails_are_the_central_interval_levels():
    from seu_sensitivity.inference.effects import tails

    assert tails(0.5) == (0.25, 0.75)
    low, high = tails(0.9)
    assert low == pytest.approx(0.05) and high == pytest.approx(0.95)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="prob"):
            tails(bad)


def test_regression_summary_is_summarise_of_each_regression_quantity_with_its_mcse():
    import arviz as az

    from seu_sensitivity.inference.effects import regression_summary, summarise

    rng = np.random.default_rng(3)
    gamma = rng.normal([0.5, -1.0], 0.2, size=(2, 400, 2))
    idata = az.from_dict(posterior={"gamma0": rng.normal(3, 0.3, (2, 400)), "gamma": gamma,
                                    "sigma_cell": np.abs(rng.normal(0, 0.2, (2, 400)))},
                         dims={"gamma": ["predictor"]}, coords={"predictor": ["llm", "task"]})
    table = regression_summary(idata, prob=0.8)
    assert table.index.tolist() == ["gamma0", "llm", "task", "sigma_cell"]
    expected = summarise(gamma[..., 1], prob=0.8)
    for column in ("mean", "sd", "lower", "upper", "P(> 0)"):
        assert table.loc["task", column] == pytest.approx(expected[column])
    assert table.loc["task", "mcse"] == pytest.approx(float(az.mcse(gamma[..., 1], method="mean")))
    assert table.loc["task", "P(> 0)"] < 0.01 and table.loc["llm", "P(> 0)"] > 0.99


def test_regression_gap_is_sigma_cell_times_mean_abs_z(known):
    idata, _ = known
    post = idata.posterior
    expected = (post["sigma_cell"] * np.abs(post["z"])).mean("cell").transpose("chain", "draw").values
    np.testing.assert_allclose(regression_gap(idata), expected, rtol=1e-10, atol=1e-12)


def test_mean_and_mcse_covers_known_means_at_the_stated_rate():
    """Independent normal draws: the MCSE is sd / sqrt(n), and 4 MCSE cover every one of 50 known means."""
    rng = np.random.default_rng(3)
    truth = rng.normal(size=50)
    values = rng.normal(truth, 2.0, size=(4, 500, 50))
    means, errors = mean_and_mcse(values)
    np.testing.assert_allclose(errors, 2.0 / np.sqrt(2000), rtol=0.15)
    assert (np.abs(means - truth) < 4 * errors).all()
    with pytest.raises(ValueError, match="chain, draw"):
        mean_and_mcse(np.zeros(10))


def test_pooling_path_measures_distance_to_independent_fits_and_gap_from_the_line(known):
    """Fits with sigma_cell held at s: log_alpha_j = line + s z_j exactly, so the gap is s E|z| and the
    distance to independent fits centred at the s = 1 cells falls to zero as s reaches 1."""
    idata, _ = known
    rng = np.random.default_rng(5)
    post = idata.posterior
    line = post["log_alpha"].values - post["sigma_cell"].values[..., None] * post["z"].values
    z_fixed = np.array([-1.0, 0.5, 1.5, -0.2])
    fits = {}
    for s in (0.0, 0.5, 1.0):
        fits[s] = _idata(post["gamma0"].values, post["gamma"].values, np.full(line.shape[:2], s),
                         np.broadcast_to(z_fixed, line.shape).copy())
    line_mean = line.mean(axis=(0, 1))
    independent = {cell: az.from_dict(posterior={"alpha": np.exp(rng.normal(line_mean[j] + z_fixed[j], 0.01, (2, 800)))})
                   for j, cell in enumerate(CELLS)}
    estimates, path = pooling_path(fits, independent)
    assert list(estimates.columns) == CELLS and list(path.index) == [0.0, 0.5, 1.0]
    np.testing.assert_allclose(path["gap"], [0.0, 0.5 * np.abs(z_fixed).mean(), np.abs(z_fixed).mean()], atol=1e-10)
    expected_distance = [np.abs((1 - s) * z_fixed).mean() for s in (0.0, 0.5, 1.0)]
    assert (np.abs(path["distance"] - expected_distance) < 4 * path["distance_mcse"] + 1e-3).all()
    assert path["distance"].is_monotonic_decreasing and (path["distance_mcse"] > 0).all()
    np.testing.assert_allclose(log_alpha_by_chain(independent[CELLS[0]]).shape, (2, 800, 1))
    with pytest.raises(KeyError, match="A__neutral"):
        pooling_path(fits, {c: f for c, f in independent.items() if c != "A__neutral"})
