"""The NumPy choice model: normalisation, the three softmax properties, stability, broadcasting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seu_sensitivity.model import choice
from seu_sensitivity.model.simulate import random_menus, simulate_hierarchical
from seu_sensitivity.model.stacking import CellData

finite = st.floats(-5, 5, allow_nan=False)


@st.composite
def menu_problems(draw):
    """Expected utilities of R alternatives and M random menus over them."""
    R = draw(st.integers(2, 8))
    # a grid of expected utilities: distinct values differ by at least 1e-3, so
    # "alpha large enough to separate them" stays a finite number
    eta = draw(arrays(float, R, elements=st.integers(0, 1000).map(lambda k: k / 1000)))
    M = draw(st.integers(1, 6))
    I = random_menus(M, R, seed=draw(st.integers(0, 10_000)), max_size=min(4, R))
    return eta, I


@settings(max_examples=80, deadline=None)
@given(menu_problems(), st.floats(0, 500))
def test_choice_probabilities_sum_to_one_and_vanish_off_menu(problem, alpha):
    eta, I = problem
    p = choice.choice_probabilities(alpha, eta, I)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(p[I == 0] == 0) and np.all(p >= 0)


@settings(max_examples=80, deadline=None)
@given(menu_problems(), st.floats(0, 200), st.floats(-0.5, 0.5))
def test_utility_logits_carry_the_choice_probabilities_and_not_the_level_of_eta(problem, alpha, shift):
    eta, I = problem
    logits = choice.utility_logits(alpha, eta)
    # a softmax of the logits over each menu is the choice probability ...
    from_logits = choice.choice_probabilities(1.0, logits, I)
    np.testing.assert_allclose(from_logits, choice.choice_probabilities(alpha, eta, I), atol=1e-12)
    # ... and moving every eta by the same amount changes the level, not the logits or the choices
    np.testing.assert_allclose(choice.utility_logits(alpha, eta + shift), logits, atol=1e-9)
    np.testing.assert_allclose(choice.choice_probabilities(alpha, eta + shift, I), from_logits, atol=1e-9)
    np.testing.assert_allclose(logits.mean(), 0.0, atol=1e-9)


@settings(max_examples=80, deadline=None)
@given(menu_problems(), st.floats(0, 50), st.floats(0.01, 50))
def test_best_alternative_probability_is_monotone_in_alpha(problem, alpha, step):
    """Property 1: raising alpha never lowers the probability of a menu's SEU maximiser."""
    eta, I = problem
    lower = choice.choice_probabilities(alpha, eta, I)
    higher = choice.choice_probabilities(alpha + step, eta, I)
    best = np.argmax(np.where(I == 1, eta, -np.inf), axis=1)
    rows = np.arange(I.shape[0])
    assert np.all(higher[rows, best] >= lower[rows, best] - 1e-12)


@settings(max_examples=60, deadline=None)
@given(menu_problems())
def test_large_alpha_picks_the_seu_maximiser(problem):
    """Property 2: as alpha grows, choice concentrates on the maximiser (ties share it)."""
    eta, I = problem
    on_menu = np.where(I == 1, eta, -np.inf)
    top = on_menu.max(axis=1, keepdims=True)
    maximisers = (on_menu == top) & (I == 1)
    gaps = np.where(I == 1, top - eta, np.inf)
    smallest_gap = np.min(np.where(maximisers, np.inf, gaps))
    alpha = 60.0 / smallest_gap if np.isfinite(smallest_gap) else 1e6
    p = choice.choice_probabilities(alpha, eta, I)
    mass_on_maximisers = (p * maximisers).sum(axis=1)
    np.testing.assert_allclose(mass_on_maximisers, 1.0, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(menu_problems())
def test_zero_alpha_gives_uniform_choice(problem):
    """Property 3: at alpha = 0 every alternative on the menu is equally likely."""
    eta, I = problem
    p = choice.choice_probabilities(0.0, eta, I)
    np.testing.assert_allclose(p, I / I.sum(axis=1, keepdims=True), rtol=1e-12)


def test_utilities_from_increments():
    upsilon = choice.utilities(np.array([0.2, 0.5, 0.3]))
    np.testing.assert_allclose(upsilon, [0.0, 0.2, 0.7, 1.0])
    draws = np.random.default_rng(0).dirichlet(np.ones(2), size=(3, 5))
    many = choice.utilities(draws)
    assert many.shape == (3, 5, 3) and np.all(many[..., 0] == 0) and np.all(many[..., -1] == 1)
    assert np.all(np.diff(many, axis=-1) >= 0)
    with pytest.raises(ValueError, match="simplex"):
        choice.utilities(np.array([0.5, 0.6]))


def test_subjective_probabilities_are_softmax_of_beta_w():
    rng = np.random.default_rng(1)
    beta, w = rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    psi = choice.subjective_probabilities(beta, w)
    for r in range(4):
        logits = beta @ w[r]
        np.testing.assert_allclose(psi[r], np.exp(logits) / np.exp(logits).sum())
    # broadcasting over draws: (S, K, D) with shared w, and with per-draw w
    betas = rng.standard_normal((6, 3, 2))
    psi_many = choice.subjective_probabilities(betas, w)
    assert psi_many.shape == (6, 4, 3)
    np.testing.assert_allclose(psi_many[2], choice.subjective_probabilities(betas[2], w))


def test_log_likelihood_matches_direct_computation_and_broadcasts():
    rng = np.random.default_rng(2)
    R, M, S = 6, 9, 5
    eta = rng.random((S, R))
    alpha = rng.gamma(2.0, 5.0, size=S)
    I = random_menus(M, R, seed=3)
    y = np.array([rng.integers(1, k + 1) for k in I.sum(axis=1)])
    ll = choice.log_likelihood(alpha, eta, I, y)
    assert ll.shape == (S, M)
    chosen = np.array([np.flatnonzero(I[m])[y[m] - 1] for m in range(M)])
    for s in range(S):
        for m in range(M):
            menu = np.flatnonzero(I[m])
            v = alpha[s] * eta[s, menu]
            expected = alpha[s] * eta[s, chosen[m]] - np.log(np.exp(v).sum())
            assert ll[s, m] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    # same values through choice_log_probabilities
    lp = choice.choice_log_probabilities(alpha, eta, I)
    np.testing.assert_allclose(ll, lp[:, np.arange(M), chosen], rtol=1e-12, atol=1e-14)


def test_log_likelihood_chunks_give_the_same_answer(monkeypatch):
    rng = np.random.default_rng(4)
    eta, alpha = rng.random((40, 7)), rng.gamma(2.0, 3.0, size=40)
    I = random_menus(25, 7, seed=5)
    y = np.array([rng.integers(1, k + 1) for k in I.sum(axis=1)])
    whole = choice.log_likelihood(alpha, eta, I, y)
    monkeypatch.setattr(choice, "_CHUNK_ELEMENTS", 150)  # forces chunks of 1-2 draws
    np.testing.assert_array_equal(choice.log_likelihood(alpha, eta, I, y), whole)


def test_extreme_alpha_is_finite():
    eta = np.array([0.0, 0.5, 1.0])
    I = np.array([[1, 1, 1], [1, 1, 0]])
    for alpha in (1e4, 1e8):
        ll = choice.log_likelihood(alpha, eta, I, np.array([3, 1]))
        assert np.all(np.isfinite(ll))
        assert ll[0] == pytest.approx(0.0, abs=1e-12)  # the maximiser, chosen: log 1
        assert ll[1] == pytest.approx(-alpha * 0.5, rel=1e-9)  # dominated by the gap to alternative 2


@pytest.mark.parametrize("alpha", [-1.0, np.inf, np.nan])
def test_alpha_outside_its_range_is_rejected(alpha):
    with pytest.raises(ValueError, match="alpha must be finite and non-negative"):
        choice.choice_probabilities(alpha, np.array([0.0, 1.0]), np.array([[1, 1]]))


def test_stacked_log_likelihood_equals_per_cell_m01_likelihood():
    data, truth = simulate_hierarchical(
        3, n_obs=[5, 8, 4], R=6, D=2, K=3, shared_features=False, gamma0=2.0, sigma_cell=0.5, seed=9
    )
    rng = np.random.default_rng(10)
    S = 4
    alpha = rng.gamma(3.0, 5.0, size=(S, 3))
    beta = rng.standard_normal((S, 3, 3, 2))
    delta = rng.dirichlet(np.ones(2), size=(S, 1))
    stacked = choice.stacked_log_likelihood(data, alpha, beta, delta)
    assert stacked.shape == (S, data.M)
    for j, cell_id in enumerate(data.cell_ids):
        cell: CellData = data.cell(cell_id)
        expected = choice.cell_log_likelihood(cell, alpha[:, j], beta[:, j], delta[:, 0])
        np.testing.assert_allclose(stacked[:, data.cell_of == j + 1], expected, rtol=1e-12)
    # ragged form: lists per cell and group give the same result
    ragged = choice.stacked_log_likelihood(data, alpha, [beta[:, j] for j in range(3)], [delta[:, 0]])
    np.testing.assert_array_equal(ragged, stacked)


def test_stacked_expected_utilities_of_ragged_cells_are_each_cells_eta():
    """Two utility groups with K = 3 and K = 4: the NaN padding of the smaller group is ignored."""
    data, _ = simulate_hierarchical(2, n_obs=5, R=6, D=2, K={"a": 3, "b": 4}, seed=4,
                                    utility_group={"cell1": "a", "cell2": "b"}, shared_features=False)
    rng = np.random.default_rng(5)
    S = 3
    beta = np.full((S, 2, 4, 2), np.nan)
    beta[:, 0, :3] = rng.standard_normal((S, 3, 2))
    beta[:, 1] = rng.standard_normal((S, 4, 2))
    delta = np.full((S, 2, 3), np.nan)
    delta[:, 0, :2] = rng.dirichlet(np.ones(2), size=S)
    delta[:, 1] = rng.dirichlet(np.ones(3), size=S)
    eta = choice.stacked_expected_utilities(data, beta, delta)
    assert eta.shape == (S, 2, 6) and np.isfinite(eta).all()
    for j in range(2):
        K_j, g = int(data.K[j]), data.group[j] - 1
        psi = choice.subjective_probabilities(beta[:, j, :K_j], data.w[data.feature_set[j] - 1])
        expected = choice.expected_utilities(psi, choice.utilities(delta[:, g, : K_j - 1]))
        np.testing.assert_allclose(eta[:, j], expected, rtol=1e-12)


def test_sample_choices_follow_the_choice_probabilities():
    """Monte Carlo: empirical choice frequencies within 4.5 binomial standard errors of p."""
    rng = np.random.default_rng(11)
    eta = np.array([0.1, 0.4, 0.5, 0.9])
    I = np.tile([[1, 1, 1, 0], [0, 1, 1, 1]], (5000, 1))
    y = choice.sample_choices(rng, 4.0, eta, I)
    p = choice.choice_probabilities(4.0, eta, I[:2])
    for row in range(2):
        menu_p = p[row][I[row] == 1]
        ys = y[row::2]
        freq = np.bincount(ys - 1, minlength=3) / ys.size
        se = np.sqrt(menu_p * (1 - menu_p) / ys.size)
        assert np.all(np.abs(freq - menu_p) < 4.5 * se)
