"""The answers of a study: the fit with one delta per cell, the split of shrinkage into pooling and
delta-sharing, regression lines along a numeric factor, the prior pull, and their figures.

No long fits: fit methods are driven by a fake fit function, tables by InferenceData with known draws.
"""

from __future__ import annotations

import arviz as az
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from seu_sensitivity.inference import effects  # noqa: E402
from seu_sensitivity.model.priors import HM01Priors, M01Priors  # noqa: E402
from seu_sensitivity.model.simulate import simulate_cell  # noqa: E402
from seu_sensitivity.plots import study as app_plots  # noqa: E402
from seu_sensitivity.studies import study as st  # noqa: E402
from seu_sensitivity.studies.study import OWN_DELTA, Study  # noqa: E402


def _study(formula="~ prompt * temperature"):
    cells = pd.DataFrame({"cell_id": ["n0", "n1", "n2", "d0", "d1", "d2"], "prompt": ["n"] * 3 + ["d"] * 3,
                          "temperature": [0.0, 0.5, 1.0] * 2, "task": ["t", "t", "t", "t", "t", "t"]})
    data = {c: simulate_cell(M=12, R=6, D=2, K=3, seed=i)[0] for i, c in enumerate(cells["cell_id"])}
    return Study.from_cells(cells, data, formula, utility_group="task",
                            cell_priors=M01Priors(alpha_mu=3.0, alpha_sd=0.75))


def _fit_with(study, gamma0, gamma, log_alpha, seed=0, draws=400):
    """An h_m01-shaped fit with constant gamma0, gamma and log_alpha centred at the given values."""
    rng = np.random.default_rng(seed)
    X = study.predictors()
    J, P = X.shape
    return az.from_dict(
        posterior={"gamma0": np.full((2, draws), gamma0), "gamma": np.broadcast_to(gamma, (2, draws, P)).copy(),
                   "log_alpha": np.asarray(log_alpha) + rng.normal(0, 0.05, (2, draws, J)),
                   "sigma_cell": np.abs(rng.normal(0, 0.2, (2, draws)))},
        constant_data={"X": X.to_numpy()},
        dims={"gamma": ["predictor"], "log_alpha": ["cell"], "X": ["cell", "predictor"]},
        coords={"cell": study.cell_ids, "predictor": list(X.columns)},
    )


def test_fit_hierarchical_with_one_delta_per_cell_is_stored_apart():
    study = _study()
    calls = []

    def fake(model, stacked, **kwargs):
        calls.append((model, stacked, kwargs))
        return f"idata {len(calls)}"

    shared = study.fit_hierarchical(seed=7, chains=2, draws=10, fit_function=fake)
    own = study.fit_hierarchical(utilities="cell", seed=7, chains=2, draws=10, fit_function=fake)
    (_, shared_data, shared_kw), (model, own_data, own_kw) = calls
    assert model == "h_m01" and own_kw == shared_kw  # same priors, seed and sampler
    assert shared_data.G == 1 and own_data.G == own_data.J == 6
    assert list(own_data.group_names) == study.cell_ids
    np.testing.assert_array_equal(own_data.y, shared_data.y)
    np.testing.assert_array_equal(own_data.X.to_numpy(), shared_data.X.to_numpy())
    assert study.hierarchical == shared and study.hierarchical_own_delta == own
    assert study.fit(OWN_DELTA) == own and study.fit("hierarchical") == shared
    assert OWN_DELTA not in study.fitted()  # the comparison of the three fits leaves it out
    assert study.with_priors(HM01Priors(gamma_sd=0.5)).hierarchical_own_delta is None
    with pytest.raises(ValueError, match="utilities must be one of"):
        study.fit_hierarchical(utilities="task", fit_function=fake)


def test_fit_of_a_missing_own_delta_fit_names_the_call():
    with pytest.raises(ValueError, match=r'fit_hierarchical\(utilities="cell"\)'):
        _study().fit(OWN_DELTA)


def test_shrinkage_splits_the_move_into_pooling_and_delta_sharing():
    study = _study()
    ids = study.cell_ids
    independent = study.cells.copy()
    ind = np.array([3.0, 2.8, 2.6, 3.4, 3.2, 3.0])
    independent["alpha"], independent["alpha_lower"], independent["alpha_upper"] = np.exp(ind), np.exp(ind - 0.5), np.exp(ind + 0.5)
    independent["log_alpha_sd"] = 0.3
    study.independent = st.IndependentFits(table=independent, fits={})
    own = ind + 0.2            # pooling moves every cell up by 0.2
    shared = own + [0.1, 0.1, 0.1, -0.05, -0.05, -0.05]   # sharing: +0.1 for prompt n, -0.05 for prompt d
    study.hierarchical = _fit_with(study, 3.0, [0.5, -0.2, 0.1], shared, seed=1)
    study.hierarchical_own_delta = _fit_with(study, 2.9, [0.5, -0.2, 0.1], own, seed=2)
    table = study.shrinkage()
    assert list(table.index) == ids
    np.testing.assert_allclose(table["shift_pooling"], 0.2, atol=0.02)
    np.testing.assert_allclose(table["shift_sharing"], [0.1] * 3 + [-0.05] * 3, atol=0.02)
    np.testing.assert_allclose(table["shift_pooling"] + table["shift_sharing"], table["shift"], atol=1e-12)
    X = study.predictors().to_numpy()
    np.testing.assert_allclose(table["line_own_delta"], 2.9 + X @ [0.5, -0.2, 0.1], atol=1e-9)
    np.testing.assert_allclose(table["line"], 3.0 + X @ [0.5, -0.2, 0.1], atol=1e-9)
    assert (table["hierarchical_mcse"] > 0).all() and (table["own_delta_mcse"] < 0.01).all()
    # prior pull: w = 0.3^2 / 0.75^2 = 0.16, pull = w / (1 - w) (3.0 - median)
    np.testing.assert_allclose(table["prior_pull"], 0.16 / 0.84 * (3.0 - ind), atol=1e-9)
    # without the own-delta fit the table has no split
    study.hierarchical_own_delta = None
    assert "shift_sharing" not in study.shrinkage().columns


def test_prior_pull_recovers_the_likelihood_centre_of_a_normal_posterior():
    rng = np.random.default_rng(3)
    prior_mu, prior_sd = 3.0, 0.75
    L = rng.normal(4.0, 0.5, 50)          # likelihood centres
    s_lik = rng.uniform(0.2, 0.6, 50)     # likelihood sds
    post_var = 1 / (1 / prior_sd**2 + 1 / s_lik**2)
    post_mean = post_var * (prior_mu / prior_sd**2 + L / s_lik**2)
    pull = effects.prior_pull(post_mean, np.sqrt(post_var), prior_mu, prior_sd)
    np.testing.assert_allclose(pull, post_mean - L, atol=1e-12)
    assert np.isnan(effects.prior_pull(4.0, 0.8, 3.0, 0.75))  # posterior wider than the prior


def test_regression_mean_at_new_rows_matches_the_fit_and_checks_columns():
    study = _study()
    fit = _fit_with(study, 3.0, [0.5, -0.2, 0.1], np.zeros(6))
    X = study.predictors()
    at_cells = effects.regression_mean(fit, X[X.columns[::-1]])  # any column order
    np.testing.assert_allclose(at_cells.values, effects.regression_mean(fit).values)
    with pytest.raises(KeyError, match="predictors"):
        effects.regression_mean(fit, X.drop(columns=X.columns[0]))


def test_regression_lines_follow_the_formula_along_temperature():
    study = _study()
    study.hierarchical = _fit_with(study, 3.0, [0.5, -0.2, 0.1], np.zeros(6))
    lines = study.regression_lines(points=5)
    assert list(lines.columns) == ["prompt", "temperature", "median", "lower", "upper"]
    assert len(lines) == 10 and list(lines["prompt"].unique()) == ["n", "d"]
    # columns: prompt: d, temperature, temperature | d  (treatment coding, n the reference)
    n = lines[lines["prompt"] == "n"]
    d = lines[lines["prompt"] == "d"]
    np.testing.assert_allclose(n["median"], 3.0 - 0.2 * n["temperature"], atol=1e-9)
    np.testing.assert_allclose(d["median"], 3.5 + (-0.2 + 0.1) * d["temperature"], atol=1e-9)
    np.testing.assert_allclose(lines["lower"], lines["median"], atol=1e-9)  # constant draws: no width
    with pytest.raises(ValueError, match="not a numeric factor"):
        study.regression_lines("prompt")
    with pytest.raises(ValueError, match="no hierarchical_own_delta fit"):
        study.regression_lines(model=OWN_DELTA)


def _plain(labels):
    return [t.get_text() for t in labels if t.get_text()]


def test_regression_band_plot_has_a_panel_per_level_and_plain_log_ticks():
    lines = pd.DataFrame({"llm": ["a"] * 4 + ["b"] * 4, "task": ["x", "x", "y", "y"] * 2,
                          "temperature": [0.0, 1.0] * 4, "median": np.log([60, 30, 90, 45] * 2),
                          "lower": np.log([40, 20, 70, 30] * 2), "upper": np.log([80, 40, 120, 60] * 2)})
    points = lines.rename(columns={"median": "alpha"}).assign(alpha=lambda t: np.exp(t["alpha"]),
                                                              alpha_lower=20.0, alpha_upper=150.0)
    fig = app_plots.regression_band_plot(lines, points, x="temperature", panel="llm", colour="task",
                                         xlabels={"a": "temperature, a's scale"})
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    assert axes[0].get_xlabel() == "temperature, a's scale" and axes[1].get_xlabel() == "temperature"
    fig.canvas.draw()
    ticks = _plain(axes[0].get_yticklabels())
    assert ticks and all("times" not in t and "^" not in t for t in ticks) and "100" in ticks
    plt.close(fig)


def test_effect_panels_stack_groups_with_plain_ticks():
    group = pd.DataFrame({"centre": [0.5, 1.5], "lower": [0.3, 1.1], "upper": [0.8, 2.5]}, index=["p", "q"])
    fig = app_plots.effect_panels({"at T = 0": group, "over the range": group.iloc[:1]})
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["at T = 0", "over the range"]
    assert _plain(fig.axes[0].get_yticklabels()) == ["p", "q"]
    fig.canvas.draw()
    ticks = _plain(fig.axes[-1].get_xticklabels())
    assert "1" in ticks and "0.5" in ticks and not any("times" in t or "^" in t for t in ticks)
    plt.close(fig)
    with pytest.raises(ValueError):
        app_plots.effect_panels({})


def test_shrinkage_plot_passes_through_the_own_delta_fit():
    table = pd.DataFrame({
        "independent": [1.0, 2.0], "independent_lower": [0.5, 1.5], "independent_upper": [1.5, 2.5],
        "hierarchical": [1.2, 1.9], "hierarchical_lower": [0.9, 1.6], "hierarchical_upper": [1.5, 2.2],
        "line": [1.5, 1.8], "own_delta": [1.1, 1.95], "line_own_delta": [1.4, 1.85]}, index=["a", "b"])
    ax = app_plots.shrinkage_plot(table)
    arrows = [c for c in ax.texts if c.arrow_patch is not None]
    assert len(arrows) == 4  # two steps per cell
    assert "hierarchical, own δ" in [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(ax.figure)
