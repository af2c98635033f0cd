"""K-fold cross-validation grouped by base decision problem: folds, held-out log likelihood, comparison.

PSIS-LOO approximates leaving out one choice; where many Pareto k exceed 0.7
the approximation fails, and the exact alternative is to refit. Grouped
K-fold does so K times: the observations are dealt into K folds by *base
decision problem* (all showings of one menu go to the same fold), each fold
is held out in turn, every model is refitted on the rest, and the held-out
choices are scored by their log predictive density under the refit's
posterior, computed in NumPy (:mod:`seu_sensitivity.model.choice`), so the
Stan programs need no held-out data.

* :func:`menu_keys`: one key per observation naming its menu (the set of
  available alternatives), which identifies the base problem;
* :func:`grouped_folds`: a fold per observation; cells that share a pool of
  alternatives (``strata``) hold out the same menus;
* :func:`split`: the training and held-out data of one fold;
* :func:`heldout_log_likelihood`: (draws, observations) log likelihood of
  held-out data under an h_m01 fit or a set of m_01 fits;
* :func:`pointwise_elpd`: log of the mean likelihood over draws, per observation;
* :func:`kfold`: the loop over folds and models, returning each observation's
  elpd contribution under each model;
* :func:`kfold_compare`: elpd_kfold, its standard error and the differences
  between models with their standard errors, best first;
* :func:`base_problems` and :func:`base_problem_summary`: each cell's
  menus with their showings, and per cell how many base problems it has,
  how often they were shown and how much of its stratum's pool it covers.

The refits of a study's models are built in the studies layer
(:meth:`seu_sensitivity.studies.Study.kfold_refits`).

>>> rng = np.random.default_rng(0)
>>> pointwise = pd.DataFrame({"problem": np.repeat(np.arange(50), 3),
...                           "good": rng.normal(-0.5, 0.1, 150), "bad": rng.normal(-1.0, 0.1, 150)})
>>> kfold_compare(pointwise, ["good", "bad"]).index.tolist()
['good', 'bad']
"""

from __future__ import annotations

import time
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.special import logsumexp

from seu_sensitivity.model.choice import log_likelihood
from seu_sensitivity.model.stacking import CellData

__all__ = [
    "menu_keys",
    "grouped_folds",
    "split",
    "heldout_log_likelihood",
    "pointwise_elpd",
    "kfold",
    "kfold_compare",
    "base_problems",
    "base_problem_summary",
    "KFOLD_SEED",
    "FOLD_SEED_STEP",
    "MAX_DRAWS",
]

#: seed of the deal of base problems into folds
KFOLD_SEED = 20250824

#: fold f refits a model with the model's seed + FOLD_SEED_STEP * (f + 1); the
#: independent fits use seed + i for cell i, so the step keeps the seeds apart
FOLD_SEED_STEP = 1000

#: draws per chain of a fold's refit at most: a log predictive density (a
#: posterior mean of the likelihood) needs fewer draws than R-hat <= 1.01 on
#: slowly mixing utilities, and K refits of every model are the cost
MAX_DRAWS = 500

#: a model's refit on one fold: (training cells, fold index) -> posterior. The
#: posterior is an h_m01 InferenceData (dimension ``cell``) or a mapping
#: cell id -> m_01 InferenceData
FoldFit = Callable[[Mapping[str, CellData], int], Any]


def menu_keys(I: np.ndarray) -> np.ndarray:
    """One string per row of ``I`` naming its menu: the 1-based indices of the available alternatives.

    Rows with the same menu (the showings of one base problem, whatever the
    order on screen) get the same key.

    >>> menu_keys(np.array([[1, 0, 1], [0, 1, 1], [1, 0, 1]])).tolist()
    ['1-3', '2-3', '1-3']
    """
    I = np.asarray(I)
    return np.array(["-".join(str(r + 1) for r in np.flatnonzero(row)) for row in I])


def grouped_folds(
    data: Mapping[str, CellData],
    k: int,
    *,
    strata: Mapping[str, Hashable] | None = None,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """A fold (0 .. k-1) for every observation of every cell, whole menus at a time.

    Within a stratum (cells whose alternatives come from one pool, e.g. one
    task), the distinct menus are shuffled and dealt to the folds in turn, so
    every fold holds out about the same number of base problems, and a menu
    is held out in the same fold in every cell of the stratum. Without
    ``strata`` each cell is its own stratum (its menus are dealt
    independently). Returns cell id -> (M,) integer folds.

    >>> cell = CellData(w=np.zeros((3, 1)), I=[[1, 1, 0], [0, 1, 1], [1, 1, 0], [1, 0, 1]], y=[1, 1, 2, 1], K=2)
    >>> folds = grouped_folds({"a": cell}, 3, seed=1)["a"]
    >>> bool(folds[0] == folds[2]), sorted(set(folds.tolist()))
    (True, [0, 1, 2])
    """
    if k < 2:
        raise ValueError(f"grouped_folds: k must be at least 2, got {k}")
    ids = [str(c) for c in data]
    stratum_of = {c: (strata[c] if strata is not None else c) for c in ids}
    missing = [c for c in ids if strata is not None and c not in strata]
    if missing:
        raise ValueError(f"grouped_folds: no stratum for cell(s) {', '.join(missing)}")
    rng = np.random.default_rng(seed)
    keys = {c: menu_keys(data[c].I) for c in ids}
    fold_of: dict[Hashable, dict[str, int]] = {}
    for stratum in dict.fromkeys(stratum_of.values()):
        menus = sorted(set().union(*(set(keys[c]) for c in ids if stratum_of[c] == stratum)))
        if len(menus) < k:
            raise ValueError(f"grouped_folds: stratum {stratum!r} has {len(menus)} distinct menus, fewer than k = {k}")
        order = rng.permutation(len(menus))
        fold_of[stratum] = {menus[i]: position % k for position, i in enumerate(order)}
    return {c: np.array([fold_of[stratum_of[c]][key] for key in keys[c]], dtype=int) for c in ids}


def _subset(cell: CellData, rows: np.ndarray) -> CellData:
    return CellData(w=cell.w, I=cell.I[rows], y=cell.y[rows], K=cell.K, cell_id=cell.cell_id)


def split(data: Mapping[str, CellData], folds: Mapping[str, np.ndarray], fold: int
          ) -> tuple[dict[str, CellData], dict[str, CellData]]:
    """``(train, test)``: each cell's observations outside and inside ``fold`` (cells without any are left out of that side)."""
    train, test = {}, {}
    for c, cell in data.items():
        held = np.asarray(folds[c]) == fold
        if held.shape != (cell.M,):
            raise ValueError(f"split: cell {c} has {cell.M} observations but {held.shape[0]} folds")
        if (~held).any():
            train[c] = _subset(cell, ~held)
        if held.any():
            test[c] = _subset(cell, held)
    return train, test


def _draws(values: Any) -> np.ndarray:
    """(chain, draw, ...) -> (chain * draw, ...)."""
    array = np.asarray(values)
    return array.reshape((-1,) + array.shape[2:])


def _is_fit_set(posterior: Any) -> bool:
    """A mapping cell id -> fit (not itself a fit: an InferenceData is a mapping of its groups)."""
    return isinstance(posterior, Mapping) and not hasattr(posterior, "posterior")


def heldout_log_likelihood(posterior: Any, cells: Mapping[str, CellData]) -> dict[str, np.ndarray]:
    """Log likelihood of each held-out cell's choices under each posterior draw: cell id -> (draws, M).

    ``posterior`` is an h_m01 InferenceData (``alpha`` and ``eta`` with a
    ``cell`` dimension) or a mapping cell id -> m_01 InferenceData. A cell's
    expected utilities ``eta`` cover every alternative of its pool, so a menu
    the fit never saw is scored with the same softmax as Stan's likelihood
    (:func:`seu_sensitivity.model.choice.log_likelihood`).
    """
    out = {}
    for c, cell in cells.items():
        if _is_fit_set(posterior):
            if c not in posterior:
                raise KeyError(f"heldout_log_likelihood: no m_01 fit for cell {c}")
            draws = posterior[c].posterior
            alpha, eta = _draws(draws["alpha"].values), _draws(draws["eta"].values)
        else:
            draws = posterior.posterior
            if c not in draws["cell"].values:
                raise KeyError(f"heldout_log_likelihood: cell {c} is not in the fit")
            alpha = _draws(draws["alpha"].sel(cell=c).values)
            eta = _draws(draws["eta"].sel(cell=c).values)
        if eta.shape[-1] != cell.R:
            raise ValueError(f"heldout_log_likelihood: cell {c} has R = {cell.R} alternatives, the fit {eta.shape[-1]}")
        out[c] = log_likelihood(alpha, eta, cell.I, cell.y)
    return out


def pointwise_elpd(log_lik: np.ndarray) -> np.ndarray:
    """log (1/S) sum_s p(y_i | theta_s) for each observation i of a (S, M) log likelihood.

    >>> pointwise_elpd(np.log([[0.2, 0.5], [0.4, 0.5]])).round(4).tolist()
    [-1.204, -0.6931]
    """
    log_lik = np.asarray(log_lik, dtype=float)
    return logsumexp(log_lik, axis=0) - np.log(log_lik.shape[0])


def _sampling_seconds(posterior: Any) -> float:
    fits = posterior.values() if _is_fit_set(posterior) else [posterior]
    values = [getattr(f, "attrs", {}).get("sampling_seconds") for f in fits]
    return float(sum(values)) if all(v is not None for v in values) else np.nan


def kfold(
    data: Mapping[str, CellData],
    folds: Mapping[str, np.ndarray],
    models: Mapping[str, FoldFit],
    *,
    strata: Mapping[str, Hashable] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Refit every model on every fold and score the held-out choices.

    ``models`` maps a model's name to its refit: ``fit(train, fold)`` returns
    a posterior (see :data:`FoldFit`). Returns one row per observation, in
    the cells' order: ``cell``, ``row`` (its index in the cell), ``menu``
    (:func:`menu_keys`), ``problem`` (the stratum and the menu: the base
    problem, shared by the cells of a stratum as in :func:`grouped_folds`;
    without ``strata`` the cell and the menu), ``fold``, and one column per model holding the
    observation's elpd contribution (:func:`pointwise_elpd` of the refit that
    did not see it). ``attrs["seconds"]`` is a fold x model table of the
    time each refit took in this call (loading a cached fit is fast),
    ``attrs["models"]`` the models' names, and
    ``attrs["sampling_seconds"]`` the sampler's recorded time, summed over a
    model's fits (NaN where a fit did not record it).
    """
    ids = [str(c) for c in data]
    frames = []
    for c in ids:
        menus = menu_keys(data[c].I)
        stratum = strata[c] if strata is not None else c
        frames.append(pd.DataFrame({"cell": c, "row": np.arange(data[c].M), "menu": menus,
                                    "problem": [f"{stratum}: {m}" for m in menus],
                                    "fold": np.asarray(folds[c], dtype=int)}))
    pointwise = pd.concat(frames, ignore_index=True)
    k_values = sorted(pointwise["fold"].unique())
    seconds = pd.DataFrame(index=pd.Index(k_values, name="fold"), columns=list(models), dtype=float)
    sampled = seconds.copy()
    for name in models:
        pointwise[name] = np.nan
    for fold in k_values:
        train, test = split(data, folds, fold)
        for name, fit in models.items():
            started = time.perf_counter()
            posterior = fit(train, fold)
            seconds.loc[fold, name] = time.perf_counter() - started
            sampled.loc[fold, name] = _sampling_seconds(posterior)
            for c, ll in heldout_log_likelihood(posterior, test).items():
                rows = pointwise.index[(pointwise["cell"] == c) & (pointwise["fold"] == fold)]
                pointwise.loc[rows, name] = pointwise_elpd(ll)
            del posterior
            if progress is not None:
                progress(f"fold {fold + 1}/{len(k_values)}: {name} {seconds.loc[fold, name]:.1f} s")
    pointwise.attrs["models"] = list(models)
    pointwise.attrs["seconds"] = seconds
    pointwise.attrs["sampling_seconds"] = sampled
    return pointwise


def _se(values: np.ndarray) -> float:
    """Standard error of a sum of n exchangeable contributions: sqrt(n var)."""
    return float(np.sqrt(len(values) * np.var(values, ddof=1)))


def kfold_compare(pointwise: pd.DataFrame, models: Sequence[str] | None = None, *,
                  by: str | Sequence[str] | None = "problem") -> pd.DataFrame:
    """elpd_kfold of each model, its standard error, and differences from the best, best first.

    ``pointwise`` is :func:`kfold`'s table (or any table with one column of
    elpd contributions per model; ``models`` defaults to :func:`kfold`'s
    models, else every floating-point column). The standard errors treat the units named
    by ``by`` as exchangeable: the contributions are summed within each unit
    (a column, or columns, of ``pointwise``; None: each observation is a
    unit) and SE = sqrt(n var) over the n unit sums, as for the difference
    between two models (``dse``), computed from the unit sums of the
    difference. Columns: ``rank``, ``elpd_kfold``, ``se``, ``elpd_diff``
    (best minus this model, >= 0), ``dse``, ``units``.

    >>> table = pd.DataFrame({"a": [-1.0, -1.0, -2.0, -2.0], "b": [-1.5, -1.5, -2.0, -2.5],
    ...                       "problem": [0, 0, 1, 1]})
    >>> kfold_compare(table, ["a", "b"])[["elpd_kfold", "se", "elpd_diff", "dse"]].round(3).to_dict("index")
    {'a': {'elpd_kfold': -6.0, 'se': 2.0, 'elpd_diff': 0.0, 'dse': 0.0}, 'b': {'elpd_kfold': -7.5, 'se': 1.5, 'elpd_diff': 1.5, 'dse': 0.5}}
    """
    if models is None:  # kfold's models, else every floating-point column
        models = pointwise.attrs.get("models") or [
            c for c in pointwise.columns if pd.api.types.is_float_dtype(pointwise[c]) and c not in {"row", "fold"}]
    models = list(models)
    if pointwise[models].isna().any().any():
        bad = [m for m in models if pointwise[m].isna().any()]
        raise ValueError(f"kfold_compare: missing elpd contributions for {', '.join(bad)}")
    units = pointwise[models] if by is None else pointwise.groupby(by, sort=False)[models].sum()
    totals = units.sum()
    order = totals.sort_values(ascending=False).index
    best = order[0]
    rows = {}
    for rank, name in enumerate(order):
        difference = (units[best] - units[name]).to_numpy()
        rows[name] = {"rank": rank, "elpd_kfold": float(totals[name]), "se": _se(units[name].to_numpy()),
                      "elpd_diff": float(difference.sum()), "dse": 0.0 if name == best else _se(difference),
                      "units": len(units)}
    return pd.DataFrame.from_dict(rows, orient="index")


def base_problems(data: Mapping[str, CellData], strata: Mapping[str, Hashable] | None = None) -> pd.DataFrame:
    """One row per cell and menu: ``cell``, ``stratum``, ``menu`` (:func:`menu_keys`) and ``showings``.

    ``showings`` counts the menu's observations in the cell (the repetitions
    of one base problem). Without ``strata`` each cell is its own stratum.

    >>> cell = CellData(w=np.zeros((3, 1)), I=[[1, 1, 0], [0, 1, 1], [1, 1, 0]], y=[1, 1, 2], K=2)
    >>> base_problems({"a": cell}, {"a": "task"}).to_dict("list")
    {'cell': ['a', 'a'], 'stratum': ['task', 'task'], 'menu': ['1-2', '2-3'], 'showings': [2, 1]}
    """
    rows = []
    for c, cell in data.items():
        stratum = strata[c] if strata is not None else c
        counts = pd.Series(menu_keys(cell.I)).value_counts()
        rows.extend({"cell": str(c), "stratum": stratum, "menu": key, "showings": int(n)} for key, n in counts.items())
    return pd.DataFrame(rows, columns=["cell", "stratum", "menu", "showings"])


def base_problem_summary(problems: pd.DataFrame) -> pd.DataFrame:
    """Per cell of a :func:`base_problems` table: its base problems, how often they were shown, its stratum's coverage.

    Columns: ``stratum``; ``problems`` (distinct menus of the cell);
    ``stratum problems`` (distinct menus over the cells of its stratum);
    ``coverage`` (``problems / stratum problems``: the share of the
    stratum's pool of base problems the cell has); and ``shown n`` for every
    number of showings n that occurs: how many of the cell's menus were shown
    exactly n times (0 where none). Rows are sorted by cell.

    >>> problems = pd.DataFrame({"cell": ["a", "a", "b"], "stratum": "t", "menu": ["1-2", "2-3", "1-2"],
    ...                          "showings": [3, 3, 6]})
    >>> base_problem_summary(problems).to_dict("index")["b"]
    {'stratum': 't', 'problems': 1, 'stratum problems': 2, 'coverage': 0.5, 'shown 3': 0, 'shown 6': 1}
    """
    by_cell = problems.groupby("cell")
    pool = problems.groupby("stratum")["menu"].nunique()
    out = pd.DataFrame({"stratum": by_cell["stratum"].first(), "problems": by_cell["menu"].nunique()})
    out["stratum problems"] = out["stratum"].map(pool).astype(int)
    out["coverage"] = out["problems"] / out["stratum problems"]
    shown = pd.crosstab(problems["cell"], problems["showings"]).reindex(out.index, fill_value=0)
    for n in sorted(shown.columns):
        out[f"shown {n}"] = shown[n].astype(int)
    return out
