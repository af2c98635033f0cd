"""A study of SEU sensitivity across the cells of an experiment: three fits and the tables that compare them.

A :class:`Study` holds one row per cell (its factors), each cell's choice data,
the formula of the regression on log(alpha), which cells share a utility
scale, and the priors. It fits the cells three ways:

* **independent**: m_01 on each cell with its own prior (:meth:`Study.fit_independent`);
* **hierarchical**: one h_m01 whose regression on log(alpha) is the formula
  (:meth:`Study.fit_hierarchical`);
* **complete pooling**: h_m01 on the pooled formula with sigma_cell held at 0,
  so every cell sits on its regression line (:meth:`Study.fit_pooled`).

A fourth fit separates the hierarchical model's two ties between cells:
``fit_hierarchical(utilities="cell")`` is h_m01 with the same regression but
one utility vector delta per cell (:data:`OWN_DELTA`), so its cells share
only the regression, as the independent fits share nothing.

The three describe the same observations in the same order, so they are
compared by PSIS-LOO (:meth:`Study.loo_comparison`), by grouped K-fold
cross-validation, refitting each model without whole base problems
(:meth:`Study.kfold_comparison`, its refits :meth:`Study.kfold_refits`), and
by per-cell posterior predictive checks (:meth:`Study.ppc_table`). :meth:`Study.answers`,
:meth:`Study.contrasts` and :meth:`Study.heterogeneity` read the hierarchical
fit; :meth:`Study.shrinkage` puts the per-cell estimates side by side;
:meth:`Study.forest_plot` draws them.

Everything about the cells comes from the cells table: factor levels keep the
order of a Categorical column (else the order in which they first appear, so
the first row's level is the treatment reference), labels are built from the
factor values, and no factor name is assumed.

>>> import pandas as pd
>>> from seu_sensitivity.model.simulate import simulate_cell
>>> cells = pd.DataFrame({"cell_id": ["a0", "a1", "b0", "b1"], "prompt": ["a", "a", "b", "b"],
...                       "temperature": [0.0, 1.0, 0.0, 1.0]})
>>> data = {c: simulate_cell(M=20, R=6, D=2, K=3, seed=i)[0] for i, c in enumerate(cells["cell_id"])}
>>> study = Study.from_cells(cells, data, "~ prompt * temperature")
>>> study.predictors().columns.tolist()
['prompt: b', 'temperature', 'temperature | b']
>>> study.labels["b1"]
'b × temperature 1'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from seu_sensitivity.inference import effects
from seu_sensitivity.inference.kfold import (FOLD_SEED_STEP, KFOLD_SEED, MAX_DRAWS, FoldFit, grouped_folds, kfold,
                                             kfold_compare)
from seu_sensitivity.inference.loo import independent_inference_data, loo_table, pareto_k_counts
from seu_sensitivity.inference.ppc import choice_shares, per_cell, ppc_p_value, repeat_consistency, replicated_choices
from seu_sensitivity.inference.sensitivity import hyperprior_sensitivity
from seu_sensitivity.model.design import Design, design_from_formula
from seu_sensitivity.model.priors import HM01Priors, M01Priors
from seu_sensitivity.model.stacking import CellData, StackedData, stack_cells
from seu_sensitivity.settings import DEFAULT_SEED

__all__ = [
    "Study",
    "IndependentFits",
    "MODELS",
    "POOLED_FIXED",
    "OWN_DELTA",
    "UTILITIES",
    "predictor_label",
    "log_alpha_summary",
    "choice_distribution",
    "answers_table",
    "shrinkage_table",
    "cell_ppc_table",
    "cell_consistency_draws",
]

#: the three fits of a study, in the order the comparison tables list them;
#: the value is the model's name in the LOO and predictive-check tables
MODELS: dict[str, str] = {"hierarchical": "hierarchical", "independent": "independent", "pooled": "complete pooling"}

#: complete pooling in h_m01: sigma_cell held at 0, so every cell sits on the
#: regression line of the pooled formula; gamma0 and the formula's effects stay free
POOLED_FIXED: dict[str, float] = {"sigma_cell": 0.0}

#: the hierarchical fit with one utility vector delta per cell (``fit_hierarchical(utilities="cell")``):
#: its name for :meth:`Study.fit` and :meth:`Study.estimates`. It is not one of :data:`MODELS`, so the
#: comparison tables of the three fits (LOO, predictive checks) leave it out unless asked.
OWN_DELTA = "hierarchical_own_delta"

#: how the hierarchical fit groups the utility increments delta: "group" (the study's
#: utility groups, e.g. one delta per task) or "cell" (one delta per cell)
UTILITIES: tuple[str, ...] = ("group", "cell")

# m_01 parameters whose diagnostics decide a refit (eta is a function of beta and delta)
_M01_CHECKED = ["alpha", "beta", "delta"]


def predictor_label(column: str) -> str:
    """A readable label for a formulaic column name.

    >>> predictor_label("llm[T.claude-sonnet-4]:task[T.ellsberg]")
    'llm x task: claude-sonnet-4 x ellsberg'
    >>> predictor_label("llm[gpt-4o]:task[insurance]:temperature")
    'temperature | gpt-4o, insurance'
    """
    levels: list[str] = []
    factors: list[str] = []
    continuous: list[str] = []
    for part in column.split(":"):
        if "[" in part and part.endswith("]"):
            factor, level = part[:-1].split("[", 1)
            levels.append(level[2:] if level.startswith("T.") else level)
            factors.append(factor)
        else:
            continuous.append(part)
    if continuous:
        return f"{' '.join(continuous)} | {', '.join(levels)}" if levels else " ".join(continuous)
    return f"{' x '.join(factors)}: {' x '.join(levels)}"


def log_alpha_summary(draws: np.ndarray, prob: float = 0.9) -> dict[str, float]:
    """Median and central interval of alpha, and mean and sd of log(alpha), from alpha draws.

    >>> s = log_alpha_summary(np.exp(np.linspace(-1, 1, 101)), prob=0.5)
    >>> round(s["alpha"], 6), round(s["log_alpha_mean"], 6)
    (1.0, 0.0)
    """
    values = np.log(np.asarray(draws, dtype=float).ravel())
    low, high = effects.tails(prob)
    lower, median, upper = np.quantile(values, [low, 0.5, high])
    return {
        "alpha": float(np.exp(median)),
        "alpha_lower": float(np.exp(lower)),
        "alpha_upper": float(np.exp(upper)),
        "log_alpha_mean": float(values.mean()),
        "log_alpha_sd": float(values.std(ddof=1)),
    }


def _cell_intervals(idata: Any, prob: float, var: str = "log_alpha") -> pd.DataFrame:
    """Per cell: posterior median, central ``prob`` interval, sd of ``var`` and the MCSE of the median (by cell id)."""
    import arviz as az

    draws = effects.draws_of(idata, var)
    low, high = effects.tails(prob)
    values = draws.values
    lower, median, upper = np.quantile(values, [low, 0.5, high], axis=0)
    by_chain = idata.posterior[var].transpose("chain", "draw", ...).values
    mcse = [float(az.mcse(by_chain[..., j], method="median")) for j in range(values.shape[1])]
    return pd.DataFrame(
        {"median": median, "lower": lower, "upper": upper, "sd": values.std(axis=0, ddof=1), "mcse": mcse},
        index=pd.Index([str(c) for c in draws[draws.dims[1]].values], name="cell_id"),
    )


# -- tables that work on any fits -------------------------------------------------


def choice_distribution(data: Mapping[str, CellData], order: Sequence[str]) -> pd.DataFrame:
    """Per cell: counts of menu sizes and of the chosen menu position, and the repeat consistency.

    Columns ``menus of 2``, ``menus of 3``, ... (number of problems with that
    menu size), ``chose 1st``, ``chose 2nd``, ... (share of problems in which
    that position, in increasing alternative index, was chosen; a decision
    maker that ignores content and picks by position would show a spike here)
    and ``repeat consistency`` (share of repeated menus always answered alike).
    """
    rows = {}
    for cell_id in order:
        cell = data[cell_id]
        sizes = pd.Series(cell.menu_sizes).value_counts()
        largest = int(cell.menu_sizes.max())
        row: dict[str, float] = {f"menus of {s}": int(sizes.get(s, 0)) for s in range(2, largest + 1)}
        for position in range(1, largest + 1):
            row[f"chose {_ordinal(position)}"] = float(np.mean(cell.y == position))
        row["repeat consistency"] = float(repeat_consistency(cell.I, cell.y))
        rows[cell_id] = row
    table = pd.DataFrame.from_dict(rows, orient="index").fillna(0)
    table.index.name = "cell_id"
    return table


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def answers_table(idata: Any, prob: float = 0.9) -> pd.DataFrame:
    """The regression's answers from an h_m01 fit, one row per coefficient and one for sigma_cell.

    Rows: every regression coefficient (:func:`~seu_sensitivity.inference.effects.effects_table`),
    then ``sigma_cell``. Columns: ``mean``, ``lower``, ``upper`` (log scale),
    ``exp(gamma)`` (multiplicative effect on alpha, exp of the median),
    ``exp lower``, ``exp upper`` and ``P(> 0)`` (posterior probability that
    the coefficient is positive; for sigma_cell, P(sigma_cell > 0.1)).
    """
    table = effects.effects_table(idata, prob=prob)
    table = table[["mean", "lower", "upper", "exp(gamma)", "exp lower", "exp upper", "P(gamma > 0)"]].rename(
        columns={"P(gamma > 0)": "P(> 0)"}
    )
    sigma = effects.draws_of(idata, "sigma_cell").values.ravel()
    lower, upper = np.quantile(sigma, list(effects.tails(prob)))
    table.loc["sigma_cell"] = [sigma.mean(), lower, upper, np.nan, np.nan, np.nan, float(np.mean(sigma > 0.1))]
    table.attrs["prob"] = prob
    return table


def shrinkage_table(
    independent: pd.DataFrame,
    hierarchical: Any,
    pooled: Any | None = None,
    prob: float = 0.9,
    columns: Sequence[str] = (),
    own_delta: Any | None = None,
) -> pd.DataFrame:
    """Per cell, log(alpha) under the independent, hierarchical (and pooled) fits, and the shrinkage.

    ``independent`` is :attr:`IndependentFits.table`; ``hierarchical`` and
    ``pooled`` are h_m01 fits; ``columns`` of the independent table (the
    factors) are copied first. Then: ``independent``, ``hierarchical``,
    ``pooled`` (posterior medians of log alpha, each with ``_lower`` and
    ``_upper``; ``hierarchical_mcse`` is the Monte Carlo standard error of
    the hierarchical median), ``line`` (posterior median of the regression line
    gamma0 + X_j gamma), the interval widths ``width_independent`` and
    ``width_hierarchical``, ``shift`` (hierarchical minus independent median)
    and ``pulled`` = shift / (line - independent): the fraction of the way
    from the independent estimate to the regression line (0: no pooling, 1:
    the cell is its regression prediction). ``pulled`` is NaN where the
    independent estimate is within 0.05 of the line, since the ratio is then noise.

    ``own_delta`` is the hierarchical fit with one utility vector per cell
    (``Study.fit_hierarchical(utilities="cell")``). With it the table adds
    ``own_delta`` (with ``_lower``, ``_upper``, ``_mcse``), its regression
    line ``line_own_delta``, and splits ``shift`` in two:
    ``shift_pooling`` = own_delta - independent (what pooling alpha through
    the regression moves, each cell keeping its own delta) and
    ``shift_sharing`` = hierarchical - own_delta (what sharing delta within a
    utility group adds); the two sum to ``shift``.
    """
    ind = independent.set_index(independent["cell_id"].astype(str))
    hier = _cell_intervals(hierarchical, prob)
    unknown = [c for c in hier.index if c not in ind.index]
    if unknown:
        raise KeyError(f"shrinkage_table: cells of the hierarchical fit without an independent fit: {unknown}")
    out = pd.DataFrame(index=hier.index)
    for column in columns:
        out[column] = ind.loc[hier.index, column].to_numpy()
    # the independent interval from the alpha quantiles (exact: log is monotone)
    for suffix in ("", "_lower", "_upper"):
        out[f"independent{suffix}"] = np.log(ind.loc[hier.index, f"alpha{suffix}"].to_numpy(dtype=float))
    estimates = {"hierarchical": hier}
    if pooled is not None:
        estimates["pooled"] = _cell_intervals(pooled, prob).loc[hier.index]
    if own_delta is not None:
        estimates["own_delta"] = _cell_intervals(own_delta, prob).loc[hier.index]
    for name, table in estimates.items():
        out[name] = table["median"]
        out[f"{name}_lower"] = table["lower"]
        out[f"{name}_upper"] = table["upper"]
        if name != "pooled":
            out[f"{name}_mcse"] = table["mcse"]
    out["line"] = np.median(effects.regression_mean(hierarchical).values, axis=0)
    out["width_independent"] = out["independent_upper"] - out["independent_lower"]
    out["width_hierarchical"] = out["hierarchical_upper"] - out["hierarchical_lower"]
    out["shift"] = out["hierarchical"] - out["independent"]
    gap = out["line"] - out["independent"]
    out["pulled"] = np.where(np.abs(gap) > 0.05, out["shift"] / gap.where(np.abs(gap) > 0.05, 1.0), np.nan)
    if own_delta is not None:
        out["line_own_delta"] = np.median(effects.regression_mean(own_delta).loc[:, list(hier.index)].values, axis=0)
        out["width_own_delta"] = out["own_delta_upper"] - out["own_delta_lower"]
        out["shift_pooling"] = out["own_delta"] - out["independent"]
        out["shift_sharing"] = out["hierarchical"] - out["own_delta"]
    out.attrs["prob"] = prob
    return out


def cell_ppc_table(stacked: StackedData, idata: Any, prob: float = 0.9, max_draws: int = 400) -> pd.DataFrame:
    """Posterior predictive checks of each cell of a fit to stacked data.

    For cell j: ``consistency`` (observed share of repeated menus answered
    alike), its replicated median (``replicated consistency``) and central
    ``prob`` interval (``consistency lower``, ``consistency upper``) and
    ``p consistency`` (posterior predictive p-value, P(T_rep >= T_obs));
    ``1st in pool order`` (observed share of choices on the menu's
    alternative with the lowest pool index) and its p-value ``p 1st in pool
    order``; and ``share coverage`` (fraction of the alternatives whose
    observed choice share lies in the central ``prob`` predictive interval).
    Share coverage is a weak check where the model has a free utility for each
    alternative: the fit then reproduces every alternative's share.
    Uses at most ``max_draws`` evenly spaced replications
    (:func:`~seu_sensitivity.inference.ppc.replicated_choices`).
    """
    y_rep = replicated_choices(idata, max_draws=max_draws)
    if y_rep.shape[-1] != stacked.M:
        raise ValueError(f"cell_ppc_table: the fit has {y_rep.shape[-1]} observations, the data {stacked.M}")
    observed = per_cell(stacked, stacked.y, repeat_consistency)
    replicated = per_cell(stacked, y_rep, repeat_consistency)
    shares = per_cell(stacked, stacked.y, choice_shares)
    rep_shares = per_cell(stacked, y_rep, choice_shares)
    first = per_cell(stacked, stacked.y, lambda I, y: np.mean(np.asarray(y) == 1, axis=-1))
    rep_first = per_cell(stacked, y_rep, lambda I, y: np.mean(np.asarray(y) == 1, axis=-1))
    low, high = effects.tails(prob)
    rows = {}
    for cell_id in stacked.cell_ids:
        lower, upper = np.nanquantile(rep_shares[cell_id], [low, high], axis=0)
        offered = ~np.isnan(shares[cell_id])
        inside = (shares[cell_id] >= lower - 1e-12) & (shares[cell_id] <= upper + 1e-12)
        c_lower, c_median, c_upper = np.quantile(replicated[cell_id], [low, 0.5, high])
        rows[cell_id] = {
            "consistency": float(observed[cell_id]),
            "replicated consistency": float(c_median),
            "consistency lower": float(c_lower),
            "consistency upper": float(c_upper),
            "p consistency": float(ppc_p_value(observed[cell_id], replicated[cell_id])),
            "1st in pool order": float(first[cell_id]),
            "p 1st in pool order": float(ppc_p_value(first[cell_id], rep_first[cell_id])),
            "share coverage": float(np.mean(inside[offered])),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "cell_id"
    table.attrs["prob"] = prob
    return table


def cell_consistency_draws(stacked: StackedData, idata: Any, max_draws: int = 400) -> dict[str, tuple[float, np.ndarray]]:
    """Per cell: (observed repeat consistency, its replicated draws), for :func:`~seu_sensitivity.plots.study.ppc_grid`."""
    observed = per_cell(stacked, stacked.y, repeat_consistency)
    replicated = per_cell(stacked, replicated_choices(idata, max_draws=max_draws), repeat_consistency)
    return {c: (float(observed[c]), np.asarray(replicated[c])) for c in stacked.cell_ids}


# -- independent fits ---------------------------------------------------------------


@dataclass
class IndependentFits:
    """The m_01 fits of every cell.

    ``table`` has one row per cell (the cells table's columns, then the
    posterior of alpha and the diagnostics of the fit kept: ``max_rhat`` ...
    ``trustworthy`` for alpha, beta and delta, and ``reported_max_rhat``,
    ``reported_min_ess_bulk`` and ``reported_ok`` for what a report quotes,
    alpha and the utility logits ``eta_logit``); ``fits`` maps
    cell id to the kept InferenceData; ``first_attempts`` maps the cell ids that
    were refitted to the diagnostics table of their first fit, so a report
    can show what the refit changed; ``seconds`` is the wall time of the run.
    """

    table: pd.DataFrame
    fits: dict[str, Any]
    first_attempts: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0


def _diagnostic_columns(table: pd.DataFrame) -> dict[str, Any]:
    return {
        "max_rhat": float(table.loc["max R-hat", "value"]),
        "min_ess_bulk": float(table.loc["min bulk ESS", "value"]),
        "min_ess_tail": float(table.loc["min tail ESS", "value"]),
        "divergences": int(table.loc["divergences", "value"]),
        "trustworthy": bool(table.attrs.get("trustworthy", table["ok"].all())),
    }


def _reported_columns(idata: Any) -> dict[str, Any]:
    """Convergence of what a report quotes from an m_01 fit (alpha and the utility logits) apart from the beliefs."""
    from seu_sensitivity.inference.diagnostics import diagnose_by_group

    groups = diagnose_by_group(idata)
    if "reported" not in groups.index:
        return {"reported_max_rhat": np.nan, "reported_min_ess_bulk": np.nan, "reported_ok": False}
    return {"reported_max_rhat": float(groups.loc["reported", "max R-hat"]),
            "reported_min_ess_bulk": float(groups.loc["reported", "min bulk ESS"]),
            "reported_ok": bool(groups.loc["reported", "ok"])}


# -- validation of a study's inputs ----------------------------------------------------


def _formula_variables(formula: str) -> list[str]:
    from formulaic import Formula

    try:
        return sorted(Formula(formula).required_variables)
    except Exception as exc:  # a formula formulaic cannot parse
        raise ValueError(f"formula {formula!r} cannot be parsed: {exc}") from exc


def _ids(values: Iterable[Any]) -> str:
    return ", ".join(repr(str(v)) for v in values)


def _prepare_cells(cells: pd.DataFrame, cell_id: str, variables: Sequence[str], formulas: Sequence[str]) -> pd.DataFrame:
    """The cells table with ``cell_id`` as its id column, checked, its factors as ordered Categoricals."""
    if not isinstance(cells, pd.DataFrame):
        raise ValueError(f"cells must be a DataFrame with one row per cell, got {type(cells).__name__}")
    if cell_id not in cells.columns:
        raise ValueError(f"cells: no cell-id column {cell_id!r} (columns: {', '.join(map(str, cells.columns))})")
    if cell_id != "cell_id" and "cell_id" in cells.columns:
        raise ValueError(f"cells: the id column is {cell_id!r}, so the table cannot also have a 'cell_id' column")
    if len(cells) == 0:
        raise ValueError("cells: the table has no rows")
    out = cells.rename(columns={cell_id: "cell_id"}).reset_index(drop=True)
    out["cell_id"] = out["cell_id"].astype(str)
    duplicated = out["cell_id"][out["cell_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"cells: cell id(s) {_ids(dict.fromkeys(duplicated))} appear more than once")
    available = [str(c) for c in out.columns if c != "cell_id"]
    for formula in formulas:
        missing = [v for v in _formula_variables(formula) if v not in out.columns]
        if missing:
            raise ValueError(
                f"formula {formula!r} uses column(s) {_ids(missing)}, which the cells table does not have "
                f"(available: {', '.join(available) or 'none'})"
            )
    for name in variables:
        values = out[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            out[name] = values.cat.remove_unused_categories()
        elif not pd.api.types.is_numeric_dtype(values):
            out[name] = pd.Categorical(values, categories=list(dict.fromkeys(values)))
        levels = out[name].dropna().unique()
        if len(levels) < 2:
            raise ValueError(
                f"factor {name!r} has a single level ({levels[0]!r} in every cell), so it cannot explain "
                "differences between cells; drop it from the formula or add cells with other levels"
                if len(levels) else f"factor {name!r} has no values"
            )
    return out


def _check_data(ids: Sequence[str], data: Mapping[str, CellData]) -> dict[str, CellData]:
    if not isinstance(data, Mapping):
        raise ValueError(f"data must map cell id -> CellData, got {type(data).__name__}")
    keys = [str(k) for k in data]
    without_data = [c for c in ids if c not in keys]
    without_row = [k for k in keys if k not in set(ids)]
    if without_data or without_row:
        parts = []
        if without_data:
            parts.append(f"cell(s) of the table without data: {_ids(without_data)}")
        if without_row:
            parts.append(f"data for cell(s) without a row in the table: {_ids(without_row)}")
        raise ValueError("cells and data do not match; " + "; ".join(parts))
    by_key = {str(k): v for k, v in data.items()}
    bad = [c for c in ids if not isinstance(by_key[c], CellData)]
    if bad:
        raise ValueError(f"data: the entries of {_ids(bad)} are not CellData")
    return {c: by_key[c] for c in ids}


def _resolve_groups(
    cells: pd.DataFrame, data: Mapping[str, CellData], utility_group: str | Mapping[str, Any] | None
) -> dict[str, str]:
    ids = list(cells["cell_id"])
    if utility_group is None:
        groups = {c: "all" for c in ids}
    elif isinstance(utility_group, str):
        if utility_group not in cells.columns:
            available = ", ".join(str(c) for c in cells.columns if c != "cell_id")
            raise ValueError(f"utility_group {utility_group!r} is not a column of the cells table (available: {available})")
        groups = {c: str(g) for c, g in zip(ids, cells[utility_group])}
    elif isinstance(utility_group, Mapping):
        missing = [c for c in ids if c not in utility_group]
        if missing:
            raise ValueError(f"utility_group: no group for cell(s) {_ids(missing)}")
        groups = {c: str(utility_group[c]) for c in ids}
    else:
        raise ValueError("utility_group must be a column name of the cells table, a mapping cell id -> group, or None")
    by_group: dict[str, dict[int, list[str]]] = {}
    for c in ids:
        by_group.setdefault(groups[c], {}).setdefault(data[c].K, []).append(c)
    for group, by_K in by_group.items():
        if len(by_K) > 1:
            detail = "; ".join(f"K = {K} in {_ids(members)}" for K, members in by_K.items())
            raise ValueError(f"utility group {group!r} mixes numbers of consequences ({detail}); "
                             "cells that share a utility scale must share K")
    return groups


def _resolve_cell_priors(
    ids: Sequence[str], groups: Mapping[str, str], cell_priors: M01Priors | Mapping[str, M01Priors] | None
) -> dict[str, M01Priors]:
    if cell_priors is None:
        return {c: M01Priors() for c in ids}
    if isinstance(cell_priors, M01Priors):
        return {c: cell_priors for c in ids}
    if not isinstance(cell_priors, Mapping):
        raise ValueError("cell_priors must be an M01Priors or a mapping (cell id or utility group) -> M01Priors")
    out, missing = {}, []
    for c in ids:
        if c in cell_priors:
            out[c] = cell_priors[c]
        elif groups[c] in cell_priors:
            out[c] = cell_priors[groups[c]]
        else:
            missing.append(c)
    if missing:
        raise ValueError(f"cell_priors: no prior for cell(s) {_ids(missing)} (by cell id or by utility group; "
                         f"given for {_ids(cell_priors)})")
    bad = [c for c, p in out.items() if not isinstance(p, M01Priors)]
    if bad:
        raise ValueError(f"cell_priors: the priors of {_ids(bad)} are not M01Priors")
    return out


# -- the study --------------------------------------------------------------------------------


@dataclass
class Study:
    """Cells of an experiment, their choice data, and their three fits.

    Build one with :meth:`from_cells`, which checks the inputs. The fit
    methods store their results on the study (:attr:`independent`,
    :attr:`hierarchical`, :attr:`pooled`) and return them; the tables and
    figures read the stored fits.

    >>> import pandas as pd
    >>> from seu_sensitivity.model.simulate import simulate_cell
    >>> cells = pd.DataFrame({"cell_id": ["x", "y"], "llm": ["A", "B"]})
    >>> data = {c: simulate_cell(M=20, R=6, D=2, seed=1)[0] for c in cells["cell_id"]}
    >>> study = Study.from_cells(cells, data, "~ llm")
    >>> study.stacked().J, study.groups
    (2, {'x': 'all', 'y': 'all'})
    """

    cells: pd.DataFrame
    data: dict[str, CellData]
    formula: str
    groups: dict[str, str]
    cell_priors: dict[str, M01Priors]
    priors: HM01Priors = field(default_factory=HM01Priors)
    pooled_formula: str = "~ 1"
    independent: IndependentFits | None = None
    hierarchical: Any = None
    pooled: Any = None
    hierarchical_own_delta: Any = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_cells(
        cls,
        cells: pd.DataFrame,
        data: Mapping[str, CellData],
        formula: str,
        *,
        utility_group: str | Mapping[str, Any] | None = None,
        cell_priors: M01Priors | Mapping[str, M01Priors] | None = None,
        priors: HM01Priors | None = None,
        pooled_formula: str = "~ 1",
        cell_id: str = "cell_id",
    ) -> "Study":
        """A study from a table of cells, their data, and the regression formula.

        Parameters
        ----------
        cells
            One row per cell: the id column ``cell_id`` and the factors the
            formulas use. The rows' order is the stacking order. Factor levels
            keep a Categorical's order, else their order of first appearance
            (the first level is the treatment reference).
        data
            Cell id -> :class:`~seu_sensitivity.model.stacking.CellData`, one per row.
        formula
            The formulaic formula of log(alpha) (``"~ prompt * temperature"``);
            the intercept is gamma0, so keep it.
        utility_group
            Which cells share the utility increments delta (and so K): a
            column of ``cells``, a mapping cell id -> group, or None (one group).
        cell_priors
            m_01 priors: one M01Priors for all cells, or a mapping whose keys
            are cell ids or utility groups (a cell's own entry wins).
        priors
            h_m01 priors (default :class:`~seu_sensitivity.model.priors.HM01Priors`).
        pooled_formula
            The complete-pooling regression (default ``"~ 1"``: one alpha for all cells).
        cell_id
            The name of the id column of ``cells``.

        Every mismatch is a ValueError naming what is wrong: cells without
        data or data without a row, a formula column the table lacks, a factor
        with a single level, a utility group whose cells differ in K, a cell
        without an m_01 prior, or a design whose effects cannot be separated.
        """
        formulas = [formula, pooled_formula]
        variables = list(dict.fromkeys(v for f in formulas for v in _formula_variables(f)))
        if cell_id in variables:
            raise ValueError(f"formula uses the id column {cell_id!r}; each cell would be its own level")
        table = _prepare_cells(cells, cell_id, [v for v in _table_order(cells, variables)], formulas)
        ids = list(table["cell_id"])
        ordered = _check_data(ids, data)
        groups = _resolve_groups(table, ordered, utility_group)
        study = cls(
            cells=table,
            data=ordered,
            formula=formula,
            groups=groups,
            cell_priors=_resolve_cell_priors(ids, groups, cell_priors),
            priors=priors if priors is not None else HM01Priors(),
            pooled_formula=pooled_formula,
        )
        study.predictors()  # refuse a design whose effects cannot be separated now, not at fit time
        study.predictors(pooled=True)
        return study

    # -- the cells ----------------------------------------------------------------------

    @property
    def cell_ids(self) -> list[str]:
        """The cell ids in stacking order."""
        return list(self.cells["cell_id"])

    @property
    def factors(self) -> list[str]:
        """The columns of the cells table that the formulas use, in the table's order."""
        variables = set(_formula_variables(self.formula)) | set(_formula_variables(self.pooled_formula))
        return _table_order(self.cells, variables)

    @property
    def labels(self) -> dict[str, str]:
        """A readable label per cell from its factor values: ``"gpt-4o × insurance × temperature 0.3"``."""
        factors = self.factors
        out = {}
        for _, row in self.cells.iterrows():
            parts = [f"{name} {row[name]:g}" if _is_numeric(self.cells[name]) else str(row[name]) for name in factors]
            out[row["cell_id"]] = " × ".join(parts) if parts else row["cell_id"]
        return out

    def design(self, pooled: bool = False) -> Design:
        """The :class:`~seu_sensitivity.model.design.Design` of the formula (or of the pooled formula)."""
        key = f"design:{pooled}"
        if key not in self._cache:
            self._cache[key] = design_from_formula(self.cells, self.pooled_formula if pooled else self.formula)
        return self._cache[key]

    def predictors(self, pooled: bool = False) -> pd.DataFrame:
        """X of the regression on log(alpha): one row per cell (indexed by cell id), readable column names."""
        design = self.design(pooled)
        X = design.X.copy()
        X.columns = [predictor_label(c) for c in X.columns]
        if X.columns.duplicated().any():  # two columns with one readable name: keep formulaic's
            X.columns = design.X.columns
        return X

    def stacked(self, pooled: bool = False, utilities: str = "group") -> StackedData:
        """The cells stacked for h_m01 with the formula's (or the pooled formula's) predictors.

        ``utilities`` (:data:`UTILITIES`) is ``"group"`` (cells of a utility
        group share delta) or ``"cell"`` (each cell its own delta).
        """
        if utilities not in UTILITIES:
            raise ValueError(f"utilities must be one of {', '.join(map(repr, UTILITIES))}, got {utilities!r}")
        key = f"stacked:{pooled}" + ("" if utilities == "group" else f":{utilities}")
        if key not in self._cache:
            groups = self.groups if utilities == "group" else {c: c for c in self.cell_ids}
            self._cache[key] = stack_cells(self.data, design=self.predictors(pooled), utility_group=groups)
        return self._cache[key]

    def choice_summary(self) -> pd.DataFrame:
        """Per cell, the menu sizes, the chosen positions and the repeat consistency (:func:`choice_distribution`)."""
        return choice_distribution(self.data, self.cell_ids)

    # -- the three fits --------------------------------------------------------------------

    def fit_independent(
        self,
        *,
        chains: int = 4,
        warmup: int = 1000,
        draws: int = 1000,
        seed: int = DEFAULT_SEED,
        retry_adapt_delta: float | None = 0.95,
        progress: bool = False,
        prob: float = 0.9,
        fit_function: Callable[..., Any] | None = None,
        diagnose_function: Callable[[Any], pd.DataFrame] | None = None,
        **sampler: Any,
    ) -> IndependentFits:
        """Fit m_01 to every cell with its prior; refit a fit with divergent transitions once.

        Row i of the cells table is fitted with seed ``seed + i``. A fit with
        divergent transitions is refitted with ``adapt_delta=retry_adapt_delta``
        (a smaller step size; None: no refit), and the refit is kept whatever
        its diagnostics; the first fit's diagnostics are kept in
        ``first_attempts`` so a report shows both. ``sampler`` goes to every
        fit (e.g. ``adapt_delta``). ``fit_function`` / ``diagnose_function``
        default to :func:`~seu_sensitivity.inference.fitting.fit` and to
        :func:`~seu_sensitivity.inference.diagnostics.diagnose` on alpha, beta
        and delta.
        """
        if fit_function is None:
            from seu_sensitivity.inference.fitting import fit as fit_function
        if diagnose_function is None:
            from seu_sensitivity.inference.diagnostics import diagnose

            def diagnose_function(idata: Any) -> pd.DataFrame:
                return diagnose(idata, var_names=_M01_CHECKED)
        iterator: Iterable[int] = range(len(self.cells))
        if progress:
            from tqdm.std import tqdm  # plain text on stderr: the render engine echoes it live

            iterator = tqdm(iterator, desc="m_01 fits", unit="fit")
        rows, fits, first = [], {}, {}
        start = time.perf_counter()
        for i in iterator:
            row = self.cells.iloc[i]
            cell_id = str(row["cell_id"])
            kwargs = dict(priors=self.cell_priors[cell_id], seed=int(seed) + i, chains=chains, warmup=warmup,
                          draws=draws, **sampler)
            idata = fit_function("m_01", self.data[cell_id], **kwargs)
            diag = diagnose_function(idata)
            adapt_delta = np.nan
            if retry_adapt_delta is not None and int(diag.loc["divergences", "value"]) > 0:
                first[cell_id] = diag
                kwargs["adapt_delta"] = retry_adapt_delta
                idata = fit_function("m_01", self.data[cell_id], **kwargs)
                diag = diagnose_function(idata)
                adapt_delta = float(retry_adapt_delta)
            fits[cell_id] = idata
            record = {c: row[c] for c in self.cells.columns}
            record.update(log_alpha_summary(idata.posterior["alpha"].values, prob=prob))
            record.update(_diagnostic_columns(diag))
            record.update(_reported_columns(idata))
            record["adapt_delta"] = adapt_delta
            rows.append(record)
        table = pd.DataFrame(rows)
        for name in self.cells.columns:  # keep the factors' Categorical order
            table[name] = table[name].astype(self.cells[name].dtype)
        table.attrs["prob"] = prob
        self.independent = IndependentFits(table=table, fits=fits, first_attempts=first,
                                           seconds=time.perf_counter() - start)
        self._cache.pop("independent_joint", None)
        return self.independent

    def fit_hierarchical(self, *, utilities: str = "group", seed: int = DEFAULT_SEED,
                         fit_function: Callable[..., Any] | None = None, **sampling: Any) -> Any:
        """Fit h_m01 with the formula's regression on log(alpha).

        ``utilities="group"`` (default) shares the utility increments delta
        within each utility group and stores the fit as :attr:`hierarchical`;
        ``utilities="cell"`` gives every cell its own delta, so the cells are
        tied only through the regression on log(alpha), and stores the fit as
        :attr:`hierarchical_own_delta` (read it with ``study.fit(OWN_DELTA)``).
        Comparing the two with the independent fits tells how much of a cell's
        move comes from pooling alpha and how much from sharing delta
        (:meth:`shrinkage`). ``sampling`` goes to :func:`seu_sensitivity.fit`:
        ``chains``, ``warmup`` and ``draws`` (default 4, 1000, 1000) and the
        sampler's settings (``adapt_delta``).
        """
        stacked = self.stacked(utilities=utilities)
        idata = (fit_function or _fit)("h_m01", stacked, priors=self.priors, seed=seed, **sampling)
        if utilities == "group":
            self.hierarchical = idata
        else:
            self.hierarchical_own_delta = idata
        return idata

    def fit_pooled(self, *, seed: int = DEFAULT_SEED, fit_function: Callable[..., Any] | None = None,
                   **sampling: Any) -> Any:
        """Fit complete pooling: h_m01 on the pooled formula with sigma_cell held at 0 (:data:`POOLED_FIXED`);
        ``sampling`` as for :meth:`fit_hierarchical`."""
        self.pooled = (fit_function or _fit)("h_m01", self.stacked(pooled=True), priors=self.priors,
                                             fixed=POOLED_FIXED, seed=seed, **sampling)
        return self.pooled

    def with_priors(self, priors: HM01Priors) -> "Study":
        """The same study under other h_m01 priors, without its hierarchical and pooled fits.

        Every other field (cells, data, formulas, groups, m_01 priors and the
        independent fits, which do not use these priors) is shared with this
        study, which keeps its own fits. Refit the copy to see how the answers
        move with the hyperpriors; its tables (:meth:`answers`,
        :meth:`heterogeneity`, :meth:`prior_sensitivity`) then use ``priors``:

        >>> # tight = study.with_priors(HM01Priors(gamma_sd=0.5)); tight.fit_hierarchical(seed=2)
        >>> import pandas as pd
        >>> from seu_sensitivity.model.simulate import simulate_cell
        >>> cells = pd.DataFrame({"cell_id": ["x", "y"], "llm": ["A", "B"]})
        >>> study = Study.from_cells(cells, {c: simulate_cell(M=20, R=6, D=2, seed=1)[0] for c in "xy"}, "~ llm")
        >>> tight = study.with_priors(HM01Priors(gamma_sd=0.5))
        >>> tight.priors.gamma_sd, study.priors.gamma_sd, tight.hierarchical is None
        (0.5, 1.0, True)
        """
        if not isinstance(priors, HM01Priors):
            raise ValueError(f"priors must be an HM01Priors, got {type(priors).__name__}")
        # designs and stacked data do not depend on the priors; the copy may reuse them
        reusable = {k: v for k, v in self._cache.items() if k.startswith(("design:", "stacked:"))}
        return replace(self, priors=priors, hierarchical=None, pooled=None, hierarchical_own_delta=None,
                       _cache=reusable)

    def fit(self, model: str) -> Any:
        """The stored fit of ``model`` ("independent", "hierarchical", "pooled" or :data:`OWN_DELTA`).

        The independent fits come as one InferenceData over the stacked
        observations (:func:`~seu_sensitivity.inference.loo.independent_inference_data`).
        """
        if model not in MODELS and model != OWN_DELTA:
            raise ValueError(f"model must be one of {', '.join([*MODELS, OWN_DELTA])}, got {model!r}")
        if getattr(self, model) is None:
            call = 'fit_hierarchical(utilities="cell")' if model == OWN_DELTA else f"fit_{model}()"
            raise ValueError(f"no {model} fit: call study.{call} first")
        if model != "independent":
            return getattr(self, model)
        if "independent_joint" not in self._cache:
            self._cache["independent_joint"] = independent_inference_data(self.independent.fits, self.cell_ids)
        return self._cache["independent_joint"]

    def fitted(self) -> dict[str, Any]:
        """The stored fits by their table names (:data:`MODELS`), in the order of :data:`MODELS`."""
        return {label: self.fit(model) for model, label in MODELS.items() if getattr(self, model) is not None}

    # -- what the fits say ----------------------------------------------------------------

    def answers(self, prob: float = 0.9) -> pd.DataFrame:
        """Every regression coefficient and sigma_cell of the hierarchical fit (:func:`answers_table`)."""
        return answers_table(self.fit("hierarchical"), prob=prob)

    def contrasts(self, weights: Mapping[str, Mapping[str, float]], prob: float = 0.9,
                  var: str = "gamma") -> pd.DataFrame:
        """One row per named linear combination of ``var`` (coefficients, or cells with ``"log_alpha"``).

        >>> # study.contrasts({"B - A at T = 0": {"llm: B": 1}, "slope B - A": {"temperature | B": 1}})

        Columns: mean, sd, lower, upper, P(> 0) (:func:`~seu_sensitivity.inference.effects.summarise`).
        """
        idata = self.fit("hierarchical")
        return pd.DataFrame({label: effects.summarise(effects.contrast(idata, w, var=var), prob=prob)
                             for label, w in weights.items()}).T

    def heterogeneity(self, prob: float = 0.9, thresholds: Sequence[float] = (0.1, 0.25)) -> pd.DataFrame:
        """sigma_cell of the hierarchical fit against its prior (:func:`~seu_sensitivity.inference.effects.heterogeneity`)."""
        return effects.heterogeneity(self.fit("hierarchical"), prior_sd=self.priors.sigma_cell_sd, prob=prob,
                                     thresholds=thresholds)

    def prior_sensitivity(self, *, threshold: float = 0.05, delta: float = 0.01) -> pd.DataFrame:
        """Power-scaling sensitivity of the hierarchical fit to its hyperpriors and to its likelihood.

        One row per gamma0, coefficient, sigma_cell and cell's alpha (cells by
        their :attr:`labels`), with the prior and likelihood sensitivities and
        the diagnosis (:func:`~seu_sensitivity.inference.sensitivity.hyperprior_sensitivity`).
        Only the hyperpriors are power-scaled; :meth:`with_priors` refits
        under other ones.
        """
        return hyperprior_sensitivity(self.fit("hierarchical"), self.priors, labels=self.labels,
                                      threshold=threshold, delta=delta)

    def estimates(self, model: str, prob: float = 0.9) -> pd.DataFrame:
        """Per cell: its factors and the posterior median and central interval of alpha under ``model``.

        Columns ``cell_id``, the factors, ``alpha``, ``alpha_lower``, ``alpha_upper``.
        """
        table = self.cells[["cell_id", *self.factors]].copy()
        if model == "independent":
            self.fit(model)
            summaries = [log_alpha_summary(self.independent.fits[c].posterior["alpha"].values, prob=prob)
                         for c in self.cell_ids]
            for name in ("alpha", "alpha_lower", "alpha_upper"):
                table[name] = [s[name] for s in summaries]
        else:
            intervals = _cell_intervals(self.fit(model), prob).loc[self.cell_ids]
            for name, column in (("alpha", "median"), ("alpha_lower", "lower"), ("alpha_upper", "upper")):
                table[name] = np.exp(intervals[column].to_numpy())
        table.attrs["prob"] = prob
        return table

    def shrinkage(self, prob: float = 0.9) -> pd.DataFrame:
        """Per cell, log(alpha) of the fits and the pull towards the regression line (:func:`shrinkage_table`).

        With a fit of :data:`OWN_DELTA` the table also splits each cell's move
        into pooling through the regression and sharing delta. ``prior_pull``
        is how far each independent fit's own LogNormal prior pulled its
        log(alpha) (:func:`~seu_sensitivity.inference.effects.prior_pull`,
        normal approximation; negative: pulled down).
        """
        if self.independent is None:
            raise ValueError("no independent fit: call study.fit_independent() first")
        table = shrinkage_table(self.independent.table, self.fit("hierarchical"), self.pooled, prob=prob,
                                columns=self.factors, own_delta=self.hierarchical_own_delta)
        ind = self.independent.table.set_index(self.independent.table["cell_id"].astype(str)).loc[table.index]
        priors = [self.cell_priors[c] for c in table.index]
        table["prior_pull"] = effects.prior_pull(table["independent"], ind["log_alpha_sd"],
                                                 [p.alpha_mu for p in priors], [p.alpha_sd for p in priors])
        return table

    def regression_lines(self, over: str | None = None, *, model: str = "hierarchical", points: int = 31,
                         prob: float = 0.9) -> pd.DataFrame:
        """The regression line of log(alpha) along the numeric factor ``over``, one per combination of the others.

        ``over`` defaults to the first numeric factor. Each combination of the
        other factors gets ``points`` evenly spaced values of ``over`` across
        the range its cells span, and the posterior of gamma0 + X gamma there
        (``model``: "hierarchical" or :data:`OWN_DELTA`; X from the formula's
        own coding, :meth:`design`). Columns: the other factors, ``over``,
        ``median``, ``lower`` and ``upper`` (central ``prob`` interval, log scale).
        """
        if model not in ("hierarchical", OWN_DELTA):
            raise ValueError(f"regression_lines: model must be 'hierarchical' or {OWN_DELTA!r}, got {model!r}")
        idata = self.fit(model)
        if over is None:
            numeric = [f for f in self.factors if _is_numeric(self.cells[f])]
            if not numeric:
                raise ValueError("regression_lines: the formula has no numeric factor to draw a line along")
            over = numeric[0]
        if over not in self.factors or not _is_numeric(self.cells[over]):
            raise ValueError(f"regression_lines: {over!r} is not a numeric factor of the formula ({', '.join(self.factors)})")
        others = [f for f in self.factors if f != over]
        design = self.design()
        rows = []
        for _, members in self.cells.groupby(others, observed=True, sort=False) if others else [((), self.cells)]:
            template = design.cells.set_index("cell_id").loc[str(members["cell_id"].iloc[0])]
            for value in np.linspace(members[over].min(), members[over].max(), points):
                rows.append({**template.to_dict(), over: float(value)})
        grid = pd.DataFrame(rows)
        for name in others:  # keep the factors' levels (and their coding) as in the design
            grid[name] = pd.Categorical(grid[name], categories=design.cells[name].cat.categories) \
                if isinstance(design.cells[name].dtype, pd.CategoricalDtype) else grid[name]
        X = _predictor_rows(design, grid)
        X.columns = list(self.predictors().columns)  # the fit's names for design.X's columns, in order
        line = effects.regression_mean(idata, X).values
        low, high = effects.tails(prob)
        lower, median, upper = np.quantile(line, [low, 0.5, high], axis=0)
        out = grid[[*others, over]].copy()
        out["median"], out["lower"], out["upper"] = median, lower, upper
        out.attrs["prob"] = prob
        return out.reset_index(drop=True)

    def loo_comparison(self) -> tuple[pd.DataFrame, dict[str, Any], pd.DataFrame]:
        """PSIS-LOO of the stored fits: ``(comparison, loos, pareto_k)``.

        ``comparison`` is ArviZ's ranked table (:func:`~seu_sensitivity.inference.loo.loo_table`),
        ``loos`` each model's ELPDData, ``pareto_k`` the Pareto k counts
        (:func:`~seu_sensitivity.inference.loo.pareto_k_counts`); models are named as in :data:`MODELS`.
        """
        models = self.fitted()
        if len(models) < 2:
            raise ValueError(f"loo_comparison needs two fits or more; the study has {', '.join(models) or 'none'}")
        comparison, loos = loo_table(models)
        return comparison, loos, pareto_k_counts(loos)

    #: the K-fold refits' names, as in the PSIS-LOO table
    KFOLD_MODELS = {"independent": "independent", "hierarchical": "hierarchical", "pooled": "complete pooling"}

    def kfold_refits(self, sampling: Mapping[str, Any], fit_options: Mapping[str, Mapping[str, Any]],
                     *, seed_step: int = FOLD_SEED_STEP) -> dict[str, FoldFit]:
        """Refits of the study's models on a fold's training data, for :func:`~seu_sensitivity.inference.kfold.kfold`.

        Each refit builds the same study on the training cells (formula,
        utility groups, m_01 and h_m01 priors, pooled formula) and fits one
        model with ``sampling`` and its ``fit_options`` (as
        :meth:`fit_independent`, :meth:`fit_hierarchical` and
        :meth:`fit_pooled` take them, with at most
        :data:`~seu_sensitivity.inference.kfold.MAX_DRAWS` draws per chain),
        the seed moved by ``seed_step * (fold + 1)``. Keys: ``"independent"``,
        ``"hierarchical"``, ``"complete pooling"`` (:data:`KFOLD_MODELS`), for
        the models ``fit_options`` names; the refits are not stored on the study.
        """
        unknown = set(fit_options) - set(self.KFOLD_MODELS)
        if unknown:
            raise ValueError(f"kfold_refits: unknown model(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(self.KFOLD_MODELS)}")
        sampling = dict(sampling)
        if "draws" in sampling:
            sampling["draws"] = min(int(sampling["draws"]), MAX_DRAWS)

        def training_study(train: Mapping[str, CellData]) -> "Study":
            return type(self).from_cells(self.cells, dict(train), self.formula, utility_group=self.groups,
                                         cell_priors=self.cell_priors, priors=self.priors,
                                         pooled_formula=self.pooled_formula)

        def refit(model: str) -> FoldFit:
            def fit(train: Mapping[str, CellData], fold: int) -> Any:
                options = dict(fit_options.get(model, {}))
                options["seed"] = int(options.get("seed", 0)) + seed_step * (fold + 1)
                fitted = getattr(training_study(train), f"fit_{model}")(**sampling, **options)
                return fitted.fits if model == "independent" else fitted
            return fit

        return {name: refit(model) for model, name in self.KFOLD_MODELS.items() if model in fit_options}

    def kfold_comparison(self, k: int, sampling: Mapping[str, Any], fit_options: Mapping[str, Mapping[str, Any]],
                         *, seed: int = KFOLD_SEED, progress: Callable[[str], None] | None = None
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Grouped K-fold cross-validation of the study's models: ``(table, pointwise)``.

        The base problems (menus) of each utility group are dealt into ``k``
        folds (:func:`~seu_sensitivity.inference.kfold.grouped_folds` with the
        study's utility groups as strata and ``seed``), every model of
        ``fit_options`` is refitted without each fold (:meth:`kfold_refits`)
        and the held-out choices scored
        (:func:`~seu_sensitivity.inference.kfold.kfold`: ``pointwise``, one
        row per observation); ``table`` is
        :func:`~seu_sensitivity.inference.kfold.kfold_compare` of it, its
        standard errors over base problems.
        """
        folds = grouped_folds(self.data, k, strata=self.groups, seed=seed)
        pointwise = kfold(self.data, folds, self.kfold_refits(sampling, fit_options), strata=self.groups,
                          progress=progress)
        return kfold_compare(pointwise), pointwise

    def ppc_table(self, model: str = "hierarchical", prob: float = 0.9, max_draws: int = 400) -> pd.DataFrame:
        """Per-cell posterior predictive checks of ``model`` (:func:`cell_ppc_table`)."""
        return cell_ppc_table(self.stacked(), self.fit(model), prob=prob, max_draws=max_draws)

    # -- figures ---------------------------------------------------------------------------------

    def forest_plot(
        self,
        models: Sequence[str] = ("independent",),
        *,
        prob: float = 0.9,
        rows: str | None = None,
        columns: str | None = None,
        within: str | None = None,
        tick_format: str | None = None,
        figsize: tuple[float, float] | None = None,
    ):
        """alpha of every cell under ``models``, side by side: a panel per factor combination, a row per level of ``within``.

        By default ``within`` is the first numeric factor (else the last
        factor) and the other factors (at most two) make the panels' rows and
        columns. See :func:`~seu_sensitivity.plots.study.forest_plot`.
        """
        from seu_sensitivity.plots.study import forest_plot

        if within is None:
            numeric = [f for f in self.factors if _is_numeric(self.cells[f])]
            within = numeric[0] if numeric else self.factors[-1]
        if rows is None and columns is None:
            panels = [f for f in self.factors if f != within]
            if len(panels) > 2:
                raise ValueError(f"forest_plot: factors {', '.join(panels)} besides {within!r}; "
                                 "choose rows= and columns= (and within=)")
            rows, columns = (panels[0], panels[1]) if len(panels) == 2 else (None, panels[0] if panels else None)
        return forest_plot({m: self.estimates(m, prob) for m in models}, rows=rows, columns=columns, within=within,
                           tick_format=tick_format, figsize=figsize)

    def ppc_plot(self, model: str = "hierarchical", *, prob: float = 0.9, max_draws: int = 400,
                 x: str | None = None, rows: str | None = None, columns: str | None = None,
                 xlabel: str | None = None, figsize: tuple[float, float] | None = None):
        """Repeat consistency of every cell under ``model``: observed against the predictive median and interval.

        One panel per combination of the factors other than ``x`` (by default
        the first numeric factor, else the last factor; at most two others,
        as ``rows`` and ``columns``), the cells of a panel along ``x``, one y
        axis for all panels (:func:`~seu_sensitivity.plots.checks.interval_panels`).
        Observed values with a p-value below 0.05 or above 0.95 are filled.
        """
        from seu_sensitivity.plots.checks import interval_panels

        if x is None:
            numeric = [f for f in self.factors if _is_numeric(self.cells[f])]
            x = numeric[0] if numeric else self.factors[-1]
        if rows is None and columns is None:
            panels = [f for f in self.factors if f != x]
            if len(panels) > 2:
                raise ValueError(f"ppc_plot: factors {', '.join(panels)} besides {x!r}; choose rows= and columns= (and x=)")
            rows, columns = (panels[0], panels[1]) if len(panels) == 2 else (None, panels[0] if panels else None)
        table = self.ppc_table(model, prob=prob, max_draws=max_draws)
        view = self.cells.set_index("cell_id").join(table.rename(columns={
            "consistency": "observed", "replicated consistency": "replicated", "consistency lower": "lower",
            "consistency upper": "upper", "p consistency": "p"}))
        return interval_panels(view, x=x, rows=rows, columns=columns, prob=prob, figsize=figsize, xlabel=xlabel,
                               ylabel="share of repeated menus\nanswered alike")


def _predictor_rows(design: Design, frame: pd.DataFrame) -> pd.DataFrame:
    """X of the rows of ``frame`` (the design's cell columns) in the design's coding and column names."""
    if design.model_spec is not None:
        matrix = design.model_spec.get_model_matrix(frame)
        X = pd.DataFrame(np.asarray(matrix, dtype=float), columns=list(matrix.columns)).drop(columns="Intercept")
        if list(X.columns) == list(design.X.columns):
            return X
    needed = [c for c in design.cells.columns if c != "cell_id"]
    return pd.DataFrame([design.predictor_row(**{c: row[c] for c in needed}) for _, row in frame.iterrows()])


def _fit(model: str, data: Any, **kwargs: Any) -> Any:
    from seu_sensitivity.inference.fitting import fit

    return fit(model, data, **kwargs)


def _is_numeric(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype)


def _table_order(cells: pd.DataFrame, names: Iterable[str]) -> list[str]:
    """``names`` in the order of the columns of ``cells`` (names the table lacks last, sorted)."""
    names = set(names)
    present = [str(c) for c in cells.columns if c in names]
    return present + sorted(names - set(present))
