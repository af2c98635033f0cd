"""The factorial pilot re-analysed: designs, the three fits, and the tables that compare them.

The application chapter asks how the SEU sensitivity alpha of two LLMs
varies with task and sampling temperature, and answers it three ways:

* **independent**: m_01 on each of the 20 datasets, with its task's
  calibrated prior (:func:`fit_independent`);
* **hierarchical**: one h_m01 whose regression on log(alpha) has the LLM, the
  task, their interaction and one temperature slope per LLM x task
  (:data:`PILOT_FORMULA`, :func:`pilot_predictors`);
* **complete pooling**: one alpha per task (:func:`pooled_predictors`,
  :data:`POOLED_FIXED`).

The three share the same observations in the same order, so their
per-observation log likelihoods can be compared by PSIS-LOO
(:func:`independent_inference_data` assembles the independent fits into one
InferenceData for that). :func:`shrinkage_table` puts the per-cell estimates
side by side, :func:`cell_ppc_table` checks each cell.

>>> import pandas as pd
>>> cells = pd.DataFrame({"cell_id": ["a", "b", "c", "d"], "llm": ["gpt-4o", "gpt-4o", "claude-sonnet-4", "claude-sonnet-4"],
...                       "task": ["insurance", "ellsberg"] * 2, "temperature": [0.0, 0.5, 0.0, 0.5]})
>>> list(pooled_predictors(cells).columns)
['task: ellsberg']
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from seu_sensitivity.inference import psis
from seu_sensitivity.inference.convergence import ess_mean
from seu_sensitivity.datasets import PILOT_LLMS, PILOT_TASKS
from seu_sensitivity.model.design import design_from_formula
from seu_sensitivity.datasets import TASK_PRIORS
from seu_sensitivity.model.stacking import CellData, StackedData, stack_cells

__all__ = [
    "PILOT_FORMULA",
    "POOLED_FORMULA",
    "POOLED_FIXED",
    "INDEPENDENT_SEED",
    "HIERARCHICAL_SEED",
    "POOLED_SEED",
    "HIERARCHICAL_SAMPLER",
    "short_predictor_name",
    "pilot_predictors",
    "pooled_predictors",
    "stack_pilot",
    "IndependentFits",
    "fit_independent",
    "independent_inference_data",
    "log_alpha_summary",
    "shrinkage_table",
    "answers_table",
    "cell_ppc_table",
    "choice_distribution",
    "loo_table",
    "relative_efficiency",
    "pareto_k_counts",
    "cell_consistency_draws",
]

#: the hierarchical regression of the chapter. Temperature enters raw (not
#: centred): T = 0 (greedy decoding) is the one temperature that means the
#: same for both providers, so the LLM and task effects and their interaction
#: are read there. One slope per LLM x task, since the providers' scales differ.
PILOT_FORMULA = "~ llm * task + llm:task:temperature"

#: complete pooling: one alpha per task
POOLED_FORMULA = "~ task"

#: complete pooling in h_m01: sigma_cell held at 0, so every cell sits on the
#: regression line of :data:`POOLED_FORMULA` (one alpha per task); gamma0 and
#: the task effect stay free. Pass as ``fit("h_m01", data, fixed=POOLED_FIXED)``.
POOLED_FIXED: dict[str, float] = {"sigma_cell": 0.0}

#: seeds of the hierarchical and the complete-pooling fits
HIERARCHICAL_SEED = 20250801
POOLED_SEED = 20250802

#: sampler settings of both h_m01 fits: a smaller step size than Stan's default
#: (adapt_delta 0.8), since hierarchical scales with few groups invite divergences
HIERARCHICAL_SAMPLER: dict[str, float] = {"adapt_delta": 0.9}

#: base seed of the independent fits; the fit of row i of the cells table uses INDEPENDENT_SEED + i
INDEPENDENT_SEED = 20250800


def short_predictor_name(column: str) -> str:
    """A readable label for a formulaic column name of :data:`PILOT_FORMULA`.

    >>> short_predictor_name("llm[T.claude-sonnet-4]:task[T.ellsberg]")
    'llm x task: claude-sonnet-4 x ellsberg'
    >>> short_predictor_name("llm[gpt-4o]:task[insurance]:temperature")
    'temperature | gpt-4o, insurance'
    """
    parts = column.split(":")
    levels: list[str] = []
    factors: list[str] = []
    continuous: list[str] = []
    for part in parts:
        if "[" in part and part.endswith("]"):
            factor, level = part[:-1].split("[", 1)
            levels.append(level[2:] if level.startswith("T.") else level)
            factors.append(factor)
        else:
            continuous.append(part)
    if continuous:
        return f"{' '.join(continuous)} | {', '.join(levels)}" if levels else " ".join(continuous)
    return f"{' x '.join(factors)}: {' x '.join(levels)}"


def _check_cells(cells: pd.DataFrame, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in cells.columns]
    if missing:
        raise ValueError(f"cells: missing column(s) {', '.join(missing)}")


def _ordered(cells: pd.DataFrame) -> pd.DataFrame:
    """llm and task as Categoricals with the chapter's reference levels first (gpt-4o, insurance)."""
    cells = cells.copy()
    for name, levels in (("llm", PILOT_LLMS), ("task", PILOT_TASKS)):
        if name in cells.columns and not isinstance(cells[name].dtype, pd.CategoricalDtype):
            present = [level for level in levels if level in set(cells[name])]
            others = sorted(set(cells[name]) - set(levels))
            cells[name] = pd.Categorical(cells[name], categories=present + others)
    return cells


def pilot_predictors(cells: pd.DataFrame, formula: str = PILOT_FORMULA) -> pd.DataFrame:
    """The predictors of log(alpha) for the pilot cells (J x P, indexed by cell_id, readable names).

    Built by :func:`~seu_sensitivity.model.design.design_from_formula`, which
    refuses rank-deficient designs, so a returned X is always estimable
    alongside gamma0.

    >>> cells = pd.DataFrame({"cell_id": list("abcdefgh"),
    ...     "llm": ["gpt-4o"] * 4 + ["claude-sonnet-4"] * 4, "task": ["insurance", "insurance", "ellsberg", "ellsberg"] * 2,
    ...     "temperature": [0.0, 1.0] * 4})
    >>> X = pilot_predictors(cells)
    >>> X.shape, float(X.loc["h", "temperature | claude-sonnet-4, ellsberg"])
    ((8, 7), 1.0)
    """
    _check_cells(cells, ("cell_id", "llm", "task", "temperature"))
    design = design_from_formula(_ordered(cells), formula)
    X = design.X.copy()
    X.columns = [short_predictor_name(c) for c in X.columns]
    if X.columns.duplicated().any():  # two formulaic columns with one readable name: keep the originals
        X.columns = design.X.columns
    return X


def pooled_predictors(cells: pd.DataFrame) -> pd.DataFrame:
    """The complete-pooling design: the task alone (one alpha per task with :data:`POOLED_FIXED`)."""
    return pilot_predictors(cells, POOLED_FORMULA)


def stack_pilot(cells: pd.DataFrame, data: Mapping[str, CellData], X: pd.DataFrame) -> StackedData:
    """Stack the pilot cells in the order of ``cells`` with predictors ``X``; delta is shared within each task.

    Each cell keeps its own feature matrix (the embeddings differ between
    datasets) and its own K (3 insurance, 4 Ellsberg).
    """
    _check_cells(cells, ("cell_id", "task"))
    ids = [str(c) for c in cells["cell_id"]]
    missing = [c for c in ids if c not in data]
    if missing:
        raise ValueError(f"stack_pilot: no data for cell(s) {', '.join(missing)}")
    groups = dict(zip(ids, (str(t) for t in cells["task"])))
    return stack_cells({c: data[c] for c in ids}, design=X, utility_group=groups)


# -- independent fits -----------------------------------------------------------


@dataclass
class IndependentFits:
    """The 20 (or J) m_01 fits of the chapter.

    ``table`` has one row per cell (the cells table's columns, then the
    posterior of alpha and the diagnostics of the fit kept); ``fits`` maps
    cell_id to the kept InferenceData; ``first_attempts`` maps the cell ids that
    were refitted to the diagnostics table of their first fit, so a report
    can show what the retry fixed; ``seconds`` is the wall time of the run.
    """

    table: pd.DataFrame
    fits: dict[str, Any]
    first_attempts: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0


def log_alpha_summary(draws: np.ndarray, prob: float = 0.9) -> dict[str, float]:
    """Median and central interval of alpha, and mean and sd of log(alpha), from alpha draws.

    >>> s = log_alpha_summary(np.exp(np.linspace(-1, 1, 101)), prob=0.5)
    >>> round(s["alpha"], 6), round(s["log_alpha_mean"], 6)
    (1.0, 0.0)
    """
    values = np.log(np.asarray(draws, dtype=float).ravel())
    low, high = (1 - prob) / 2, (1 + prob) / 2
    lower, median, upper = np.quantile(values, [low, 0.5, high])
    return {
        "alpha": float(np.exp(median)),
        "alpha_lower": float(np.exp(lower)),
        "alpha_upper": float(np.exp(upper)),
        "log_alpha_mean": float(values.mean()),
        "log_alpha_sd": float(values.std(ddof=1)),
    }


def _diagnostic_columns(table: pd.DataFrame) -> dict[str, Any]:
    return {
        "max_rhat": float(table.loc["max R-hat", "value"]),
        "min_ess_bulk": float(table.loc["min bulk ESS", "value"]),
        "min_ess_tail": float(table.loc["min tail ESS", "value"]),
        "divergences": int(table.loc["divergences", "value"]),
        "trustworthy": bool(table.attrs.get("trustworthy", table["ok"].all())),
    }


def fit_independent(
    cells: pd.DataFrame,
    data: Mapping[str, CellData],
    *,
    sampling: Mapping[str, int],
    seed: int = INDEPENDENT_SEED,
    retry_adapt_delta: float | None = 0.95,
    priors: Mapping[str, Any] | None = None,
    progress: bool = True,
    prob: float = 0.9,
    fit_function: Any = None,
    diagnose_function: Any = None,
) -> IndependentFits:
    """Fit m_01 to every cell with its task's calibrated prior; refit divergent fits once.

    Row i of ``cells`` is fitted with seed ``seed + i``. A fit with
    divergent transitions is refitted with ``adapt_delta=retry_adapt_delta``
    (a smaller step size), and the refit is kept whatever its diagnostics;
    the first fit's diagnostics are returned in ``first_attempts`` so a
    report shows both. ``priors`` maps task -> M01Priors (default
    :data:`~seu_sensitivity.datasets.TASK_PRIORS`).

    ``fit_function`` / ``diagnose_function`` default to
    :func:`seu_sensitivity.inference.fitting.fit` and
    :func:`seu_sensitivity.inference.diagnostics.diagnose` on alpha, beta and delta
    (tests pass fakes).
    """
    if fit_function is None:
        from seu_sensitivity.inference.fitting import fit as fit_function
    if diagnose_function is None:
        from seu_sensitivity.inference.diagnostics import diagnose

        def diagnose_function(idata: Any) -> pd.DataFrame:
            # eta is a deterministic function of beta and delta: checking it again only costs time
            return diagnose(idata, var_names=["alpha", "beta", "delta"])
    priors = dict(priors or TASK_PRIORS)
    _check_cells(cells, ("cell_id", "task"))
    rows, fits, first = [], {}, {}
    iterator: Iterable[int] = range(len(cells))
    if progress:
        from tqdm.std import tqdm  # plain text on stderr: the render engine echoes it live (tqdm.auto would draw a widget)

        iterator = tqdm(iterator, desc="m_01 fits", unit="fit")
    start = time.perf_counter()
    for i in iterator:
        row = cells.iloc[i]
        cell_id, task = str(row["cell_id"]), str(row["task"])
        if task not in priors:
            raise ValueError(f"fit_independent: no prior for task {task!r} (have {sorted(priors)})")
        kwargs = dict(priors=priors[task], seed=int(seed) + i, **dict(sampling))
        idata = fit_function("m_01", data[cell_id], **kwargs)
        diag = diagnose_function(idata)
        adapt_delta = np.nan
        if retry_adapt_delta is not None and int(diag.loc["divergences", "value"]) > 0:
            first[cell_id] = diag
            idata = fit_function("m_01", data[cell_id], adapt_delta=retry_adapt_delta, **kwargs)
            diag = diagnose_function(idata)
            adapt_delta = float(retry_adapt_delta)
        fits[cell_id] = idata
        record = {c: row[c] for c in cells.columns}
        record.update(log_alpha_summary(idata.posterior["alpha"].values, prob=prob))
        record.update(_diagnostic_columns(diag))
        record["adapt_delta"] = adapt_delta
        rows.append(record)
    table = pd.DataFrame(rows)
    table.attrs["prob"] = prob
    return IndependentFits(table=table, fits=fits, first_attempts=first, seconds=time.perf_counter() - start)


def independent_inference_data(fits: Mapping[str, Any], order: Sequence[str]):
    """The independent fits as one InferenceData over the stacked observations, for LOO.

    The log likelihoods of the cells are concatenated along ``obs`` in
    ``order`` (the stacking order of the hierarchical data), so observation
    ``m`` is the same choice in all three models. Pairing draw d of every
    cell's fit is a draw of the joint posterior, because the cells' posteriors
    are independent. The posterior holds each cell's alpha (dimension
    ``cell``) so that ArviZ can estimate the relative efficiency. All fits
    must have the same chains and draws.
    """
    import arviz as az

    order = [str(c) for c in order]
    missing = [c for c in order if c not in fits]
    if missing:
        raise KeyError(f"independent_inference_data: no fit for cell(s) {', '.join(missing)}")
    shapes = {c: (fits[c].log_likelihood["y"].sizes["chain"], fits[c].log_likelihood["y"].sizes["draw"]) for c in order}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"independent_inference_data: fits differ in (chains, draws): {shapes}")
    log_lik = np.concatenate([fits[c].log_likelihood["y"].transpose("chain", "draw", ...).values for c in order], axis=-1)
    alpha = np.stack([fits[c].posterior["alpha"].transpose("chain", "draw").values for c in order], axis=-1)
    groups: dict[str, Any] = {"posterior": {"alpha": alpha}, "log_likelihood": {"y": log_lik}}
    if all("observed_data" in fits[c].groups() for c in order):
        groups["observed_data"] = {"y": np.concatenate([fits[c].observed_data["y"].values for c in order])}
    if all("posterior_predictive" in fits[c].groups() for c in order):
        groups["posterior_predictive"] = {
            "y": np.concatenate(
                [fits[c].posterior_predictive["y"].transpose("chain", "draw", ...).values for c in order], axis=-1
            )
        }
    return az.from_dict(
        **groups,
        dims={"alpha": ["cell"], "y": ["obs"]},
        coords={"cell": order, "obs": list(range(log_lik.shape[-1]))},
        attrs={"model": "m_01 x J (independent)"},
    )


# -- comparison tables ---------------------------------------------------------------


def _cell_log_alpha(idata: Any, prob: float) -> pd.DataFrame:
    from seu_sensitivity.inference.effects import draws_of

    draws = draws_of(idata, "log_alpha")
    low, high = (1 - prob) / 2, (1 + prob) / 2
    values = draws.values
    lower, median, upper = np.quantile(values, [low, 0.5, high], axis=0)
    return pd.DataFrame(
        {"median": median, "lower": lower, "upper": upper, "sd": values.std(axis=0, ddof=1)},
        index=pd.Index([str(c) for c in draws[draws.dims[1]].values], name="cell_id"),
    )


def shrinkage_table(
    independent: pd.DataFrame,
    hierarchical: Any,
    pooled: Any | None = None,
    prob: float = 0.9,
) -> pd.DataFrame:
    """Per cell, log(alpha) under the independent, hierarchical (and pooled) fits, and the shrinkage.

    ``independent`` is :attr:`IndependentFits.table`; ``hierarchical`` and
    ``pooled`` are h_m01 fits. Columns: ``independent``, ``hierarchical``,
    ``pooled`` (posterior medians of log alpha), ``line`` (posterior median of
    the regression line gamma0 + X_j gamma), the interval widths
    ``width_independent`` and ``width_hierarchical``, ``shift`` (hierarchical
    minus independent median) and ``pulled`` = shift / (line - independent):
    the fraction of the way from the independent estimate to the regression
    line (0: no pooling, 1: the cell is its regression prediction). ``pulled``
    is NaN where the independent estimate is within 0.05 of the line, since
    the ratio is then noise.
    """
    from seu_sensitivity.inference.effects import regression_mean

    ind = independent.set_index(independent["cell_id"].astype(str))
    hier = _cell_log_alpha(hierarchical, prob)
    unknown = [c for c in hier.index if c not in ind.index]
    if unknown:
        raise KeyError(f"shrinkage_table: cells of the hierarchical fit without an independent fit: {unknown}")
    out = pd.DataFrame(index=hier.index)
    for column in ("llm", "task", "temperature"):
        if column in ind.columns:
            out[column] = ind.loc[hier.index, column].to_numpy()
    # the independent interval from the alpha quantiles (exact: log is monotone)
    out["independent"] = np.log(ind.loc[hier.index, "alpha"].to_numpy(dtype=float))
    out["independent_lower"] = np.log(ind.loc[hier.index, "alpha_lower"].to_numpy(dtype=float))
    out["independent_upper"] = np.log(ind.loc[hier.index, "alpha_upper"].to_numpy(dtype=float))
    out["hierarchical"] = hier["median"]
    out["hierarchical_lower"] = hier["lower"]
    out["hierarchical_upper"] = hier["upper"]
    if pooled is not None:
        pool = _cell_log_alpha(pooled, prob).loc[hier.index]
        out["pooled"] = pool["median"]
        out["pooled_lower"] = pool["lower"]
        out["pooled_upper"] = pool["upper"]
    line = regression_mean(hierarchical)
    out["line"] = np.median(line.values, axis=0)
    out["width_independent"] = out["independent_upper"] - out["independent_lower"]
    out["width_hierarchical"] = out["hierarchical_upper"] - out["hierarchical_lower"]
    out["shift"] = out["hierarchical"] - out["independent"]
    gap = out["line"] - out["independent"]
    out["pulled"] = np.where(np.abs(gap) > 0.05, out["shift"] / gap.where(np.abs(gap) > 0.05, 1.0), np.nan)
    out.attrs["prob"] = prob
    return out


def answers_table(idata: Any, prob: float = 0.9) -> pd.DataFrame:
    """The chapter's questions answered from the hierarchical fit, one row per quantity.

    Rows: every regression coefficient (:func:`~seu_sensitivity.inference.effects.effects_table`),
    then ``sigma_cell``. Columns: ``mean``, ``lower``, ``upper`` (log scale),
    ``exp(gamma)`` (multiplicative effect on alpha, exp of the median),
    ``exp lower``, ``exp upper`` and ``P(> 0)`` (posterior probability that
    the coefficient is positive; for sigma_cell, P(sigma_cell > 0.1)).
    """
    from seu_sensitivity.inference.effects import draws_of, effects_table

    effects = effects_table(idata, prob=prob)
    table = effects[["mean", "lower", "upper", "exp(gamma)", "exp lower", "exp upper", "P(gamma > 0)"]].rename(
        columns={"P(gamma > 0)": "P(> 0)"}
    )
    sigma = draws_of(idata, "sigma_cell").values.ravel()
    low, high = (1 - prob) / 2, (1 + prob) / 2
    lower, upper = np.quantile(sigma, [low, high])
    table.loc["sigma_cell"] = [sigma.mean(), lower, upper, np.nan, np.nan, np.nan, float(np.mean(sigma > 0.1))]
    table.attrs["prob"] = prob
    return table


def choice_distribution(data: Mapping[str, CellData], order: Sequence[str]) -> pd.DataFrame:
    """Per cell: counts of menu sizes and of the chosen menu position, and the repeat consistency.

    Columns ``menus of 2``, ``menus of 3``, ... (number of problems with that
    menu size), ``chose 1st``, ``chose 2nd``, ... (share of problems in which
    that position, in increasing alternative index, was chosen; a model that
    ignores content and picks by position would show a spike here) and
    ``repeat consistency`` (share of repeated menus always answered alike).
    """
    from seu_sensitivity.inference.ppc import repeat_consistency

    rows = {}
    for cell_id in order:
        cell = data[cell_id]
        sizes = pd.Series(cell.menu_sizes).value_counts()
        row: dict[str, float] = {f"menus of {s}": int(sizes.get(s, 0)) for s in range(2, int(cell.menu_sizes.max()) + 1)}
        for position in range(1, int(cell.menu_sizes.max()) + 1):
            row[f"chose {_ordinal(position)}"] = float(np.mean(cell.y == position))
        row["repeat consistency"] = float(repeat_consistency(cell.I, cell.y))
        rows[cell_id] = row
    table = pd.DataFrame.from_dict(rows, orient="index").fillna(0)
    table.index.name = "cell_id"
    return table


def _ordinal(n: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(n, f"{n}th")


def cell_ppc_table(stacked: StackedData, idata: Any, prob: float = 0.9, max_draws: int = 400) -> pd.DataFrame:
    """Posterior predictive checks of each cell of a stacked fit.

    For cell j: ``consistency`` (observed share of repeated menus answered
    alike), its replicated median and ``p consistency`` (posterior predictive
    p-value), and ``share coverage`` (fraction of the alternatives whose
    observed choice share lies in the central ``prob`` predictive interval).
    Uses at most ``max_draws`` evenly spaced replications (the statistics loop
    over draws in Python).
    """
    from seu_sensitivity.inference.ppc import choice_shares, ppc_p_value, repeat_consistency

    y_rep = idata.posterior_predictive["y"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    if y_rep.shape[-1] != stacked.M:
        raise ValueError(f"cell_ppc_table: the fit has {y_rep.shape[-1]} observations, the data {stacked.M}")
    keep = np.unique(np.linspace(0, y_rep.shape[0] - 1, min(max_draws, y_rep.shape[0])).astype(int))
    y_rep = y_rep[keep]
    low, high = (1 - prob) / 2, (1 + prob) / 2
    rows = {}
    for j, cell_id in enumerate(stacked.cell_ids):
        rows_j = np.flatnonzero(stacked.cell_of == j + 1)
        I, y, rep = stacked.I[rows_j], stacked.y[rows_j], y_rep[:, rows_j]
        observed = repeat_consistency(I, y)
        replicated = repeat_consistency(I, rep)
        shares, rep_shares = choice_shares(I, y), choice_shares(I, rep)
        lower, upper = np.nanquantile(rep_shares, [low, high], axis=0)
        offered = ~np.isnan(shares)
        inside = (shares >= lower - 1e-12) & (shares <= upper + 1e-12)
        rows[cell_id] = {
            "consistency": float(observed),
            "replicated consistency": float(np.median(replicated)),
            "p consistency": float(ppc_p_value(observed, replicated)),
            "share coverage": float(np.mean(inside[offered])),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "cell_id"
    return table


def cell_consistency_draws(stacked: StackedData, idata: Any, max_draws: int = 400) -> dict[str, tuple[float, np.ndarray]]:
    """Per cell: (observed repeat consistency, its replicated draws), for the PPC grid figure."""
    from seu_sensitivity.inference.ppc import repeat_consistency

    y_rep = idata.posterior_predictive["y"].stack(sample=("chain", "draw")).transpose("sample", ...).values
    keep = np.unique(np.linspace(0, y_rep.shape[0] - 1, min(max_draws, y_rep.shape[0])).astype(int))
    out = {}
    for j, cell_id in enumerate(stacked.cell_ids):
        rows_j = np.flatnonzero(stacked.cell_of == j + 1)
        I = stacked.I[rows_j]
        out[cell_id] = (float(repeat_consistency(I, stacked.y[rows_j])),
                        np.asarray(repeat_consistency(I, y_rep[keep][:, rows_j])))
    return out


def relative_efficiency(idata: Any) -> float:
    """Mean relative efficiency (ESS / draws) of the posterior, for PSIS-LOO, ignoring NaN and constant entries.

    ArviZ's default averages the ESS of every posterior variable, and one NaN
    (the padding of h_m01's ragged beta and delta, or a quantity held fixed)
    turns its average into NaN; here those entries are left out.

    >>> import arviz as az
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"a": rng.normal(size=(4, 1000)), "pad": np.full((4, 1000), np.nan)})
    >>> 0.8 < relative_efficiency(idata) < 1.2
    True
    """
    posterior = idata.posterior
    n = posterior.sizes["chain"] * posterior.sizes["draw"]
    if posterior.sizes["chain"] < 2:
        return 1.0
    # vectorised (convergence.ess_mean gives ArviZ's numbers), not ArviZ's loop over elements
    values = np.concatenate([
        ess_mean(posterior[v].transpose("chain", "draw", ...).values).ravel() for v in posterior.data_vars
    ])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 1.0
    return float(np.mean(values) / n)


def loo_table(models: Mapping[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """PSIS-LOO of each model (:func:`seu_sensitivity.inference.psis.loo`) and ArviZ's comparison (``az.compare``, stacking weights).

    Returns ``(comparison, loos)``: the comparison table (ranked, best first)
    and each model's ``ELPDData`` (for the Pareto k diagnostics). All models
    must have the same number of observations.
    """
    import arviz as az

    sizes = {name: idata.log_likelihood["y"].sizes["obs"] for name, idata in models.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"loo_table: the models have different numbers of observations: {sizes}")
    # psis.loo: az.loo's numbers, without its per-observation Python loop
    loos = {name: psis.loo(idata, reff=relative_efficiency(idata)) for name, idata in models.items()}
    comparison = az.compare(dict(loos))
    return comparison, loos


def pareto_k_counts(loos: Mapping[str, Any], thresholds: Sequence[float] = (0.7, 1.0)) -> pd.DataFrame:
    """Number of observations whose Pareto k exceeds each threshold, per model (PSIS reliability)."""
    rows = {}
    for name, loo in loos.items():
        k = np.asarray(loo.pareto_k)
        rows[name] = {f"k > {t:g}": int(np.sum(k > t)) for t in thresholds} | {"max k": float(np.max(k))}
    return pd.DataFrame.from_dict(rows, orient="index")
