"""Grouped predictive checks of a study (studies.checks) and their figures (plots.checks).

The fits are InferenceData built from a known truth: every posterior draw of
the utility logits scatters tightly around the true ones, and replications
are drawn from the draws. Data drawn from the truth pass the checks; data
whose repeated menus copy their first answer (answers that are dependent
given the model) fail the consistency check but not the LOO-PIT, which looks
at one choice at a time.
"""

from __future__ import annotations

import arviz as az
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from seu_sensitivity.inference.ppc import menu_probabilities  # noqa: E402
from seu_sensitivity.model.simulate import random_menus, simulate_cell  # noqa: E402
from seu_sensitivity.model.stacking import CellData  # noqa: E402
from seu_sensitivity.plots import checks as check_plots  # noqa: E402
from seu_sensitivity.studies import checks  # noqa: E402
from seu_sensitivity.studies.study import Study  # noqa: E402

R, N_MENUS, REPEATS, S = 8, 80, 3, 400


def _study(sticky_task: str | None = "b", first_task: str | None = None, seed: int = 0) -> Study:
    rng = np.random.default_rng(seed)
    cells = pd.DataFrame({"cell_id": [f"{t}{i}" for t in "ab" for i in range(3)], "task": [t for t in "ab" for _ in range(3)],
                          "temperature": [0.0, 0.5, 1.0] * 2})
    data, logits = {}, []
    for j, cell_id in enumerate(cells["cell_id"]):
        menus = random_menus(N_MENUS, R, seed=seed + 10 * j)
        I = np.tile(menus, (REPEATS, 1))
        cell, truth = simulate_cell(M=len(I), R=R, D=2, alpha=4.0, I=I, seed=seed + 10 * j + 1)
        y = cell.y.copy()
        if cell_id.startswith(sticky_task or "-"):  # every showing of a menu gets the answer of its first showing
            _, first, menu_of = np.unique(I, axis=0, return_index=True, return_inverse=True)
            y = y[first][menu_of.ravel()]
        if cell_id.startswith(first_task or "-"):
            y = np.ones_like(y)
        data[cell_id] = CellData(w=cell.w, I=cell.I, y=y, K=cell.K, cell_id=cell_id)
        eta = truth["eta"]
        logits.append(4.0 * (eta - eta.mean()) + 0.05 * rng.normal(size=(S, R)))
    study = Study.from_cells(cells, data, "~ task + temperature")
    stacked = study.stacked()
    logits = np.stack(logits, axis=1)  # (S, J, R)
    log_lik, y_rep = [], []
    for j, cell_id in enumerate(study.cell_ids):
        rows = np.flatnonzero(stacked.cell_of == j + 1)
        p = menu_probabilities(logits[:, j], stacked.I[rows], positions=R)  # (S, M_j, R)
        log_lik.append(np.log(np.take_along_axis(p, (stacked.y[rows] - 1)[None, :, None], axis=-1)[..., 0]))
        y_rep.append(1 + (rng.random(p.shape[:2])[..., None] > np.cumsum(p, axis=-1)).sum(axis=-1))
    shape = (2, S // 2)
    study.hierarchical = az.from_dict(
        posterior={"eta_logit": logits.reshape(*shape, len(study.cell_ids), R)},
        log_likelihood={"y": np.concatenate(log_lik, axis=1).reshape(*shape, -1)},
        posterior_predictive={"y": np.concatenate(y_rep, axis=1).reshape(*shape, -1)},
        observed_data={"y": stacked.y},
        dims={"eta_logit": ["cell", "alternative"], "y": ["obs"]},
        coords={"cell": study.cell_ids},
    )
    return study


@pytest.fixture(scope="module")
def sticky():
    return _study()


def test_consistency_by_size_flags_dependent_repeats_only(sticky):
    table = checks.consistency_by_size(sticky, prob=0.9)
    assert set(table.index.get_level_values("task")) == {"a", "b"}
    assert (table["menus"] > 0).all()
    b = table.xs("b", level="task")
    assert (b["observed"] == 1.0).all() and (b["p"] < 0.01).all()
    a = table.xs("a", level="task")
    assert ((a["p"] > 0.005) & (a["p"] < 0.995)).all()
    assert ((table["lower"] <= table["replicated"]) & (table["replicated"] <= table["upper"])).all()


def test_loo_pit_stays_calibrated_when_only_the_repeats_are_dependent(sticky):
    summary, pit = checks.loo_pit(sticky)
    assert list(summary.index) == ["a", "b"] and summary["inside band"].all()
    assert summary["choices"].sum() == sticky.stacked().M
    assert (summary["favourite z"].abs() < 3).all()
    assert all(((u >= 0) & (u <= 1)).all() for u in pit.values())
    # the groups' LOO densities add up to PSIS-LOO of the whole fit
    from seu_sensitivity.inference.loo import relative_efficiency
    from seu_sensitivity.inference.psis import loo

    fit = sticky.fit("hierarchical")
    assert summary["elpd_loo"].sum() == pytest.approx(float(loo(fit, reff=relative_efficiency(fit)).elpd_loo), rel=1e-10)


def test_loo_pit_detects_a_decision_maker_sharper_than_predicted():
    study = _study(sticky_task=None)
    fit = study.fit("hierarchical")
    # the data: the favourite of every menu, always; the model still predicts alpha = 4
    logits = fit.posterior["eta_logit"].values.reshape(S, len(study.cell_ids), R).mean(axis=0)
    for j, cell_id in enumerate(study.cell_ids):
        cell = study.data[cell_id]
        favourite = 1 + menu_probabilities(logits[j], cell.I, positions=R).argmax(axis=-1)
        study.data[cell_id] = CellData(w=cell.w, I=cell.I, y=favourite, K=cell.K, cell_id=cell_id)
    study._cache.clear()
    stacked = study.stacked()
    p = np.stack([menu_probabilities(fit.posterior["eta_logit"].values.reshape(S, -1, R)[:, j],
                                     stacked.I[stacked.cell_of == j + 1], positions=R) for j in range(6)], axis=1)
    # recompute the log likelihood of the new choices
    log_lik = np.concatenate([np.log(np.take_along_axis(p[:, j], (stacked.y[stacked.cell_of == j + 1] - 1)[None, :, None],
                                                        axis=-1)[..., 0]) for j in range(6)], axis=1)
    fit.log_likelihood["y"].values[...] = log_lik.reshape(2, S // 2, -1)
    summary, _ = checks.loo_pit(study)
    assert not summary["inside band"].any()
    assert (summary["favourite z"] > 5).all() and (summary["PIT < 0.1"] > 0.15).all()


def test_position_check_flags_a_spike_on_the_first_position():
    study = _study(sticky_task=None, first_task="b")
    table = checks.position_check(study, positions=4)
    assert table.loc[("b", 1), "observed"] == 1.0 and table.loc[("b", 1), "p"] < 0.01
    a = table.xs("a", level="task")
    assert ((a["p"] > 0.005) & (a["p"] < 0.995)).all()
    with pytest.raises(ValueError, match="not a column"):
        checks.position_check(study, by="prompt")


def test_check_figures(sticky):
    table = checks.consistency_by_size(sticky)
    ax = check_plots.discrepancy_plot(table, category="menu size", group="task")
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(s) for s in sorted(set(table.index.get_level_values(1)))]
    assert "percentage points" in ax.get_ylabel()
    plt.close(ax.figure)
    _, pit = checks.loo_pit(sticky)
    ax = check_plots.pit_ecdf(pit)
    assert ax.get_xlabel() == "LOO-PIT value u" and len(ax.get_lines()) == 3  # two groups and the zero line
    plt.close(ax.figure)
    fig = sticky.ppc_plot()
    assert [a.get_title() for a in fig.axes] == ["a", "b"]
    plt.close(fig)
    with pytest.raises(ValueError):
        check_plots.pit_ecdf({})
