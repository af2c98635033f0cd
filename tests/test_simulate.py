"""Simulation: reproducibility, consistency of the truth, menus, and prior draws."""

from __future__ import annotations

import numpy as np
import pytest

from seu_sensitivity.model import choice
from seu_sensitivity.model.design import factorial_design
from seu_sensitivity.model.priors import HM01Priors, M01Priors
from seu_sensitivity.model.simulate import random_menus, simulate_cell, simulate_hierarchical


def test_same_seed_same_data_and_different_seed_different_data():
    design = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q"]})
    first, truth1 = simulate_hierarchical(design, n_obs=20, R=8, D=2, seed=42)
    second, truth2 = simulate_hierarchical(design, n_obs=20, R=8, D=2, seed=42)
    assert first == second and truth1["gamma0"] == truth2["gamma0"]
    third, _ = simulate_hierarchical(design, n_obs=20, R=8, D=2, seed=43)
    assert not np.array_equal(first.y, third.y) or not np.array_equal(first.I, third.I)
    cell_a, _ = simulate_cell(M=30, R=6, D=2, seed=7)
    cell_b, _ = simulate_cell(M=30, R=6, D=2, seed=7)
    assert cell_a == cell_b


def test_truth_is_consistent_with_the_regression():
    design = factorial_design({"llm": ["a", "b"], "prompt": ["p", "q", "r"]})
    data, truth = simulate_hierarchical(design, n_obs=10, R=6, D=2, gamma0=2.5, gamma=[0.4, -0.3, 0.2],
                                        sigma_cell=0.3, seed=1)
    assert truth["gamma0"] == 2.5 and truth["sigma_cell"] == 0.3
    assert truth["gamma"].index.tolist() == design.predictors
    expected = 2.5 + design.X.to_numpy() @ np.array([0.4, -0.3, 0.2]) + 0.3 * truth["z"].to_numpy()
    np.testing.assert_allclose(truth["log_alpha"].to_numpy(), expected)
    np.testing.assert_allclose(truth["alpha"], np.exp(expected))
    assert data.J == 6 and data.P == 3 and data.cell_ids == tuple(design.cell_ids)


def test_gamma_by_name_and_wrong_gamma_rejected():
    design = factorial_design({"llm": ["a", "b"]})
    _, truth = simulate_hierarchical(design, n_obs=5, R=5, D=1, gamma={"llm[T.b]": 0.7}, seed=2)
    assert truth["gamma"]["llm[T.b]"] == 0.7
    with pytest.raises(ValueError, match="unknown predictor"):
        simulate_hierarchical(design, n_obs=5, R=5, D=1, gamma={"llm[T.c]": 0.7}, seed=2)
    with pytest.raises(ValueError, match="expected 1 coefficients"):
        simulate_hierarchical(design, n_obs=5, R=5, D=1, gamma=[0.1, 0.2], seed=2)
    with pytest.raises(ValueError, match="n_obs: 3 values for 2 cells"):
        simulate_hierarchical(design, n_obs=[1, 2, 3], R=5, D=1, seed=2)


def test_groups_with_different_K_and_per_cell_features():
    design = factorial_design({"llm": ["a", "b"], "task": ["ins", "ell"]})
    data, truth = simulate_hierarchical(design, n_obs={c: 4 + i for i, c in enumerate(design.cell_ids)}, R=7, D=3,
                                        K={"ins": 3, "ell": 4}, utility_group="task", shared_features=False, seed=3)
    assert data.group_names == ("ins", "ell") and data.K_group.tolist() == [3, 4]
    assert data.F == 4 and data.cell_sizes.tolist() == [4, 5, 6, 7]
    assert {g: d.shape for g, d in truth["delta"].items()} == {"ins": (2,), "ell": (3,)}
    for cell_id in design.cell_ids:
        assert truth["beta"][cell_id].shape == (data.cell(cell_id).K, 3)


def test_random_menus_have_two_to_four_distinct_alternatives():
    I = random_menus(500, 10, seed=4)
    sizes = I.sum(axis=1)
    assert sizes.min() == 2 and sizes.max() == 4 and set(np.unique(I)) == {0, 1}
    with pytest.raises(ValueError, match="max_size <= R"):
        random_menus(5, 3, seed=4, max_size=4)


def test_prior_draws_of_log_alpha_match_the_prior():
    """Monte Carlo: 400 prior draws; mean within 4 standard errors, sd within 4 of its SE."""
    priors = M01Priors(alpha_mu=3.5, alpha_sd=0.75)
    log_alpha = np.array([np.log(simulate_cell(M=1, R=3, D=1, priors=priors, seed=s)[1]["alpha"]) for s in range(400)])
    se_mean = priors.alpha_sd / np.sqrt(400)
    assert abs(log_alpha.mean() - priors.alpha_mu) < 4 * se_mean
    se_sd = priors.alpha_sd / np.sqrt(2 * 399)
    assert abs(log_alpha.std(ddof=1) - priors.alpha_sd) < 4 * se_sd
    hp = HM01Priors()
    draws = np.array([simulate_hierarchical(1, n_obs=1, R=3, D=1, seed=s)[1]["gamma0"] for s in range(400)])
    assert abs(draws.mean() - hp.gamma0_mu) < 4 * hp.gamma0_sd / np.sqrt(400)


def test_higher_alpha_chooses_the_seu_maximiser_more_often():
    """The simulated choices obey the model: maximiser rate rises with alpha (5000 menus each)."""
    rates = []
    for alpha in (0.0, 5.0, 50.0):
        cell, truth = simulate_cell(M=5000, R=10, D=2, alpha=alpha, seed=5)
        eta = truth["eta"]
        best = np.argmax(np.where(cell.I == 1, eta, -np.inf), axis=1)
        rates.append(np.mean(cell.chosen_alternative == best))
    uniform = np.mean(1.0 / cell.menu_sizes)
    se = np.sqrt(uniform * (1 - uniform) / 5000)
    assert abs(rates[0] - uniform) < 4.5 * se
    assert rates[0] < rates[1] < rates[2]
    p_best = choice.choice_probabilities(50.0, eta, cell.I)[np.arange(cell.M), best].mean()
    assert abs(rates[2] - p_best) < 4.5 * np.sqrt(p_best * (1 - p_best) / 5000)
