"""Test statistics for posterior predictive checks of choice data.

Each statistic is a function of the menus ``I`` (M x R) and choices ``y``
(1-based menu positions), vectorised over leading replication axes of ``y``
so the same call evaluates the observed data (shape (M,)) and the replicated
data of a posterior predictive distribution (shape (..., M)).
:func:`replicated_choices` takes those replications from a fit (thinned on
request) and :func:`per_cell` evaluates a statistic cell by cell on stacked data.

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

__all__ = ["chosen_alternatives", "choice_shares", "repeat_consistency", "ppc_p_value", "replicated_choices", "per_cell"]


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


def repeat_consistency(I: np.ndarray, y: np.ndarray) -> np.ndarray | float:
    """Share of repeated menus (identical sets offered two or more times) always answered alike.

    A deterministic SEU maximiser scores 1; uniform random choice scores about
    the mean over repeated menus of (1/size)^(repeats - 1). y : (..., M) -> (...).
    Raises ValueError when no menu is repeated.
    """
    I = np.asarray(I)
    chosen = chosen_alternatives(I, y)
    _, menu_id, repeats = np.unique(I, axis=0, return_inverse=True, return_counts=True)
    menu_id = menu_id.ravel()
    repeated = np.flatnonzero(repeats >= 2)
    if repeated.size == 0:
        raise ValueError("repeat_consistency: no menu is offered more than once")
    consistent = []
    for menu in repeated:
        rows = np.flatnonzero(menu_id == menu)
        answers = chosen[..., rows]
        consistent.append(np.all(answers == answers[..., :1], axis=-1))
    result = np.mean(np.stack(consistent, axis=-1), axis=-1)
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
