"""Grouped K-fold cross-validation (seu_sensitivity.inference.kfold): folds, held-out scores, the comparison;
the base-problem summary; and a study's refits (seu_sensitivity.studies.Study.kfold_refits, kfold_comparison)."""

from __future__ import annotations

import arviz as az
import numpy as np
import pandas as pd
import pytest

from seu_sensitivity.inference.kfold import (
    MAX_DRAWS,
    base_problem_summary,
    base_problems,
    grouped_folds,
    heldout_log_likelihood,
    kfold,
    kfold_compare,
    menu_keys,
    pointwise_elpd,
    split,
)
from seu_sensitivity.model import choice
from seu_sensitivity.model.simulate import random_features, random_menus, simulate_cell
from seu_sensitivity.model.stacking import CellData
from seu_sensitivity.studies import Study


def repeated_cell(n_menus: int, repeats: int, R: int = 8, seed: int = 0, drop: int = 0, **kwargs):
    """A cell whose base problems (menus) are each shown ``repeats`` times, in shuffled order, minus ``drop`` rows."""
    rng = np.random.default_rng(seed)
    base = random_menus(n_menus, R, rng)
    while len({tuple(r) for r in base}) < n_menus:  # distinct base problems
        base = random_menus(n_menus, R, rng)
    I = np.repeat(base, repeats, axis=0)[rng.permutation(n_menus * repeats)]
    I = I[: len(I) - drop]
    return simulate_cell(R=R, I=I, w=kwargs.pop("w", random_features(R, 2, rng)), seed=seed, **kwargs)


@pytest.fixture(scope="module")
def cells() -> dict[str, CellData]:
    """Three cells of one pool: the same 30 menus, three showings each (one cell lost two answers), and one other pool."""
    same = dict(n_menus=30, repeats=3, seed=5)
    return {
        "a": repeated_cell(**same)[0],
        "b": repeated_cell(**same, drop=2)[0],
        "c": repeated_cell(**same)[0],
        "other": repeated_cell(n_menus=25, repeats=3, seed=9)[0],
    }


STRATA = {"a": "task 1", "b": "task 1", "c": "task 1", "other": "task 2"}


def test_menu_keys_name_the_set_of_alternatives():
    I = np.array([[0, 1, 1, 0], [1, 0, 0, 1], [0, 1, 1, 0]])
    assert menu_keys(I).tolist() == ["2-3", "1-4", "2-3"]


@pytest.mark.parametrize("k", [2, 5, 7])
def test_folds_partition_the_observations_and_keep_menus_whole(cells, k):
    folds = grouped_folds(cells, k, strata=STRATA, seed=3)
    for c, cell in cells.items():
        assert folds[c].shape == (cell.M,)
        assert set(folds[c].tolist()) == set(range(k))  # every fold holds out something in every cell
        frame = pd.DataFrame({"menu": menu_keys(cell.I), "fold": folds[c]})
        assert frame.groupby("menu")["fold"].nunique().max() == 1  # no base problem straddles two folds
    for fold in range(k):
        train, test = split(cells, folds, fold)
        for c, cell in cells.items():
            assert train[c].M + test[c].M == cell.M
            assert not set(menu_keys(train[c].I)) & set(menu_keys(test[c].I))
    # each observation is held out exactly once over the K folds
    held = {c: sum(split(cells, folds, f)[1][c].M for f in range(k)) for c in cells}
    assert held == {c: cell.M for c, cell in cells.items()}


def test_a_stratum_holds_out_the_same_menus_in_every_cell_and_folds_are_balanced(cells):
    folds = grouped_folds(cells, 4, strata=STRATA, seed=3)
    fold_of = {c: dict(zip(menu_keys(cells[c].I), folds[c])) for c in cells}
    for c in ("b", "c"):
        assert all(fold_of[c][menu] == fold_of["a"][menu] for menu in fold_of[c])
    menus_per_fold = pd.Series(fold_of["a"]).value_counts()
    assert menus_per_fold.max() - menus_per_fold.min() <= 1  # 30 base problems dealt in turn: 8, 8, 7, 7
    # without strata every cell deals its own menus: some menu lands elsewhere in another cell
    own = grouped_folds(cells, 4, seed=3)
    own_of = {c: dict(zip(menu_keys(cells[c].I), own[c])) for c in cells}
    assert any(own_of["c"][m] != own_of["a"][m] for m in own_of["a"])


def test_folds_refuse_fewer_menus_than_folds(cells):
    with pytest.raises(ValueError, match="distinct menus"):
        grouped_folds(cells, 40, strata=STRATA)


def test_pointwise_elpd_is_the_log_of_the_mean_likelihood():
    # two draws: p = 0.2 and 0.4 for observation 1, 0.5 and 0.5 for observation 2
    log_lik = np.log([[0.2, 0.5], [0.4, 0.5]])
    np.testing.assert_allclose(pointwise_elpd(log_lik), [np.log(0.3), np.log(0.5)], rtol=1e-12)
    # not the mean of the logs
    assert pointwise_elpd(log_lik)[0] > np.mean(np.log([0.2, 0.4]))


def test_compare_by_hand():
    # two problems, two observations each; model a: -1, -1 | -2, -2; model b: -1.5, -1.5 | -2, -2.5
    table = pd.DataFrame({"problem": [0, 0, 1, 1], "a": [-1.0, -1.0, -2.0, -2.0], "b": [-1.5, -1.5, -2.0, -2.5]})
    by_problem = kfold_compare(table, ["b", "a"])
    assert by_problem.index.tolist() == ["a", "b"]
    assert by_problem.loc["a", "elpd_kfold"] == pytest.approx(-6.0)
    assert by_problem.loc["b", "elpd_kfold"] == pytest.approx(-7.5)
    # problem sums a: -2, -4 -> sqrt(2 * var) = 2; b: -3, -4.5 -> 1.5; a - b: 1, 0.5 -> 0.5
    assert by_problem.loc["a", "se"] == pytest.approx(2.0)
    assert by_problem.loc["b", "se"] == pytest.approx(1.5)
    assert by_problem.loc["b", "elpd_diff"] == pytest.approx(1.5)
    assert by_problem.loc["b", "dse"] == pytest.approx(0.5)
    assert by_problem.loc["a", "dse"] == 0.0 and by_problem["units"].eq(2).all()
    # observation-wise: a - b = 0.5, 0.5, 0, 0.5 -> sqrt(4 * var) = sqrt(4 * 0.0625) = 0.5
    by_obs = kfold_compare(table, ["a", "b"], by=None)
    assert by_obs.loc["b", "dse"] == pytest.approx(np.sqrt(4 * np.var([0.5, 0.5, 0.0, 0.5], ddof=1)))
    assert by_obs["units"].eq(4).all()


def _m01_posterior(alpha: np.ndarray, eta: np.ndarray) -> az.InferenceData:
    return az.from_dict(posterior={"alpha": alpha.reshape(1, -1), "eta": eta.reshape(1, *eta.shape)})


def test_heldout_log_likelihood_matches_the_choice_rule_for_both_layouts(cells):
    rng = np.random.default_rng(1)
    S, ids = 7, ["a", "other"]
    alpha = {c: rng.gamma(5.0, 2.0, S) for c in ids}
    eta = {c: rng.uniform(size=(S, cells[c].R)) for c in ids}
    m01 = {c: _m01_posterior(alpha[c], eta[c]) for c in ids}
    h = az.from_dict(posterior={"alpha": np.stack([alpha[c] for c in ids], -1)[None],
                                "eta": np.stack([eta[c] for c in ids], -2)[None]},
                     dims={"alpha": ["cell"], "eta": ["cell", "alternative"]}, coords={"cell": ids})
    test = {c: cells[c] for c in ids}
    for posterior in (m01, h):
        scores = heldout_log_likelihood(posterior, test)
        for c in ids:
            cell = cells[c]
            # by hand: alpha eta of the chosen alternative minus the log-sum-exp over its menu
            chosen = cell.chosen_alternative  # 0-based index of the chosen alternative
            logits = alpha[c][:, None] * eta[c]
            manual = np.array([[logits[s, chosen[m]] - np.log(np.exp(logits[s, cell.I[m] == 1]).sum())
                                for m in range(cell.M)] for s in range(S)])
            np.testing.assert_allclose(scores[c], manual, rtol=1e-10, atol=1e-10)
    with pytest.raises(KeyError, match="cell b"):
        heldout_log_likelihood(h, {"b": cells["b"]})


def test_kfold_scores_each_observation_once_by_a_fit_that_did_not_see_it(cells):
    truth = {c: (np.full(4, 12.0), np.tile(np.linspace(0, 1, cells[c].R), (4, 1))) for c in cells}
    folds = grouped_folds(cells, 3, strata=STRATA, seed=2)
    seen = []

    def fit(train, fold):
        for c, cell in train.items():  # the held-out menus are not in the training data
            held = set(menu_keys(cells[c].I)[folds[c] == fold])
            assert not held & set(menu_keys(cell.I))
        seen.append(fold)
        return {c: _m01_posterior(*truth[c]) for c in train}

    pointwise = kfold(cells, folds, {"truth": fit}, strata=STRATA)
    assert seen == [0, 1, 2]
    assert len(pointwise) == sum(cell.M for cell in cells.values()) and pointwise["truth"].notna().all()
    assert pointwise.groupby("problem")["fold"].nunique().max() == 1
    assert pointwise.loc[pointwise["cell"] == "a", "problem"].isin(pointwise.loc[pointwise["cell"] == "b", "problem"]).mean() > 0.9
    for c, cell in cells.items():
        expected = choice.log_likelihood(12.0, truth[c][1][0], cell.I, cell.y)
        np.testing.assert_allclose(pointwise.loc[pointwise["cell"] == c, "truth"], expected, rtol=1e-10)
    assert pointwise.attrs["seconds"].shape == (3, 1)
    pointwise["task"] = pointwise["cell"].map(STRATA)  # an added label column is not taken for a model
    assert kfold_compare(pointwise[pointwise["task"] == "task 1"]).index.tolist() == ["truth"]


def test_base_problems_count_each_menu_and_the_summary_reads_them(cells):
    problems = base_problems(cells, STRATA)
    assert list(problems.columns) == ["cell", "stratum", "menu", "showings"]
    for c, cell in cells.items():  # the showings of a cell's menus add up to its observations
        mine = problems[problems["cell"] == c]
        assert mine["showings"].sum() == cell.M and mine["menu"].is_unique
        assert (mine["stratum"] == STRATA[c]).all()
    summary = base_problem_summary(problems)
    assert summary.loc["a", "problems"] == 30 and summary.loc["a", "shown 3"] == 30
    assert summary.loc["other", ["problems", "stratum problems", "coverage"]].tolist() == [25, 25, 1.0]
    assert (summary.loc[["a", "b", "c"], "stratum problems"] == 30).all()
    # cell b lost two answers: its showings by count still add up to its observations
    shown = [c for c in summary.columns if c.startswith("shown ")]
    assert sum(int(c.split()[1]) * summary.loc["b", c] for c in shown) == cells["b"].M
    assert summary.loc["b", "shown 3"] < 30
    # a cell that lacks some of its stratum's menus has coverage below 1
    rows = np.isin(menu_keys(cells["c"].I), menu_keys(cells["c"].I)[:6], invert=True)
    partial = dict(cells, c=CellData(w=cells["c"].w, I=cells["c"].I[rows], y=cells["c"].y[rows], K=cells["c"].K))
    coverage = base_problem_summary(base_problems(partial, STRATA))["coverage"]
    assert coverage["c"] < 1.0 and coverage["a"] == 1.0
    # without strata each cell is its own stratum
    assert base_problem_summary(base_problems(cells))["stratum problems"].to_dict() == {"a": 30, "b": 30, "c": 30, "other": 25}


def _study(cells) -> Study:
    table = pd.DataFrame({"cell_id": list(cells), "task": [STRATA[c] for c in cells]})
    return Study.from_cells(table, dict(cells), "~ task", utility_group="task", pooled_formula="~ task")


def test_study_kfold_refits_rebuild_the_study_on_the_training_data_and_move_the_seeds(cells, monkeypatch):
    study = _study(cells)
    calls = []

    def recorder(model):
        def fit(self, **kwargs):
            calls.append((model, {c: cell.M for c, cell in self.data.items()}, kwargs))
            # the training study keeps the study's formulas, utility groups and priors
            assert (self.formula, self.pooled_formula, self.priors) == (study.formula, study.pooled_formula, study.priors)
            assert self.groups == {c: study.groups[c] for c in self.data}
            assert all(self.cell_priors[c] == study.cell_priors[c] for c in self.data)
            return type("Fits", (), {"fits": "the m_01 fits"})() if model == "independent" else "an h_m01 fit"
        return fit

    for model in ("independent", "hierarchical", "pooled"):
        monkeypatch.setattr(Study, f"fit_{model}", recorder(model))
    options = {"independent": {"seed": 10}, "hierarchical": {"seed": 20, "adapt_delta": 0.9}, "pooled": {"seed": 30}}
    refits = study.kfold_refits({"chains": 4, "warmup": 500, "draws": 2000}, options, seed_step=100)
    assert list(refits) == ["independent", "hierarchical", "complete pooling"]
    train, _ = split(cells, grouped_folds(cells, 3, strata=STRATA, seed=1), 0)
    assert refits["independent"](train, 0) == "the m_01 fits"
    assert refits["complete pooling"](train, 2) == "an h_m01 fit"
    refits["hierarchical"](train, 1)
    assert [(m, kw["seed"]) for m, _, kw in calls] == [("independent", 110), ("pooled", 330), ("hierarchical", 220)]
    assert all(data == {c: cell.M for c, cell in train.items()} and kw["draws"] == MAX_DRAWS and kw["chains"] == 4 for _, data, kw in calls)
    assert calls[2][2]["adapt_delta"] == 0.9 and "adapt_delta" not in calls[0][2]
    assert study.independent is None and study.hierarchical is None  # the refits are not stored on the study
    assert list(study.kfold_refits({}, {"pooled": {}})) == ["complete pooling"]
    with pytest.raises(ValueError, match="unknown model"):
        study.kfold_refits({}, {"hierarchial": {}})


def test_study_kfold_comparison_deals_folds_by_utility_group_and_scores_every_choice(cells, monkeypatch):
    study = _study(cells)
    truth = {c: (np.full(4, 12.0), np.tile(np.linspace(0, 1, cells[c].R), (4, 1))) for c in cells}
    wrong = {c: (np.full(4, 12.0), np.tile(np.linspace(1, 0, cells[c].R), (4, 1))) for c in cells}
    trained_on = []

    def fit_independent(self, **kwargs):
        trained_on.append(sorted((c, cell.M) for c, cell in self.data.items()))
        table = wrong if kwargs["seed"] % 2 else truth
        return type("Fits", (), {"fits": {c: _m01_posterior(*table[c]) for c in self.data}})()

    monkeypatch.setattr(Study, "fit_independent", fit_independent)
    monkeypatch.setattr(Study, "fit_pooled", lambda self, **kwargs: fit_independent(self, seed=1).fits)
    table, pointwise = study.kfold_comparison(3, {"draws": 100}, {"independent": {"seed": 0}, "pooled": {}}, seed=4)
    folds = grouped_folds(cells, 3, strata=study.groups, seed=4)
    for c, cell in cells.items():
        mine = pointwise[pointwise["cell"] == c]
        np.testing.assert_array_equal(mine["fold"], folds[c])
        np.testing.assert_allclose(mine["independent"], choice.log_likelihood(12.0, truth[c][1][0], cell.I, cell.y),
                                   rtol=1e-10)
    assert len(trained_on) == 6 and all(sum(m for _, m in t) < sum(c.M for c in cells.values()) for t in trained_on)
    pd.testing.assert_frame_equal(table, kfold_compare(pointwise))
    assert table.index.tolist() == ["independent", "complete pooling"]  # the true utilities predict better
    assert table["units"].iloc[0] == 30 + 25  # base problems: the shared pool of task 1 and the 25 of task 2


@pytest.mark.slow
def test_the_true_model_predicts_held_out_problems_better_than_a_wrong_one():
    """m_01 refitted on each fold beats uniform choice (the SEU model without sensitivity) on simulated data."""
    from seu_sensitivity.inference.fitting import fit

    cell, truth = repeated_cell(n_menus=24, repeats=3, R=6, seed=11, alpha=25.0, K=3)
    data = {"sim": cell}
    folds = grouped_folds(data, 3, seed=0)

    def m01(train, fold):
        return {"sim": fit("m_01", train["sim"], chains=1, warmup=200, draws=200, seed=100 + fold)}

    def uniform(train, fold):  # alpha = 0: every alternative on the menu equally likely
        return {"sim": _m01_posterior(np.zeros(10), np.zeros((10, cell.R)))}

    def oracle(train, fold):
        return {"sim": _m01_posterior(np.full(10, truth["alpha"]), np.tile(truth["eta"], (10, 1)))}

    pointwise = kfold(data, folds, {"m_01": m01, "uniform": uniform, "oracle": oracle})
    table = kfold_compare(pointwise, ["m_01", "uniform", "oracle"])
    np.testing.assert_allclose(table.loc["uniform", "elpd_kfold"], -np.log(cell.menu_sizes).sum(), rtol=1e-12)
    assert table.loc["m_01", "elpd_kfold"] > table.loc["uniform", "elpd_kfold"]
    gap = table.loc["uniform", "elpd_diff"] - table.loc["m_01", "elpd_diff"]
    dse = np.sqrt(len(pointwise.groupby("problem")) * np.var(
        pointwise.groupby("problem")[["m_01", "uniform"]].sum().diff(axis=1)["uniform"], ddof=1))
    assert gap > 2 * dse  # clearly, not by chance
    assert table.index[0] == "oracle" or table.loc["oracle", "elpd_diff"] < 2 * table.loc["oracle", "dse"] + 1e-9
