"""The study API (studies.study) and the pilot built on it: inputs, designs, stacking, fits, tables, figures.

No long fits here: the fit methods are driven by fake fit functions, and the
comparison tables by InferenceData with known draws. The README's second
example (``test_readme.py``) samples a small study for real.
"""

from __future__ import annotations

import arviz as az
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from seu_sensitivity.datasets import TASK_PRIORS  # noqa: E402
from seu_sensitivity.model.priors import HM01Priors, M01Priors  # noqa: E402
from seu_sensitivity.model.simulate import simulate_cell  # noqa: E402
from seu_sensitivity.model.stacking import CellData, stack_cells  # noqa: E402
from seu_sensitivity.plots import study as app_plots  # noqa: E402
from seu_sensitivity.studies import pilot as app  # noqa: E402
from seu_sensitivity.studies import study as st  # noqa: E402
from seu_sensitivity.studies.study import Study  # noqa: E402


@pytest.fixture(scope="module")
def pilot():
    return app.pilot_study()


def _small(K=(3, 3, 3, 3), seed=0):
    """A 2 x 2 prompt x temperature table and simulated data (tiny: no fits)."""
    cells = pd.DataFrame({"cell_id": ["n0", "n1", "d0", "d1"], "prompt": ["neutral", "neutral", "directive", "directive"],
                          "temperature": [0.0, 1.0, 0.0, 1.0]})
    data = {c: simulate_cell(M=12, R=6, D=2, K=k, seed=seed + i)[0] for i, (c, k) in enumerate(zip(cells["cell_id"], K))}
    return cells, data


# -- inputs: every mismatch is a ValueError that names the thing -------------------------


def test_cell_without_data_and_data_without_a_row_are_named():
    cells, data = _small()
    partial = {k: v for k, v in data.items() if k != "d1"}
    with pytest.raises(ValueError, match="without data: 'd1'"):
        Study.from_cells(cells, partial, "~ prompt")
    extra = {**data, "x9": data["n0"]}
    with pytest.raises(ValueError, match="without a row in the table: 'x9'"):
        Study.from_cells(cells, extra, "~ prompt")


def test_formula_naming_a_missing_column_names_it_and_lists_the_columns():
    cells, data = _small()
    for formula in ("~ prompt * temp", "~ prompt + C(temp)"):
        with pytest.raises(ValueError, match=r"column\(s\) 'temp'.*available: prompt, temperature"):
            Study.from_cells(cells, data, formula)
    with pytest.raises(ValueError, match="'task'"):
        Study.from_cells(cells, data, "~ prompt", pooled_formula="~ task")


def test_single_level_factor_is_named():
    cells, data = _small()
    cells["llm"] = "gpt-4o"
    with pytest.raises(ValueError, match="factor 'llm' has a single level"):
        Study.from_cells(cells, data, "~ llm + prompt")
    # a Categorical with an unused level has one level in the cells too
    cells["llm"] = pd.Categorical(cells["llm"], categories=["gpt-4o", "claude"])
    with pytest.raises(ValueError, match="factor 'llm' has a single level"):
        Study.from_cells(cells, data, "~ llm + prompt")


def test_utility_group_with_mixed_K_names_the_group_and_the_cells_of_each_K():
    cells, data = _small(K=(3, 3, 4, 3))
    with pytest.raises(ValueError, match=r"utility group 'all' mixes.*K = 3 in 'n0', 'n1', 'd1'; K = 4 in 'd0'"):
        Study.from_cells(cells, data, "~ prompt")
    cells["scale"] = ["a", "a", "b", "b"]
    with pytest.raises(ValueError, match=r"utility group 'b' mixes.*K = 4 in 'd0'; K = 3 in 'd1'"):
        Study.from_cells(cells, data, "~ prompt", utility_group="scale")
    with pytest.raises(ValueError, match="'nope' is not a column"):
        Study.from_cells(cells, data, "~ prompt", utility_group="nope")


def test_cell_priors_by_cell_then_by_group_and_missing_ones_named():
    cells, data = _small()
    cells["scale"] = ["a", "a", "b", "b"]
    special = M01Priors(alpha_mu=2.0)
    study = Study.from_cells(cells, data, "~ prompt", utility_group="scale",
                             cell_priors={"a": M01Priors(), "b": M01Priors(alpha_mu=3.5), "d1": special})
    assert study.cell_priors["n0"] == M01Priors() and study.cell_priors["d0"].alpha_mu == 3.5
    assert study.cell_priors["d1"] is special
    with pytest.raises(ValueError, match="no prior for cell\\(s\\) 'd0', 'd1'"):
        Study.from_cells(cells, data, "~ prompt", utility_group="scale", cell_priors={"a": M01Priors()})


def test_rank_deficient_design_and_duplicate_ids_are_refused():
    cells, data = _small()
    with pytest.raises(ValueError, match="rank deficient"):
        Study.from_cells(cells.assign(t2=cells["temperature"] * 2), data, "~ temperature + t2")
    doubled = pd.concat([cells, cells.iloc[[0]]])
    with pytest.raises(ValueError, match="'n0' appear more than once"):
        Study.from_cells(doubled, data, "~ prompt")


def test_factor_order_comes_from_the_table_and_labels_from_the_factors():
    cells, data = _small()
    study = Study.from_cells(cells, data, "~ prompt * temperature")
    # first appearance: neutral is the reference level
    assert list(study.predictors().columns) == ["prompt: directive", "temperature", "temperature | directive"]
    assert study.factors == ["prompt", "temperature"]
    assert study.labels == {"n0": "neutral × temperature 0", "n1": "neutral × temperature 1",
                            "d0": "directive × temperature 0", "d1": "directive × temperature 1"}
    # a Categorical chooses the order
    cells["prompt"] = pd.Categorical(cells["prompt"], categories=["directive", "neutral"])
    study = Study.from_cells(cells, data, "~ prompt")
    assert list(study.predictors().columns) == ["prompt: neutral"]
    # another id column
    study = Study.from_cells(cells.rename(columns={"cell_id": "file"}), data, "~ prompt", cell_id="file")
    assert study.cell_ids == ["n0", "n1", "d0", "d1"]


def test_fit_methods_pass_the_priors_seeds_and_sampler(tmp_path):
    cells, data = _small()
    study = Study.from_cells(cells, data, "~ prompt * temperature", pooled_formula="~ prompt",
                             priors=HM01Priors(gamma_sd=0.5))
    calls = []

    def fake(model, stacked, **kwargs):
        calls.append((model, stacked, kwargs))
        return "idata"

    assert study.fit_hierarchical(chains=2, warmup=10, draws=20, seed=5, adapt_delta=0.9, fit_function=fake) == "idata"
    study.fit_pooled(chains=2, warmup=10, draws=20, fit_function=fake)
    (_, hier_data, hier_kw), (_, pool_data, pool_kw) = calls
    assert hier_kw == dict(priors=HM01Priors(gamma_sd=0.5), seed=5, chains=2, warmup=10, draws=20, adapt_delta=0.9)
    assert pool_kw["fixed"] == {"sigma_cell": 0.0} and pool_kw["seed"] == st.DEFAULT_SEED
    assert hier_data.P == 3 and list(pool_data.X.columns) == ["prompt: directive"]
    assert study.hierarchical == "idata" and study.pooled == "idata"
    with pytest.raises(ValueError, match="no independent fit: call study.fit_independent"):
        study.shrinkage()


# -- the pilot: design and stacking -----------------------------------------------------


def test_pilot_design_columns_rank_and_reference(pilot):
    cells = pilot.cells
    X = pilot.predictors()
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
    assert pilot.cell_priors["gpt-4o__ellsberg__T0_0"] == TASK_PRIORS["ellsberg"]


def test_pilot_with_one_llm_names_the_single_level_factor(pilot):
    gpt_only = pilot.cells[pilot.cells["llm"] == "gpt-4o"]
    data = {c: pilot.data[c] for c in gpt_only["cell_id"]}
    with pytest.raises(ValueError, match="factor 'llm' has a single level"):
        Study.from_cells(gpt_only, data, app.PILOT_FORMULA, utility_group="task", cell_priors=TASK_PRIORS)


def test_pooled_design_is_the_task_indicator(pilot):
    X = pilot.predictors(pooled=True)
    assert list(X.columns) == ["task: ellsberg"]
    np.testing.assert_array_equal(X["task: ellsberg"].to_numpy(), (pilot.cells["task"] == "ellsberg").to_numpy().astype(float))


@pytest.mark.parametrize(
    "column, expected",
    [
        ("llm[T.claude-sonnet-4]", "llm: claude-sonnet-4"),
        ("task[T.ellsberg]", "task: ellsberg"),
        ("llm[claude-sonnet-4]:task[ellsberg]:temperature", "temperature | claude-sonnet-4, ellsberg"),
        ("temperature", "temperature"),
    ],
)
def test_predictor_labels(column, expected):
    assert st.predictor_label(column) == expected


def test_pilot_stacking_round_trips_every_cell(pilot):
    cells, data = pilot.cells, pilot.data
    stacked = pilot.stacked()
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
    pd.testing.assert_frame_equal(stacked.X, pilot.predictors().astype(float), check_names=False)
    pooled = pilot.stacked(pooled=True)
    np.testing.assert_array_equal(pooled.y, stacked.y)


def test_pilot_names_missing_cells(pilot):
    partial = {k: v for k, v in pilot.data.items() if k != "gpt-4o__ellsberg__T0_3"}
    with pytest.raises(ValueError, match="gpt-4o__ellsberg__T0_3"):
        Study.from_cells(pilot.cells, partial, app.PILOT_FORMULA, utility_group="task", cell_priors=TASK_PRIORS)


# -- independent fits --------------------------------------------------------------


def _toy_study(n_per: int = 3) -> Study:
    rng = np.random.default_rng(0)
    cells, data = [], {}
    for llm, task, K in [("gpt-4o", "insurance", 3), ("claude-sonnet-4", "ellsberg", 4)]:
        for t in range(n_per):
            cell_id = f"{llm}__{task}__{t}"
            I = np.ones((6, 3), dtype=int)
            I[::2, 2] = 0
            y = np.array([1, 2, 1, 3, 2, 1])
            y = np.where(I.sum(axis=1) == 2, np.minimum(y, 2), y)
            data[cell_id] = CellData(w=rng.normal(size=(3, 2)), I=I, y=y, K=K, cell_id=cell_id)
            cells.append([cell_id, llm, task, float(t), K, 6])
    cells = pd.DataFrame(cells, columns=["cell_id", "llm", "task", "temperature", "K", "M"])
    return Study.from_cells(cells, data, "~ task + temperature", utility_group="task", cell_priors=TASK_PRIORS)


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


def test_fit_independent_uses_cell_priors_seeds_and_retries_divergent_fits():
    study = _toy_study()
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

    result = study.fit_independent(chains=2, warmup=10, draws=50, seed=100, progress=False,
                                   fit_function=fake_fit, diagnose_function=fake_diagnose)
    assert study.independent is result
    assert len(calls) == len(study.cells) + 1  # one retry
    first_calls = [kw for cid, kw in calls if "adapt_delta" not in kw]
    assert [kw["seed"] for kw in first_calls] == [100 + i for i in range(len(study.cells))]
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
    # the joint InferenceData of the independent fits covers the stacked observations in order
    joint = study.fit("independent")
    np.testing.assert_array_equal(joint.observed_data["y"].values, study.stacked().y)
    estimates = study.estimates("independent")
    np.testing.assert_allclose(estimates["alpha"], result.table["alpha"])


def test_log_alpha_summary_is_quantile_based():
    draws = np.exp(np.random.default_rng(2).normal(2.0, 0.5, size=40000))
    s = st.log_alpha_summary(draws, prob=0.9)
    assert abs(np.log(s["alpha"]) - 2.0) < 0.02
    assert abs(np.log(s["alpha_upper"]) - (2.0 + 1.6449 * 0.5)) < 0.03
    assert abs(s["log_alpha_sd"] - 0.5) < 0.01


# -- comparison tables ---------------------------------------------------------------


def _hier_idata(cells, line, hier_median, sd=0.05, seed=5):
    """An h_m01-shaped fit whose regression line is ``line`` and whose log_alpha is centred at ``hier_median``."""
    rng = np.random.default_rng(seed)
    J = len(cells)
    X = np.eye(J)[:, 1:]  # cell 0 is the reference; gamma_j - gamma0 offsets
    gamma0 = np.full((2, 400), line[0])
    gamma = np.broadcast_to(np.asarray(line[1:]) - line[0], (2, 400, J - 1)).copy()
    log_alpha = np.asarray(hier_median) + rng.normal(0, sd, (2, 400, J))
    return az.from_dict(
        posterior={"gamma0": gamma0, "gamma": gamma, "log_alpha": log_alpha,
                   "sigma_cell": np.abs(rng.normal(0, 0.3, (2, 400)))},
        constant_data={"X": X},
        dims={"gamma": ["predictor"], "log_alpha": ["cell"], "X": ["cell", "predictor"]},
        coords={"cell": list(cells), "predictor": [f"p{j}" for j in range(1, J)]},
    )


def test_shrinkage_table_measures_the_pull_towards_the_regression_line():
    independent = pd.DataFrame({
        "cell_id": ["a", "b", "c"], "llm": ["x", "x", "y"], "task": ["t", "t", "t"], "temperature": [0.0, 1.0, 0.0],
        "alpha": np.exp([3.0, 2.0, 4.0]), "alpha_lower": np.exp([2.5, 1.0, 3.8]), "alpha_upper": np.exp([3.5, 3.0, 4.2]),
    })
    line = np.array([2.0, 3.0, 4.02])
    hier = np.array([2.5, 2.25, 4.0])  # half way, a quarter of the way, (line within 0.05: undefined)
    table = st.shrinkage_table(independent, _hier_idata("abc", line, hier), pooled=_hier_idata("abc", line, [3.0] * 3),
                               columns=["llm", "temperature"])
    assert list(table.columns[:2]) == ["llm", "temperature"]
    np.testing.assert_allclose(table["line"], line, atol=1e-9)
    np.testing.assert_allclose(table["independent"], [3.0, 2.0, 4.0])
    assert table.loc["a", "pulled"] == pytest.approx(0.5, abs=0.03)
    assert table.loc["b", "pulled"] == pytest.approx(0.25, abs=0.03)
    assert np.isnan(table.loc["c", "pulled"])
    assert table.loc["a", "width_independent"] == pytest.approx(1.0)
    assert (table["width_hierarchical"] < table["width_independent"]).all()
    np.testing.assert_allclose(table["pooled"], 3.0, atol=0.02)


def test_answers_table_adds_sigma_cell_with_its_tail_probability():
    idata = _hier_idata("abc", np.array([2.0, 3.0, 4.0]), [2.0, 3.0, 4.0])
    table = st.answers_table(idata)
    assert list(table.index) == ["p1", "p2", "sigma_cell"]
    sigma = idata.posterior["sigma_cell"].values.ravel()
    assert table.loc["sigma_cell", "P(> 0)"] == pytest.approx(np.mean(sigma > 0.1))
    assert table.loc["p1", "mean"] == pytest.approx(1.0)
    assert table.loc["p2", "exp(gamma)"] == pytest.approx(np.exp(2.0))


def test_study_tables_read_the_stored_fits():
    cells, data = _small()
    study = Study.from_cells(cells, data, "~ prompt")
    study.hierarchical = _hier_idata(study.cell_ids, np.array([2.0, 3.0, 4.0, 5.0]), [2.0, 3.0, 4.0, 5.0])
    assert list(study.answers().index) == ["p1", "p2", "p3", "sigma_cell"]
    contrasts = study.contrasts({"p2 - p1": {"p2": 1, "p1": -1}})
    assert contrasts.loc["p2 - p1", "mean"] == pytest.approx(1.0)
    assert list(contrasts.columns) == ["mean", "sd", "lower", "upper", "P(> 0)"]
    by_cell = study.contrasts({"d1 - n0": {"d1": 1, "n0": -1}}, var="log_alpha")
    assert by_cell.loc["d1 - n0", "mean"] == pytest.approx(3.0, abs=0.02)
    assert list(study.heterogeneity().index) == ["prior", "posterior"]
    estimates = study.estimates("hierarchical")
    assert list(estimates.columns) == ["cell_id", "prompt", "alpha", "alpha_lower", "alpha_upper"]
    np.testing.assert_allclose(np.log(estimates["alpha"]), [2.0, 3.0, 4.0, 5.0], atol=0.02)
    with pytest.raises(ValueError, match="two fits or more"):
        study.loo_comparison()


def _small_stacked():
    I = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1], [0, 1, 1], [1, 1, 1]])
    a = CellData(w=[[0.0], [1.0], [2.0]], I=I, y=[1, 1, 2, 1, 3], K=3, cell_id="a")
    b = CellData(w=[[0.0], [1.0], [2.0]], I=I[:4], y=[2, 2, 1, 1], K=3, cell_id="b")
    return stack_cells([a, b])


def test_cell_ppc_table_on_replications_equal_to_the_data():
    stacked = _small_stacked()
    y_rep = np.broadcast_to(stacked.y, (2, 30, stacked.M)).copy()
    idata = az.from_dict(posterior_predictive={"y": y_rep}, dims={"y": ["obs"]})
    table = st.cell_ppc_table(stacked, idata)
    assert list(table.index) == ["a", "b"]
    assert table.loc["a", "consistency"] == pytest.approx(0.5)  # menu 1 repeated alike, menu 2 not
    assert table.loc["b", "consistency"] == pytest.approx(1.0)
    np.testing.assert_allclose(table["p consistency"], 0.5)  # all ties
    np.testing.assert_allclose(table["share coverage"], 1.0)
    np.testing.assert_allclose(table["consistency lower"], table["consistency"])
    assert table.loc["b", "1st in pool order"] == pytest.approx(0.5)
    np.testing.assert_allclose(table["p 1st in pool order"], 0.5)
    # replications that always pick the first position: cell b's 2nd-position choices fall outside
    y_first = np.ones_like(y_rep)
    table = st.cell_ppc_table(stacked, az.from_dict(posterior_predictive={"y": y_first}, dims={"y": ["obs"]}))
    assert table.loc["b", "share coverage"] < 1.0
    # every replication puts all choices on the 1st position: the observed share is below all of them
    assert table.loc["b", "p 1st in pool order"] == pytest.approx(1.0)
    assert table.loc["a", "p consistency"] == pytest.approx(1.0)  # replications always consistent
    draws = st.cell_consistency_draws(stacked, idata)
    assert draws["a"][0] == pytest.approx(0.5) and np.all(draws["a"][1] == 0.5)
    short = az.from_dict(posterior_predictive={"y": y_rep[..., :-1]}, dims={"y": ["obs"]})
    with pytest.raises(ValueError, match="observations"):
        st.cell_ppc_table(stacked, short)


def test_choice_distribution_counts(pilot):
    data = pilot.data
    order = pilot.cell_ids[:3]
    table = st.choice_distribution(data, order)
    menu_cols = [c for c in table.columns if c.startswith("menus of")]
    chose_cols = [c for c in table.columns if c.startswith("chose")]
    np.testing.assert_array_equal(table[menu_cols].sum(axis=1).to_numpy(), [data[c].M for c in order])
    np.testing.assert_allclose(table[chose_cols].sum(axis=1).to_numpy(), 1.0)
    assert table.loc[order[0], "chose 1st"] == pytest.approx(np.mean(data[order[0]].y == 1))
    assert list(pilot.choice_summary().index) == pilot.cell_ids


# -- figures --------------------------------------------------------------------------


def test_forest_plot_has_one_panel_per_llm_and_task_and_one_row_per_temperature(pilot):
    table = pilot.cells.assign(alpha=10.0, alpha_lower=5.0, alpha_upper=20.0)
    fig = app_plots.forest_plot({"independent": table, "hierarchical": table}, rows="llm", columns="task",
                                within="temperature", tick_format="T = {:g}")
    assert len(fig.axes) == 4
    first = fig.axes[0]
    assert first.get_title() == "gpt-4o, insurance"
    assert [t.get_text() for t in first.get_yticklabels()] == ["T = 0", "T = 0.3", "T = 0.7", "T = 1", "T = 1.5"]
    assert [t.get_text() for t in fig.axes[2].get_yticklabels()][1] == "T = 0.2"
    plt.close(fig)


def test_study_forest_plot_lays_out_panels_from_the_factors():
    study = _toy_study()
    study.independent = st.IndependentFits(table=pd.DataFrame(), fits={
        c: _fake_idata(np.full((1, 10), 5.0), np.zeros((1, 10, 6)), study.data[c].y) for c in study.cell_ids})
    fig = study.forest_plot()
    # the formula's factors are task and temperature: a panel per task, a row per temperature
    assert [ax.get_title() for ax in fig.axes] == ["insurance", "ellsberg"]
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["temperature = 0", "temperature = 1",
                                                                      "temperature = 2"]
    plt.close(fig)
    fig = study.ppc_plot("independent")
    # a panel per task, the temperatures along x, one shared and labelled y axis
    assert [ax.get_title() for ax in fig.axes] == ["insurance", "ellsberg"]
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["0", "1", "2"]
    assert "answered alike" in fig.axes[0].get_ylabel()
    assert fig.axes[0].get_ylim() == fig.axes[1].get_ylim()
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


def test_statistic_lines_draws_a_line_per_colour_and_style(pilot):
    view = pilot.cells.join(pilot.choice_summary(), on="cell_id")
    ax = app_plots.statistic_lines(view, x="temperature", colour="llm", style="task")
    assert [line.get_label() for line in ax.get_lines()] == [
        "gpt-4o, insurance", "gpt-4o, ellsberg", "claude-sonnet-4, insurance", "claude-sonnet-4, ellsberg"]
    plt.close(ax.figure)
