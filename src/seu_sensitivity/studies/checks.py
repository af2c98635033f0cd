"""Predictive checks of a study's fits that pool the cells of a group (e.g. a task).

A check per cell has little power (a few hundred choices, a hundred repeated
menus); pooled over the cells of a group, the same statistic can detect a
misfit that every cell shares. Each function takes a
:class:`~seu_sensitivity.studies.study.Study` with its fits and the name of
one fit (``"hierarchical"``, ``"independent"`` or ``"pooled"``):

* :func:`position_check`: the share of choices on each menu position (in
  increasing pool index), observed against replicated;
* :func:`consistency_by_size`: the share of repeated menus answered alike,
  by menu size, observed against replicated;
* :func:`loo_pit`: the randomised LOO-PIT of every choice, with the
  alternatives of a menu ordered from the most to the least probable under
  the leave-one-out predictive distribution; its summary says whether the
  PIT values are uniform (a simultaneous ECDF band) and how often the
  predicted favourite was chosen against how often it was predicted to be.

Posterior predictive p-values are P(T(y_rep) >= T(y)) with ties counted one
half (:func:`~seu_sensitivity.inference.ppc.ppc_p_value`); a small p means
the data show more of T than the model predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from seu_sensitivity.inference import effects
from seu_sensitivity.inference.ppc import (
    loo_menu_probabilities,
    menu_agreement,
    position_shares,
    ppc_p_value,
    randomized_pit,
    replicated_choices,
)

__all__ = ["position_check", "consistency_by_size", "loo_pit", "fit_arrays"]


def _group_rows(study: Any, by: str | None) -> dict[str, list[int]]:
    """Group label -> 0-based cell indices in stacking order (one group 'all' when by is None)."""
    ids = study.cell_ids
    if by is None:
        return {"all": list(range(len(ids)))}
    if by not in study.cells.columns:
        raise ValueError(f"by={by!r} is not a column of the cells table (columns: {', '.join(map(str, study.cells.columns))})")
    column = study.cells.set_index("cell_id")[by]
    levels = list(column.cat.categories) if isinstance(column.dtype, pd.CategoricalDtype) else list(dict.fromkeys(column))
    return {str(level): [j for j, c in enumerate(ids) if column[c] == level] for level in levels
            if any(column[c] == level for c in ids)}


def _interval(observed: float, replicated: np.ndarray, prob: float) -> dict[str, float]:
    low, high = effects.tails(prob)
    lower, median, upper = np.quantile(replicated, [low, 0.5, high])
    return {"observed": float(observed), "replicated": float(median), "lower": float(lower), "upper": float(upper),
            "p": float(ppc_p_value(observed, replicated))}


def position_check(study: Any, model: str = "hierarchical", *, by: str | None = "task", positions: int = 4,
                   prob: float = 0.9, max_draws: int | None = 1000) -> pd.DataFrame:
    """Share of choices on each menu position, pooled over the cells of each group, observed against replicated.

    One row per (group, position): ``observed`` share, the ``replicated``
    median and central ``prob`` interval (``lower``, ``upper``), and the
    posterior predictive p-value ``p``. Positions count the menu's
    alternatives in increasing pool index, as the data record them.
    """
    data = study.stacked(pooled=model == "pooled")
    y_rep = replicated_choices(study.fit(model), max_draws=max_draws)
    rows = {}
    for group, cells in _group_rows(study, by).items():
        keep = np.isin(np.asarray(data.cell_of) - 1, cells)
        observed = position_shares(data.y[keep], positions)
        replicated = position_shares(y_rep[:, keep], positions)
        for p in range(positions):
            rows[(group, p + 1)] = _interval(observed[p], replicated[:, p], prob)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=[by or "group", "position"])
    return table


def consistency_by_size(study: Any, model: str = "hierarchical", *, by: str | None = "task", prob: float = 0.9,
                        max_draws: int | None = 1000) -> pd.DataFrame:
    """Repeat consistency by menu size, pooled over the cells of each group, observed against replicated.

    One row per (group, menu size): ``menus`` (repeated menus of that size in
    the group's cells), ``observed`` share answered alike every time, the
    ``replicated`` median, interval and p-value as in :func:`position_check`.
    """
    data = study.stacked(pooled=model == "pooled")
    y_rep = replicated_choices(study.fit(model), max_draws=max_draws)
    cell_of = np.asarray(data.cell_of)
    rows = {}
    for group, cells in _group_rows(study, by).items():
        observed, replicated, sizes = [], [], []
        for j in cells:
            r = np.flatnonzero(cell_of == j + 1)
            agree, size = menu_agreement(data.I[r], data.y[r])
            observed.append(agree)
            replicated.append(menu_agreement(data.I[r], y_rep[:, r])[0])
            sizes.append(size)
        observed, replicated, sizes = np.concatenate(observed), np.concatenate(replicated, axis=-1), np.concatenate(sizes)
        for size in np.unique(sizes):
            pick = sizes == size
            row = _interval(observed[pick].mean(), replicated[:, pick].mean(axis=-1), prob)
            rows[(group, int(size))] = {"menus": int(pick.sum()), **row}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index = pd.MultiIndex.from_tuples(table.index, names=[by or "group", "menu size"])
    return table


def fit_arrays(study: Any, model: str) -> tuple[np.ndarray, np.ndarray, float]:
    """``(logits, log_lik, reff)`` of a fit: utility logits (S, J, R), log likelihood (S, M), relative efficiency.

    Draws of all chains are stacked chain by chain. For the independent fits
    the logits come from each cell's m_01 fit and the log likelihood and
    relative efficiency from their joint InferenceData, as in the LOO comparison.
    """
    from seu_sensitivity.inference.loo import relative_efficiency

    idata = study.fit(model)
    log_lik = idata.log_likelihood["y"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    if model == "independent":
        logits = np.stack([study.independent.fits[c].posterior["eta_logit"].stack(sample=("chain", "draw"))
                           .transpose("sample", ...).values for c in study.cell_ids], axis=1)
    else:
        logits = idata.posterior["eta_logit"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    return logits, log_lik, relative_efficiency(idata)


def loo_pit(study: Any, model: str = "hierarchical", *, by: str | None = "task", band_prob: float = 0.95,
            seed: int = 0) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Randomised LOO-PIT of every choice, summarised per group.

    The LOO predictive probabilities of the menu's alternatives come from
    :func:`~seu_sensitivity.inference.ppc.loo_menu_probabilities` (their log
    at the chosen alternative sums to the fit's ``elpd_loo``); the PIT orders
    each menu's alternatives from the most to the least probable
    (:func:`~seu_sensitivity.inference.ppc.randomized_pit`). Returns
    ``(summary, pit)``: ``pit`` maps each group to its PIT values; ``summary``
    has per group ``choices``, ``elpd_loo`` (the group's sum), ``favourite
    observed`` (share of choices on the alternative the LOO predictive
    distribution makes most probable), ``favourite predicted`` (its mean
    predicted probability) and ``favourite z`` (their difference over the
    binomial standard error), ``PIT < 0.1`` and ``PIT > 0.9`` (shares; 0.1
    each when calibrated), ``max ECDF deviation`` (largest |ECDF(u) - u|),
    ``inside band`` (whether the ECDF stays inside ArviZ's simultaneous
    ``band_prob`` band for uniformity, Säilynoja et al. 2022) and ``k > 0.7``
    (share of choices whose PSIS weights are unreliable).
    """
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    data = study.stacked(pooled=model == "pooled")
    logits, log_lik, reff = fit_arrays(study, model)
    probabilities, k = loo_menu_probabilities(logits, log_lik, data.I, data.cell_of, reff=reff)
    pit = randomized_pit(probabilities, data.y, order="probability", seed=seed)
    cell_of = np.asarray(data.cell_of)
    rows, values = {}, {}
    grid = np.linspace(0, 1, 101)
    for group, cells in _group_rows(study, by).items():
        keep = np.isin(cell_of - 1, cells)
        u = np.sort(pit[keep])
        P = probabilities[keep]
        favourite = P.argmax(axis=1)
        p_fav = P[np.arange(len(P)), favourite]
        hit = favourite == data.y[keep] - 1
        ecdf = np.searchsorted(u, grid, side="right") / len(u)
        lower, upper = ecdf_confidence_band(len(u), grid, grid, prob=band_prob)
        rows[group] = {
            "choices": int(keep.sum()),
            "elpd_loo": float(np.log(P[np.arange(len(P)), data.y[keep] - 1]).sum()),
            "favourite observed": float(hit.mean()),
            "favourite predicted": float(p_fav.mean()),
            "favourite z": float((hit.mean() - p_fav.mean()) / (np.sqrt(np.sum(p_fav * (1 - p_fav))) / len(P))),
            "PIT < 0.1": float(np.mean(u < 0.1)),
            "PIT > 0.9": float(np.mean(u > 0.9)),
            "max ECDF deviation": float(np.max(np.abs(ecdf - grid))),
            "inside band": bool(np.all((ecdf >= lower - 1e-12) & (ecdf <= upper + 1e-12))),
            "k > 0.7": float(np.mean(k[keep] > 0.7)),
        }
        values[group] = pit[keep]
    summary = pd.DataFrame.from_dict(rows, orient="index")
    summary.index.name = by or "group"
    summary.attrs["band_prob"] = band_prob
    return summary, values
