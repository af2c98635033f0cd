"""The application module (factorial pilot re-analysis): designs, stacking, LOO assembly, tables, figures.

No long fits: the independent-fits runner is driven by a fake fit function,
and the comparison tables by InferenceData with known draws.
"""

from __future__ import annotations

import arviz as az
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from seu_sensitivity.studies import pilot as app  # noqa: E402
from seu_sensitivity.datasets import factorial_pilot  # noqa: E402
from seu_sensitivity.datasets import TASK_PRIORS  # noqa: E402
from seu_sensitivity.plots import study as app_plots  # noqa: E402
from seu_sensitivity.model.stacking import CellData, stack_cells  # noqa: E402


@pytest.fixture(scope="module")
def pilot():
    return factorial_pilot()


# -- design ----------------------------------------------------------------------


def test_pilot_design_columns_rank_and_reference(pilot):
    cells, _ = pilot
    X = app.pilot_predictors(cells)
    assert list(X.columns) == [
        "llm: claude-sonnet-4",
        "task: ellsberg",
        "llm x task: claude-sonnet-4 x ellsberg",
        "temperature | gpt-4o, insurance",
        "temperature | claude-sonnet-4, insurance",
        "temperature | gpt-4o, ellsberg",
        "temperature | claude-sonnet-4, ellsberg",
    ]
    assert list(X.index) == list(cells["cell_id"])
    full = np.column_stack([np.ones(len(X)), X.to_numpy()])
    assert np.linalg.matrix_rank(full) == X.shape[1] + 1
    # the reference cell (gpt-4o, insurance, T = 0) is the row of zeros: gamma0 is its log(alpha)
    assert (X.loc["gpt-4o__insurance__T0_0"] == 0).all()
    # each slope column is the raw temperature inside its LLM x task block and zero elsewhere
    for llm in ("gpt-4o", "claude-sonnet-4"):
        for task in ("insurance", "ellsberg"):
            inside = (cells["llm"] == llm) & (cells["task"] == task)
            column = X[f"temperature | {llm}, {task}"].to_numpy()
            np.testing.assert_array_equal(column[inside.to_numpy()], cells.loc[inside, "temperature"].to_numpy())
            assert np.all(column[~inside.to_numpy()] == 0)
    interaction = X["llm x task: claude-sonnet-4 x ellsberg"].to_numpy()
    np.testing.assert_array_equal(interaction, ((cells["llm"] == "claude-sonnet-4") & (cells["task"] == "ellsberg")).to_numpy())


def test_pilot_design_refuses_a_design_that_cannot_separate_its_effects(pilot):
    cells, _ = pilot
    # one LLM only: the llm column is constant zero... the formula cannot estimate the LLM effect
    gpt_only = cells[cells["llm"] == "gpt-4o"].copy()
    gpt_only["llm"] = gpt_only["llm"].astype(str)
    with pytest.raises(ValueError, match="rank deficient|level"):
        app.pilot_predictors(gpt_only.assign(task=gpt_only["task"].astype(str)),
                             "~ task + llm:task:temperature + C(llm, levels=['gpt-4o', 'claude-sonnet-4'])")


def test_pooled_design_is_the_task_indicator(pilot):
    cells, _ = pilot
    X = app.pooled_predictors(cells)
    assert list(X.columns) == ["task: ellsberg"]
    np.testing.assert_array_equal(X["task: ellsberg"].to_numpy(), (cells["task"] == "ellsberg").to_numpy().astype(float))


@pytest.mark.parametrize(
    "column, expected",
    [
        ("llm[T.claude-sonnet-4]", "llm: claude-sonnet-4"),
        ("task[T.ellsberg]", "task: ellsberg"),
        ("llm[claude-sonnet-4]:task[ellsberg]:temperature", "temperature | claude-sonnet-4, ellsberg"),
        ("temperature", "temperature"),
    ],
)
def test_short_predictor_names(column, expected):
    assert app.short_predictor_name(column) == expected


# -- stacking -----------------------------------------------------------------------


def test_stack_pilot_round_trips_every_cell(pilot):
    cells, data = pilot
    X = app.pilot_predictors(cells)
    stacked = app.stack_pilot(cells, data, X)
    assert stacked.J == 20 and stacked.G == 2
    assert stacked.group_names == ("insurance", "ellsberg")
    assert stacked.M == int(cells["M"].sum())
    # the embeddings differ between datasets: one feature matrix per cell
    assert stacked.F == 20
    for j, cell_id in enumerate(cells["cell_id"]):
        cell = data[cell_id]
        rows = np.flatnonzero(stacked.cell_of == j + 1)
        np.testing.assert_array_equal(stacked.I[rows], cell.I)
        np.testing.assert_array_equal(stacked.y[rows], cell.y)
        np.testing.assert_array_equal(stacked.w[stacked.feature_set[j] - 1], cell.w)
        assert stacked.K[j] == cell.K == (3 if cells["task"].iloc[j] == "insurance" else 4)
        assert stacked.group_names[stacked.group[j] - 1] == cells["task"].iloc[j]
    pd.testing.assert_frame_equal(stacked.X, X.astype(float), check_names=False)


def test_stack_pilot_names_missing_cells(pilot):
    cells, data = pilot
    partial = {k: v for k, v in data.items() if k != "gpt-4o__ellsberg__T0_3"}
    with pytest.raises(ValueError, match="gpt-4o__ellsberg__T0_3"):
        app.stack_pilot(cells, partial, app.pilot_predictors(cells))


# -- independent fits --------------------------------------------------------------


def _toy_cells(n_per: int = 3):
    rng = np.random.default_rng(0)
    cells, data = [], {}
    for i, (llm, task, K) in enumerate([("gpt-4o", "insurance", 3), ("claude-sonnet-4", "ellsberg", 4)]):
        for t in range(n_per):
            cell_id = f"{llm}__{task}__{t}"
            I = np.ones((6, 3), dtype=int)
            I[::2, 2] = 0
            y = np.array([1, 2, 1, 3, 2, 1])
            y = np.where(I.sum(axis=1) == 2, np.minimum(y, 2), y)
            data[cell_id] = CellData(w=rng.normal(size=(3, 2)), I=I, y=y, K=K, cell_id=cell_id)
            cells.append([cell_id, llm, task, float(t), K, 6])
    return pd.DataFrame(cells, columns=["cell_id", "llm", "task", "temperature", "K", "M"]), data


def _fake_idata(alpha_draws: np.ndarray, log_lik: np.ndarray, y: np.ndarray) -> az.InferenceData:
    return az.from_dict(
        posterior={"alpha": alpha_draws},
        log_likelihood={"y": log_lik},
        posterior_predictive={"y": np.broadcast_to(y, log_lik.shape).copy()},
        observed_data={"y": y},
        sample_stats={"diverging": np.zeros(alpha_draws.shape, bool)},
        dims={"y": ["obs"]},
        coords={"obs": list(range(len(y)))},
    )


def test_fit_independent_uses_task_priors_seeds_and_retries_divergent_fits():
    cells, data = _toy_cells()
    calls = []
    divergent_first = {"claude-sonnet-4__ellsberg__1"}
    rng = np.random.default_rng(1)

    def fake_fit(model, cell, **kwargs):
        calls.append((cell.cell_id, kwargs))
        scale = 10.0 + 5 * len(calls)
        idata = _fake_idata(rng.lognormal(np.log(scale), 0.1, size=(2, 50)), rng.normal(-1, 0.1, (2, 50, cell.M)), cell.y)
        idata.attrs["divergent"] = int(cell.cell_id in divergent_first and "adapt_delta" not in kwargs)
        idata.attrs["scale"] = scale
        return idata

    def fake_diagnose(idata):
        n_div = idata.attrs["divergent"]
        table = pd.DataFrame(
            {"value": [1.0, 400.0, 300.0, float(n_div), 0.9], "ok": [True, True, True, n_div == 0, True]},
            index=["max R-hat", "min bulk ESS", "min tail ESS", "divergences", "min E-BFMI"],
        )
        table.attrs["trustworthy"] = n_div == 0
        return table

    result = app.fit_independent(cells, data, sampling=dict(chains=2, warmup=10, draws=50), seed=100,
                                 progress=False, fit_function=fake_fit, diagnose_function=fake_diagnose)
    assert len(calls) == len(cells) + 1  # one retry
    first_calls = [kw for cid, kw in calls if "adapt_delta" not in kw]
    assert [kw["seed"] for kw in first_calls] == [100 + i for i in range(len(cells))]
    for (cell_id, kwargs) in calls:
        task = cell_id.split("__")[1]
        assert kwargs["priors"] == TASK_PRIORS[task]
        assert kwargs["chains"] == 2 and kwargs["draws"] == 50
    retry = [(cid, kw) for cid, kw in calls if "adapt_delta" in kw]
    assert retry == [("claude-sonnet-4__ellsberg__1", {**retry[0][1], "adapt_delta": 0.95})]
    assert list(result.first_attempts) == ["claude-sonnet-4__ellsberg__1"]
    table = result.table.set_index("cell_id")
    assert table.loc["claude-sonnet-4__ellsberg__1", "adapt_delta"] == 0.95
    assert table.loc["claude-sonnet-4__ellsberg__1", "divergences"] == 0  # the kept (retried) fit
    assert np.isnan(table.loc["gpt-4o__insurance__0", "adapt_delta"])
    # the summary is of the kept fit: its median is near that fit's scale
    kept = result.fits["claude-sonnet-4__ellsberg__1"]
    assert abs(np.log(table.loc["claude-sonnet-4__ellsberg__1", "alpha"]) - np.log(kept.attrs["scale"])) < 0.1
    assert (table["alpha_lower"] < table["alpha"]).all() and (table["alpha"] < table["alpha_upper"]).all()


def test_log_alpha_summary_is_quantile_based():
    draws = np.exp(np.random.default_rng(2).normal(2.0, 0.5, size=40000))
    s = app.log_alpha_summary(draws, prob=0.9)
    assert abs(np.log(s["alpha"]) - 2.0) < 0.02
    assert abs(np.log(s["alpha_upper"]) - (2.0 + 1.6449 * 0.5)) < 0.03
    assert abs(s["log_alpha_sd"] - 0.5) < 0.01


# -- LOO assembly ------------------------------------------------------------------------


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
    joint = app.independent_inference_data(fits, order)
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
        app.independent_inference_data(fits, ["a", "d"])
    rng = np.random.default_rng(0)
    fits["b"] = _fake_idata(rng.lognormal(2, 0.2, (2, 100)), rng.normal(-1, 0.3, (2, 100, 7)), np.ones(7, int))
    with pytest.raises(ValueError, match="chains, draws"):
        app.independent_inference_data(fits, ["a", "b"])


def test_loo_table_ranks_the_model_that_predicts_better_first():
    rng = np.random.default_rng(4)
    y = np.ones(30, int)
    good = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-0.2, 0.05, (2, 300, 30)), y)
    bad = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-1.5, 0.05, (2, 300, 30)), y)
    comparison, loos = app.loo_table({"bad": bad, "good": good})
    assert list(comparison.index) == ["good", "bad"]
    assert set(loos) == {"good", "bad"}
    counts = app.pareto_k_counts(loos)
    assert list(counts.columns) == ["k > 0.7", "k > 1", "max k"]
    short = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-1, 0.05, (2, 300, 29)), y[:29])
    with pytest.raises(ValueError, match="different numbers of observations"):
        app.loo_table({"good": good, "short": short})


# -- comparison tables ---------------------------------------------------------------


def _hier_idata(independent_table, line, hier_median, sd=0.05, seed=5):
    """An h_m01-shaped fit whose regression line is ``line`` and whose log_alpha is centred at ``hier_median``."""
    rng = np.random.default_rng(seed)
    cells = list(independent_table["cell_id"])
    J = len(cells)
    X = np.eye(J)[:, 1:]  # cell 0 is the reference; gamma_j - gamma0 offsets
    gamma0 = np.full((2, 400), line[0])
    gamma = np.broadcast_to(np.asarray(line[1:]) - line[0], (2, 400, J - 1)).copy()
    log_alpha = np.asarray(hier_median) + rng.normal(0, sd, (2, 400, J))
    return az.from_dict(
        posterior={"gamma0": gamma0, "gamma": gamma, "log_alpha": log_alpha, "sigma_cell": np.abs(rng.normal(0, 0.3, (2, 400)))},
        constant_data={"X": X},
        dims={"gamma": ["predictor"], "log_alpha": ["cell"], "X": ["cell", "predictor"]},
        coords={"cell": cells, "predictor": [f"p{j}" for j in range(1, J)]},
    )


def test_shrinkage_table_measures_the_pull_towards_the_regression_line():
    independent = pd.DataFrame({
        "cell_id": ["a", "b", "c"], "llm": ["x", "x", "y"], "task": ["t", "t", "t"], "temperature": [0.0, 1.0, 0.0],
        "alpha": np.exp([3.0, 2.0, 4.0]), "alpha_lower": np.exp([2.5, 1.0, 3.8]), "alpha_upper": np.exp([3.5, 3.0, 4.2]),
    })
    line = np.array([2.0, 3.0, 4.02])
    hier = np.array([2.5, 2.25, 4.0])  # half way, a quarter of the way, (line within 0.05: undefined)
    table = app.shrinkage_table(independent, _hier_idata(independent, line, hier), pooled=_hier_idata(independent, line, [3.0] * 3))
    np.testing.assert_allclose(table["line"], line, atol=1e-9)
    np.testing.assert_allclose(table["independent"], [3.0, 2.0, 4.0])
    assert table.loc["a", "pulled"] == pytest.approx(0.5, abs=0.03)
    assert table.loc["b", "pulled"] == pytest.approx(0.25, abs=0.03)
    assert np.isnan(table.loc["c", "pulled"])
    assert table.loc["a", "width_independent"] == pytest.approx(1.0)
    assert (table["width_hierarchical"] < table["width_independent"]).all()
    np.testing.assert_allclose(table["pooled"], 3.0, atol=0.02)


def test_answers_table_adds_sigma_cell_with_its_tail_probability():
    independent = pd.DataFrame({"cell_id": ["a", "b", "c"]})
    idata = _hier_idata(independent, np.array([2.0, 3.0, 4.0]), [2.0, 3.0, 4.0])
    table = app.answers_table(idata)
    assert list(table.index) == ["p1", "p2", "sigma_cell"]
    sigma = idata.posterior["sigma_cell"].values.ravel()
    assert table.loc["sigma_cell", "P(> 0)"] == pytest.approx(np.mean(sigma > 0.1))
    assert table.loc["p1", "mean"] == pytest.approx(1.0)
    assert table.loc["p2", "exp(gamma)"] == pytest.approx(np.exp(2.0))


def _small_stacked():
    I = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1], [1, 1, 1]])
    a = CellData(w=[[0.0], [1.0], [2.0]], I=I, y=[1, 1, 2, 1, 3], K=3, cell_id="a")
    b = CellData(w=[[0.0], [1.0], [2.0]], I=I[:4], y=[2, 2, 1, 1], K=3, cell_id="b")
    return stack_cells([a, b])


def test_cell_ppc_table_on_replications_equal_to_the_data():
    stacked = _small_stacked()
    y_rep = np.broadcast_to(stacked.y, (2, 30, stacked.M)).copy()
    idata = az.from_dict(posterior_predictive={"y": y_rep}, dims={"y": ["obs"]})
    table = app.cell_ppc_table(stacked, idata)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "consistency"] == pytest.approx(0.5)  # menu 1 repeated alike, menu 2 not
    assert table.loc["b", "consistency"] == pytest.approx(1.0)
    np.testing.assert_allclose(table["p consistency"], 0.5)  # all ties
    np.testing.assert_allclose(table["share coverage"], 1.0)
    # replications that always pick the first position: cell b's 2nd-position choices fall outside
    y_first = np.ones_like(y_rep)
    table = app.cell_ppc_table(stacked, az.from_dict(posterior_predictive={"y": y_first}, dims={"y": ["obs"]}))
    assert table.loc["b", "share coverage"] < 1.0
    draws = app.cell_consistency_draws(stacked, idata)
    assert draws["a"][0] == pytest.approx(0.5) and np.all(draws["a"][1] == 0.5)


def test_choice_distribution_counts(pilot):
    cells, data = pilot
    order = list(cells["cell_id"][:3])
    table = app.choice_distribution(data, order)
    menu_cols = [c for c in table.columns if c.startswith("menus of")]
    chose_cols = [c for c in table.columns if c.startswith("chose")]
    np.testing.assert_array_equal(table[menu_cols].sum(axis=1).to_numpy(), [data[c].M for c in order])
    np.testing.assert_allclose(table[chose_cols].sum(axis=1).to_numpy(), 1.0)
    assert table.loc[order[0], "chose 1st"] == pytest.approx(np.mean(data[order[0]].y == 1))


# -- figures --------------------------------------------------------------------------


def test_forest_by_temperature_has_one_panel_per_llm_and_task_and_one_row_per_temperature(pilot):
    cells, _ = pilot
    table = cells.assign(alpha=10.0, alpha_lower=5.0, alpha_upper=20.0)
    fig = app_plots.forest_by_temperature({"independent": table, "hierarchical": table})
    assert len(fig.axes) == 4
    first = fig.axes[0]
    assert first.get_title() == "gpt-4o, insurance"
    assert [t.get_text() for t in first.get_yticklabels()] == ["T = 0", "T = 0.3", "T = 0.7", "T = 1", "T = 1.5"]
    assert [t.get_text() for t in fig.axes[2].get_yticklabels()][1] == "T = 0.2"
    plt.close(fig)


def test_shrinkage_plot_and_ppc_grid():
    table = pd.DataFrame({
        "independent": [1.0, 2.0], "independent_lower": [0.5, 1.5], "independent_upper": [1.5, 2.5],
        "hierarchical": [1.2, 1.9], "hierarchical_lower": [0.9, 1.6], "hierarchical_upper": [1.5, 2.2],
        "line": [1.5, 1.8], "pooled": [1.6, 1.6]}, index=["a", "b"])
    ax = app_plots.shrinkage_plot(table)
    assert len([c for c in ax.texts if c.arrow_patch is not None]) == 2
    plt.close(ax.figure)
    fig = app_plots.ppc_grid({c: (0.5, np.full(10, 0.4)) for c in "abcdefg"}, ncols=5)
    assert sum(a.get_visible() for a in fig.axes) == 7
    plt.close(fig)
    with pytest.raises(ValueError):
        app_plots.ppc_grid({})


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
    assert 0.03 < app.relative_efficiency(plain) < 0.08
    assert app.relative_efficiency(padded) == pytest.approx(app.relative_efficiency(plain))
    # and LOO runs on such a posterior
    y = np.ones(20, int)
    idata = _fake_idata(rng.lognormal(2, 0.1, (2, 300)), rng.normal(-0.5, 0.1, (2, 300, 20)), y)
    idata.posterior["beta"] = (("chain", "draw", "consequence"), np.where(np.arange(3) < 2, rng.normal(size=(2, 300, 3)), np.nan))
    _, loos = app.loo_table({"padded": idata})
    assert np.isfinite(loos["padded"].elpd_loo)
