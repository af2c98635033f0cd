"""Test statistics for posterior predictive checks of choice data.

Each statistic is a function of the menus ``I`` (M x R) and choices ``y``
(1-based menu positions), vectorised over leading replication axes of ``y``
so the same call evaluates the observed data (shape (M,)) and the replicated
data of a posterior predictive distribution (shape (..., M)).
:func:`replicated_choices` takes those replications from a fit (thinned on
request) and :func:`per_cell` evaluates a statistic cell by cell on stacked data.

A menu position is the rank of the chosen alternative among the menu's
alternatives in increasing pool index (how the data record ``y``), not the
place where the alternative was displayed. :func:`position_shares` counts
choices by that position; :func:`menu_agreement` says, for each menu shown
more than once, whether every showing got the same answer (by menu size).

The leave-one-out probability integral transform of a choice (LOO-PIT) uses
the choice probabilities of every alternative on the menu, not only of the
chosen one: :func:`menu_probabilities` computes them from the utility logits
of a posterior draw, :func:`loo_menu_probabilities` weights them by PSIS-LOO
importance weights, and :func:`randomized_pit` turns them into a randomised
PIT, uniform on (0, 1) when the choices come from the predictive distribution.

>>> I = np.array([[1, 1, 0], [1, 1, 0], [0, 1, 1]])
>>> choice_shares(I, np.array([1, 1, 2])).tolist()
[1.0, 0.0, 1.0]
>>> repeat_consistency(I, np.array([1, 2, 1]))
0.0
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from seu_sensitivity.model.stacking import choice_to_alternative

__all__ = [
    "chosen_alternatives",
    "choice_shares",
    "position_shares",
    "repeat_consistency",
    "menu_agreement",
    "ppc_p_value",
    "replicated_choices",
    "per_cell",
    "menu_probabilities",
    "loo_menu_probabilities",
    "randomized_pit",
]


def chosen_alternatives(I: np.ndarray, y: np.ndarray) -> np.ndarray:
    """0-based alternative chosen in each problem; y : (..., M) -> (..., M) (see :func:`~seu_sensitivity.model.stacking.choice_to_alternative`).

    >>> chosen_alternatives(np.array([[1, 0, 1], [0, 1, 1]]), np.array([[2, 1], [1, 2]])).tolist()
    [[2, 1], [0, 2]]
    """
    return choice_to_alternative(I, y)


def choice_shares(I: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For each alternative r: the share of the problems offering r in which r was chosen.

    y : (..., M) -> (..., R); NaN for an alternative never offered.
    """
    I = np.asarray(I)
    chosen = chosen_alternatives(I, y)
    R = I.shape[1]
    counts = (chosen[..., None] == np.arange(R)).sum(axis=-2)
    offered = I.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(offered > 0, counts / np.maximum(offered, 1), np.nan)


def position_shares(y: np.ndarray, positions: int = 4) -> np.ndarray:
    """Share of the choices that fell on menu position 1, 2, ..., ``positions`` (in increasing pool index).

    y : (..., M) -> (..., positions). A position is the chosen alternative's
    rank among the menu's alternatives in increasing pool index, which is what
    ``y`` records; it says nothing about where the alternative was displayed.

    >>> position_shares(np.array([1, 1, 2, 3]), positions=3).tolist()
    [0.5, 0.25, 0.25]
    """
    y = np.asarray(y)
    return np.stack([np.mean(y == p, axis=-1) for p in range(1, positions + 1)], axis=-1)


def menu_agreement(I: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each menu offered two or more times: were all its answers alike, and its size.

    Returns ``(agree, size)``: ``agree`` is (..., G) booleans over the G
    repeated menus (identical rows of ``I``), in the order of ``np.unique``;
    ``size`` is (G,), the number of alternatives on each. The mean of
    ``agree`` over menus is :func:`repeat_consistency`; grouping it by
    ``size`` gives consistency by menu size. Raises ValueError when no menu
    is repeated.

    >>> I = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]])
    >>> agree, size = menu_agreement(I, np.array([1, 1, 2, 3]))
    >>> agree.tolist(), size.tolist()
    ([True, False], [2, 3])
    """
    I = np.asarray(I)
    chosen = chosen_alternatives(I, y)
    menus, menu_id, repeats = np.unique(I, axis=0, return_inverse=True, return_counts=True)
    menu_id = menu_id.ravel()
    repeated = np.flatnonzero(repeats >= 2)
    if repeated.size == 0:
        raise ValueError("menu_agreement: no menu is offered more than once")
    agree = []
    for menu in repeated:
        answers = chosen[..., np.flatnonzero(menu_id == menu)]
        agree.append(np.all(answers == answers[..., :1], axis=-1))
    return np.stack(agree, axis=-1), menus[repeated].sum(axis=1).astype(int)


def repeat_consistency(I: np.ndarray, y: np.ndarray) -> np.ndarray | float:
    """Share of repeated menus (identical sets offered two or more times) always answered alike.

    A deterministic SEU maximiser scores 1; uniform random choice scores about
    the mean over repeated menus of (1/size)^(repeats - 1). y : (..., M) -> (...).
    Raises ValueError when no menu is repeated.
    """
    try:
        agree, _ = menu_agreement(I, y)
    except ValueError:
        raise ValueError("repeat_consistency: no menu is offered more than once") from None
    result = np.mean(agree, axis=-1)
    return float(result) if np.ndim(result) == 0 else result


def ppc_p_value(observed: float | np.ndarray, replicated: np.ndarray) -> float | np.ndarray:
    """Posterior predictive p-value P(T(y_rep) >= T(y)), over the leading replication axes.

    Ties count one half, so a discrete statistic equal to the observed value in
    every replication gives 0.5 rather than 1.
    """
    replicated = np.asarray(replicated)
    observed = np.asarray(observed)
    axes = tuple(range(replicated.ndim - observed.ndim))
    greater = (replicated > observed).mean(axis=axes)
    ties = (replicated == observed).mean(axis=axes)
    return greater + 0.5 * ties


def replicated_choices(idata: Any, var: str = "y", max_draws: int | None = None) -> np.ndarray:
    """The posterior predictive choices of a fit as an (S, M) array, chains and draws stacked.

    With ``max_draws``, at most that many evenly spaced replications are kept
    (the first and the last always), which bounds the cost of statistics that
    loop over draws in Python.

    >>> import arviz as az
    >>> idata = az.from_dict(posterior_predictive={"y": np.arange(12).reshape(2, 3, 2)})
    >>> replicated_choices(idata).shape, replicated_choices(idata, max_draws=2)[:, 0].tolist()
    ((6, 2), [0, 10])
    """
    y_rep = idata.posterior_predictive[var].stack(sample=("chain", "draw")).transpose("sample", ...).values
    if max_draws is None or max_draws >= y_rep.shape[0]:
        return y_rep
    keep = np.unique(np.linspace(0, y_rep.shape[0] - 1, min(max_draws, y_rep.shape[0])).astype(int))
    return y_rep[keep]


def per_cell(
    data: Any, y: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], Any]
) -> dict[str, Any]:
    """``statistic(I_j, y_j)`` for each cell j of stacked data, keyed by cell id in stacking order.

    ``data`` is a :class:`~seu_sensitivity.model.stacking.StackedData`; ``y``
    is (..., M) in its stacking order: the observed choices, or replications
    (:func:`replicated_choices`), over which ``statistic`` is vectorised.

    >>> from seu_sensitivity.model.stacking import CellData, stack_cells
    >>> a = CellData(w=[[0.0], [1.0]], I=[[1, 1], [1, 1]], y=[1, 1], K=2, cell_id="a")
    >>> b = CellData(w=[[0.0], [1.0]], I=[[1, 1], [1, 1]], y=[1, 2], K=2, cell_id="b")
    >>> data = stack_cells([a, b])
    >>> per_cell(data, data.y, repeat_consistency)
    {'a': 1.0, 'b': 0.0}
    """
    y = np.asarray(y)
    if y.shape[-1] != data.M:
        raise ValueError(f"per_cell: y has {y.shape[-1]} observations in its last axis, the data {data.M}")
    cell_of = np.asarray(data.cell_of)
    out = {}
    for j, cell_id in enumerate(data.cell_ids):
        rows = np.flatnonzero(cell_of == j + 1)
        out[cell_id] = statistic(data.I[rows], y[..., rows])
    return out


def menu_probabilities(logits: np.ndarray, I: np.ndarray, positions: int | None = None) -> np.ndarray:
    """Choice probabilities by menu position: softmax of the utility logits over each menu.

    ``logits`` is (..., R), e.g. the draws of a cell's ``eta_logit`` =
    alpha (eta - mean eta) (S, R); ``I`` is (M, R). Returns (..., M,
    positions): the probability of the menu's p-th alternative in increasing
    pool index, 0 beyond the menu's size (``positions`` defaults to the
    largest menu).

    >>> p = menu_probabilities(np.log(np.array([1.0, 2.0, 1.0])), np.array([[1, 1, 0], [1, 1, 1]]))
    >>> np.round(p, 3).tolist()
    [[0.333, 0.667, 0.0], [0.25, 0.5, 0.25]]
    """
    I = np.asarray(I)
    logits = np.asarray(logits, dtype=float)
    sizes = I.sum(axis=1)
    width = int(sizes.max()) if positions is None else int(positions)
    if sizes.max() > width:
        raise ValueError(f"menu_probabilities: a menu has {int(sizes.max())} alternatives, more than positions = {width}")
    # the menu's alternatives in increasing pool index, padded with the first one
    order = np.argsort(-I, axis=1, kind="stable")[:, :width]
    on_menu = np.arange(width)[None, :] < sizes[:, None]
    z = np.where(on_menu, logits[..., order], -np.inf)
    z = z - z.max(axis=-1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def loo_menu_probabilities(
    logits: np.ndarray,
    log_lik: np.ndarray,
    I: np.ndarray,
    cell_of: np.ndarray | None = None,
    *,
    reff: float = 1.0,
    positions: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Leave-one-out predictive choice probabilities of every menu position, by PSIS.

    ``logits`` is (S, R) for one cell, or (S, J, R) with ``cell_of`` (M,)
    giving each observation's 1-based cell; ``log_lik`` is (S, M), the draws
    of all chains stacked in the same order as ``logits``; ``I`` is (M, R).
    Returns ``(probabilities, pareto_k)``: (M, positions) LOO predictive
    probabilities, sum_s w_ms p_s(position | menu m) with the Pareto-smoothed
    weights of :func:`seu_sensitivity.inference.psis.psislw` (those of
    ``az.loo``), and each observation's Pareto k. The log of the chosen
    position's probability is the observation's ``loo_i``.
    """
    from seu_sensitivity.inference.psis import psislw

    logits = np.asarray(logits, dtype=float)
    log_lik = np.asarray(log_lik, dtype=float)
    I = np.asarray(I)
    if log_lik.ndim != 2 or log_lik.shape[1] != I.shape[0]:
        raise ValueError(f"loo_menu_probabilities: log_lik is {log_lik.shape}, expected (draws, {I.shape[0]})")
    if logits.shape[0] != log_lik.shape[0]:
        raise ValueError(f"loo_menu_probabilities: {logits.shape[0]} draws of the logits, {log_lik.shape[0]} of log_lik")
    if logits.ndim == 2:
        logits = logits[:, None, :]
        cell_of = np.ones(I.shape[0], dtype=int)
    elif cell_of is None:
        raise ValueError("loo_menu_probabilities: logits of several cells need cell_of")
    cell_of = np.asarray(cell_of)
    width = int(I.sum(axis=1).max()) if positions is None else int(positions)
    log_w, k = psislw(-log_lik, reff=reff)
    weights = np.exp(log_w)
    out = np.zeros((I.shape[0], width))
    for j in np.unique(cell_of):
        rows = np.flatnonzero(cell_of == j)
        p = menu_probabilities(logits[:, j - 1, :], I[rows], positions=width)  # (S, M_j, width)
        out[rows] = np.einsum("sm,smk->mk", weights[:, rows], p)
    return out, k


def randomized_pit(
    probabilities: np.ndarray,
    y: np.ndarray,
    *,
    order: str = "probability",
    randomize: bool = True,
    seed: int | np.random.Generator | None = 0,
) -> np.ndarray:
    """Randomised probability integral transform of categorical outcomes.

    ``probabilities`` is (M, P), each row a predictive distribution over
    positions 1..P; ``y`` (M,) the observed 1-based positions. The outcomes
    are ordered within each row (``order="probability"``: most probable first,
    ties by position; ``"position"``: by position), and
    u = P(Y before y) + V P(Y = y) with V ~ Uniform(0, 1) (Czado, Gneiting and
    Held 2009). u is exactly Uniform(0, 1) when y is drawn from the rows. In
    the probability order, an excess of small u means the most probable
    outcomes happen more often than predicted (the predictions are too
    diffuse), an excess of large u that unlikely outcomes happen too often.
    ``randomize=False`` sets V = 1: with ``order="position"`` that is
    ArviZ's ``az.loo_pit`` of a discrete outcome without its smoothing.

    >>> randomized_pit(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([2, 1]), order="position", randomize=False).tolist()
    [1.0, 0.9]
    """
    P = np.asarray(probabilities, dtype=float)
    y = np.asarray(y).astype(int)
    if P.ndim != 2 or y.shape != (P.shape[0],):
        raise ValueError(f"randomized_pit: probabilities {P.shape} and y {y.shape} do not match")
    if np.any((y < 1) | (y > P.shape[1])):
        bad = int(np.flatnonzero((y < 1) | (y > P.shape[1]))[0])
        raise ValueError(f"randomized_pit: observation {bad} has position {y[bad]}, outside 1..{P.shape[1]}")
    if order == "probability":
        ranking = np.argsort(-P, axis=1, kind="stable")
    elif order == "position":
        ranking = np.tile(np.arange(P.shape[1]), (P.shape[0], 1))
    else:
        raise ValueError(f"randomized_pit: order must be 'probability' or 'position', got {order!r}")
    ranked = np.take_along_axis(P, ranking, axis=1)
    rank_of_y = np.argmax(ranking == (y - 1)[:, None], axis=1)
    rows = np.arange(P.shape[0])
    mass = ranked[rows, rank_of_y]
    below = np.cumsum(ranked, axis=1)[rows, rank_of_y] - mass
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    v = rng.random(P.shape[0]) if randomize else np.ones(P.shape[0])
    return np.clip(below + v * mass, 0.0, 1.0)
