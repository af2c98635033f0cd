"""Posterior predictive statistics: definitions, vectorisation, and behaviour under simulation."""

from __future__ import annotations

import numpy as np
import pytest

from seu_sensitivity.inference import ppc
from seu_sensitivity.model.choice import choice_probabilities
from seu_sensitivity.model.simulate import random_menus, simulate_cell


def test_choice_shares_count_choices_among_offers():
    I = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0]])
    y = np.array([2, 1, 2])  # chooses alternatives 1, 0, 2 (0-based)
    shares = ppc.choice_shares(I, y)
    np.testing.assert_allclose(shares[:3], [1 / 2, 1 / 2, 1 / 2])
    assert np.isnan(shares[3])  # never offered
    # second replication chooses alternatives 0, 0, 1: shares 2/2, 1/2, 0/2
    many = ppc.choice_shares(I, np.stack([y, np.array([1, 1, 1])]))
    assert many.shape == (2, 4)
    np.testing.assert_allclose(many[1, :3], [2 / 2, 1 / 2, 0 / 2])


def test_repeat_consistency_extremes_and_vectorisation():
    I = np.tile(random_menus(20, 6, seed=1), (3, 1))  # every menu shown three times
    cell, truth = simulate_cell(M=60, R=6, D=2, alpha=1e6, I=I, seed=2)
    assert ppc.repeat_consistency(cell.I, cell.y) == 1.0  # near-deterministic maximiser
    ys = np.stack([cell.y, cell.y])
    np.testing.assert_array_equal(ppc.repeat_consistency(cell.I, ys), [1.0, 1.0])
    with pytest.raises(ValueError, match="no menu is offered more than once"):
        ppc.repeat_consistency(random_menus(3, 30, seed=3), np.array([1, 1, 1]))


def test_repeat_consistency_at_zero_alpha_matches_its_expectation():
    """Uniform choice: E[consistency] = mean over menus of (1/size)^2 for three repeats.
    400 distinct menus; tolerance 4 standard errors of a mean of Bernoulli indicators."""
    menus = random_menus(400, 12, seed=4)
    I = np.tile(menus, (3, 1))
    cell, _ = simulate_cell(M=1200, R=12, D=2, alpha=0.0, I=I, seed=5)
    expected_each = (1.0 / menus.sum(axis=1)) ** 2
    expected = expected_each.mean()
    se = np.sqrt(np.sum(expected_each * (1 - expected_each))) / 400
    # identical menus drawn twice merge into one group with more repeats; rare with R = 12
    assert abs(ppc.repeat_consistency(cell.I, cell.y) - expected) < 4 * se + 0.01


def test_shares_are_unbiased_for_choice_probabilities():
    """Replicated choice shares average to the model's choice probabilities (Monte Carlo, 4 SE)."""
    cell, truth = simulate_cell(M=400, R=8, D=2, alpha=8.0, seed=6)
    rng = np.random.default_rng(7)
    from seu_sensitivity.model.choice import sample_choices

    reps = np.stack([sample_choices(rng, 8.0, truth["eta"], cell.I) for _ in range(300)])
    shares = ppc.choice_shares(cell.I, reps).mean(axis=0)
    p = choice_probabilities(8.0, truth["eta"], cell.I)  # (M, R)
    expected = p.sum(axis=0) / cell.I.sum(axis=0)
    per_rep_var = (p * (1 - p)).sum(axis=0) / cell.I.sum(axis=0) ** 2
    se = np.sqrt(per_rep_var / 300)
    assert np.all(np.abs(shares - expected) < 4 * se + 1e-12)


def test_ppc_p_value_counts_ties_half():
    assert ppc.ppc_p_value(1.0, np.ones(10)) == 0.5
    assert ppc.ppc_p_value(0.0, np.array([1.0, 2.0, -1.0, 0.0])) == pytest.approx((2 + 0.5) / 4)
    vec = ppc.ppc_p_value(np.array([0.0, 5.0]), np.array([[1.0, 1.0], [2.0, 2.0]]))
    np.testing.assert_allclose(vec, [1.0, 0.0])


def test_chosen_alternatives_matches_a_problem_by_problem_reference_for_replications():
    rng = np.random.default_rng(11)
    I = (rng.random((60, 7)) < 0.5).astype(int)
    I[:, :2] = 1  # every menu has at least 2 alternatives
    sizes = I.sum(axis=1)
    y_rep = 1 + np.floor(rng.random((3, 5, 60)) * sizes).astype(int)  # (chain, draw, M)
    got = ppc.chosen_alternatives(I, y_rep.astype(float))  # replications arrive as floats from netCDF
    # reference: the y-th available alternative of each menu, one problem at a time
    expected = np.array([[np.flatnonzero(I[m])[row[m] - 1] for m in range(60)]
                         for row in y_rep.reshape(-1, 60)]).reshape(y_rep.shape)
    np.testing.assert_array_equal(got, expected)
    assert np.all(I[np.arange(60), got] == 1)


@pytest.mark.parametrize("value", [0, 3, 1.5])
def test_chosen_alternatives_names_the_problem_of_a_bad_choice(value):
    I = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1]])
    y = np.array([1.0, value, 3.0])
    with pytest.raises(ValueError, match=r"problem 1 \(row 1 of I\).*1\.\.2"):
        ppc.chosen_alternatives(I, y)


def test_replicated_choices_thins_evenly_and_keeps_the_ends():
    import arviz as az

    y_rep = np.arange(2 * 500 * 3).reshape(2, 500, 3)
    idata = az.from_dict(posterior_predictive={"y": y_rep})
    everything = ppc.replicated_choices(idata)
    assert everything.shape == (1000, 3)
    np.testing.assert_array_equal(everything[500], y_rep[1, 0])  # chain-major
    thinned = ppc.replicated_choices(idata, max_draws=400)
    assert thinned.shape == (400, 3)
    np.testing.assert_array_equal(thinned[[0, -1]], everything[[0, -1]])
    assert ppc.replicated_choices(idata, max_draws=5000).shape == (1000, 3)


def test_per_cell_evaluates_each_cell_on_its_rows_for_observed_and_replicated_choices():
    from seu_sensitivity.model.stacking import stack_cells

    a, _ = simulate_cell(M=30, R=5, D=2, seed=3, cell_id="a")
    b, _ = simulate_cell(M=20, R=5, D=2, seed=4, cell_id="b")
    data = stack_cells([a, b])
    observed = ppc.per_cell(data, data.y, ppc.choice_shares)
    assert list(observed) == ["a", "b"]
    np.testing.assert_array_equal(observed["b"], ppc.choice_shares(b.I, b.y))
    replicated = ppc.per_cell(data, np.stack([data.y] * 4), ppc.choice_shares)
    assert replicated["a"].shape == (4, 5)
    with pytest.raises(ValueError, match="observations"):
        ppc.per_cell(data, data.y[:-1], ppc.choice_shares)


# -- positions, agreement by menu size, LOO-PIT ---------------------------------------


def test_position_shares_and_menu_agreement_by_size():
    np.testing.assert_allclose(ppc.position_shares(np.array([[1, 2, 2, 4], [1, 1, 1, 1]]), positions=4),
                               [[0.25, 0.5, 0.0, 0.25], [1.0, 0.0, 0.0, 0.0]])
    I = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 0], [1, 1, 1, 0], [0, 1, 1, 1]])
    y = np.array([2, 2, 1, 3, 1, 1])  # the 2-menu alike, the 3-menu not; the last menu is shown once
    agree, size = ppc.menu_agreement(I, y)
    order = np.argsort(size)
    assert size[order].tolist() == [2, 3] and agree[order].tolist() == [True, False]
    assert ppc.repeat_consistency(I, y) == pytest.approx(agree.mean())
    many, _ = ppc.menu_agreement(I, np.stack([y, np.ones(6, dtype=int)]))
    assert many.shape == (2, 2) and many[1].all()
    with pytest.raises(ValueError, match="no menu is offered more than once"):
        ppc.menu_agreement(I[-1:], y[-1:])


def test_menu_probabilities_is_the_softmax_over_each_menu_in_pool_order():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(5, 6))
    I = random_menus(40, 6, seed=2)
    p = ppc.menu_probabilities(logits, I, positions=6)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0)
    for s in (0, 4):
        full = choice_probabilities(1.0, logits[s], I)  # (M, R), zero off the menu
        for m in range(40):
            np.testing.assert_allclose(p[s, m, : I[m].sum()], full[m, I[m] > 0])
            assert np.all(p[s, m, I[m].sum():] == 0)
    with pytest.raises(ValueError, match="positions"):
        ppc.menu_probabilities(logits, I, positions=1)


def _cell_with_draws(alpha=5.0, n_menus=60, repeats=3, S=400, seed=0, sticky=False):
    """A cell whose 'posterior' is the truth: every draw has the true logits; y drawn from them (or copied across repeats)."""
    rng = np.random.default_rng(seed)
    menus = random_menus(n_menus, 8, seed=seed + 1)
    I = np.tile(menus, (repeats, 1))
    cell, truth = simulate_cell(M=len(I), R=8, D=2, alpha=alpha, I=I, seed=seed + 2)
    logits = alpha * truth["eta"]
    y = cell.y.copy()
    if sticky:  # every showing of a menu gets the answer of its first showing
        y = np.tile(y[:n_menus], repeats)
    # draws that scatter around the truth, so that the PSIS weights are not all equal
    draws = logits[None, :] + 0.05 * rng.normal(size=(S, 8))
    log_lik = np.log(np.take_along_axis(ppc.menu_probabilities(draws, I, positions=8), (y - 1)[None, :, None],
                                        axis=-1)[..., 0])
    return I, y, draws, log_lik


def test_loo_menu_probabilities_reproduce_psis_loo():
    import arviz as az

    I, y, draws, log_lik = _cell_with_draws()
    probabilities, k = ppc.loo_menu_probabilities(draws, log_lik, I, reff=1.0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    idata = az.from_dict(posterior={"mu": np.zeros((1, len(draws)))}, log_likelihood={"y": log_lik[None]})
    reference = az.loo(idata, pointwise=True, reff=1.0)
    np.testing.assert_allclose(np.log(probabilities[np.arange(len(y)), y - 1]), reference.loo_i.values, atol=1e-8)
    np.testing.assert_allclose(k, reference.pareto_k.values, atol=1e-8)


def test_randomized_pit_without_randomisation_is_arvizs_loo_pit():
    """V = 1 in pool order: the PSIS-weighted P(y_rep <= y) that az.loo_pit computes from one-hot replications."""
    import arviz as az
    from seu_sensitivity.inference.psis import psislw

    I, y, draws, log_lik = _cell_with_draws(S=300, seed=4)
    rng = np.random.default_rng(5)
    p = ppc.menu_probabilities(draws, I, positions=8)  # (S, M, 8)
    y_rep = 1 + (rng.random(p.shape[:2])[..., None] > np.cumsum(p, axis=-1)).sum(axis=-1)
    log_w, _ = psislw(-log_lik)
    one_hot = (y_rep[..., None] == np.arange(1, 9)).astype(float)
    probabilities = np.einsum("sm,smk->mk", np.exp(log_w), one_hot)
    ours = ppc.randomized_pit(probabilities, y, order="position", randomize=False)
    reference = az.loo_pit(y=y.astype(float), y_hat=y_rep.T.astype(float), log_weights=log_w.T)
    np.testing.assert_allclose(ours, reference, atol=1e-10)


def test_randomized_pit_is_uniform_when_outcomes_come_from_the_predictions():
    """10,000 categorical outcomes drawn from their own predictive rows: KS distance to uniform below 0.02
    (the 99.9% critical value is 1.95 / sqrt(n) = 0.0195)."""
    rng = np.random.default_rng(8)
    P = rng.dirichlet(np.full(4, 0.4), size=10_000)
    y = 1 + (rng.random((10_000, 1)) > np.cumsum(P, axis=1)).sum(axis=1)
    for order in ("probability", "position"):
        u = np.sort(ppc.randomized_pit(P, y, order=order, seed=9))
        assert np.max(np.abs(u - (np.arange(1, 10_001) - 0.5) / 10_000)) < 0.0195
    # a decision maker sharper than predicted: the favourite more often than said -> too many small u
    sharp = 1 + np.argmax(P, axis=1)
    u = ppc.randomized_pit(P, sharp, order="probability", seed=9)
    assert np.all(u <= P.max(axis=1) + 1e-12)  # never past the favourite's own mass
    assert np.mean(u < 0.5) > 0.7  # 0.5 when calibrated
    with pytest.raises(ValueError, match="observation 0 has position 5"):
        ppc.randomized_pit(P[:2], np.array([5, 1]))
