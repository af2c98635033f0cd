"""The convergence table a chapter shows, and the flags it acts on.

>>> import numpy as np, arviz as az
>>> rng = np.random.default_rng(0)
>>> idata = az.from_dict(posterior={"mu": rng.normal(size=(4, 500))},
...                      sample_stats={"diverging": np.zeros((4, 500), bool), "energy": rng.normal(size=(4, 500))})
>>> table = diagnose(idata)
>>> bool(table["ok"].all()), table.attrs["trustworthy"]
(True, True)
>>> list(table.index)
['max R-hat', 'min bulk ESS', 'min tail ESS', 'divergences', 'min E-BFMI']
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from . import convergence

__all__ = ["diagnose", "diagnose_by_group", "group_table", "verdict", "compare", "compare_means", "COMPARISON_FORMATS",
           "REPORTED", "BELIEFS_AND_UTILITIES", "QUANTITY_GROUPS", "HIERARCHY_GROUPS"]

#: what the book reports of a fit: the regression, every cell's sensitivity, and the
#: expected utilities as the choices see them (``eta_logit``: alpha_j (eta_jr - mean_r eta_jr))
REPORTED = ("gamma0", "gamma", "sigma_cell", "alpha", "eta_logit")
#: the beliefs and utilities, identified only jointly (a delta-beta trade-off), and the
#: expected utilities' level (``eta`` itself), which no choice sees: the prior alone sets them
BELIEFS_AND_UTILITIES = ("eta", "beta", "delta")
#: the same quantities, finer: one group per kind, reported ones first (for a report's table)
QUANTITY_GROUPS: dict[str, tuple[str, ...]] = {
    "regression": ("gamma0", "gamma", "sigma_cell"),
    "sensitivities alpha": ("alpha",),
    "utility logits": ("eta_logit",),
    "expected utilities eta (level)": ("eta",),
    "beliefs beta": ("beta",),
    "utility increments delta": ("delta",),
}
#: the same quantities in four groups: the regression, the sensitivities, the utility
#: logits, and the beliefs and utilities together (for a table with one row per fit)
HIERARCHY_GROUPS: dict[str, tuple[str, ...]] = {
    "regression": ("gamma0", "gamma", "sigma_cell"),
    "sensitivities": ("alpha",),
    "utility logits": ("eta_logit",),
    "beliefs and utilities": BELIEFS_AND_UTILITIES,
}


def _worst(dataset, pick) -> tuple[float, str]:
    """(value, 'var[label]') of the extreme entry over all variables, ignoring NaN (e.g. padded cells)."""
    best_value, best_where = np.nan, ""
    for name, array in dataset.data_vars.items():
        values = np.asarray(array.values, dtype=float)
        if values.size == 0 or np.all(np.isnan(values)):
            continue
        flat = int(pick(values.reshape(-1)))
        value = float(values.reshape(-1)[flat])
        if np.isnan(best_value) or pick(np.array([best_value, value])) == 1:
            index = np.unravel_index(flat, values.shape) if values.ndim else ()
            labels = [str(array[dim].values[i]) if dim in array.coords else str(i) for dim, i in zip(array.dims, index)]
            best_value, best_where = value, name + (f"[{', '.join(labels)}]" if labels else "")
    return best_value, best_where


def _convergence(posterior: xr.Dataset) -> dict[str, xr.Dataset]:
    """R-hat, bulk and tail ESS of every element, as ``az.rhat`` / ``az.ess`` return them
    (one variable per parameter, chain and draw reduced) but vectorised over the elements."""
    template = posterior.isel(chain=0, draw=0, drop=True)  # dims and coords of one element per variable
    shapes = {name: template.variables[name].shape for name in template.data_vars}
    sizes = [int(np.prod(shape)) for shape in shapes.values()]
    starts = np.cumsum([0, *sizes])
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    # all variables side by side in one call: the per-call overhead matters for many small variables
    stacked = np.empty((chains, draws, starts[-1]))
    for name, start, size in zip(shapes, starts, sizes):
        stacked[:, :, start:start + size] = posterior[name].transpose("chain", "draw", ...).values.reshape(
            chains, draws, size)
    return {key: template.copy(data={name: values[start:start + size].reshape(shape)
                                     for (name, shape), start, size in zip(shapes.items(), starts, sizes)})
            for key, values in convergence.summary(stacked).items()}


def diagnose(
    idata: az.InferenceData,
    *,
    var_names: Sequence[str] | None = None,
    rhat_max: float = 1.01,
    ess_per_chain: float = 100.0,
    bfmi_min: float = 0.3,
) -> pd.DataFrame:
    """Convergence checks of a fit, one row per check, with a flag per problem.

    Rows: ``max R-hat`` (rank-normalised split R-hat, must be < ``rhat_max``),
    ``min bulk ESS`` and ``min tail ESS`` (must be >= ``ess_per_chain`` x
    chains), ``divergences`` (must be 0), ``min E-BFMI`` (must be >=
    ``bfmi_min`` in every chain). Columns: ``value``, ``threshold``, ``ok``,
    ``where`` (the worst variable and index) and ``message``.

    R-hat and ESS are ArviZ's numbers, computed for all elements at once by
    :mod:`seu_sensitivity.inference.convergence`.

    ``table.attrs["trustworthy"]`` is True only when every check passes;
    :func:`verdict` says so in a sentence for a report. NaN entries (padding
    of ragged parameters, constant quantities) are ignored.
    """
    posterior = idata.posterior
    if var_names is not None:
        posterior = posterior[list(var_names)]
    n_chains = posterior.sizes["chain"]
    # NaN padding (ragged beta/delta): compute on a filled copy, then blank those entries
    padding = posterior.isnull().any(("chain", "draw"))
    filled = posterior.fillna(0.0)

    def blank(result):
        return result.where(~padding)

    ess_min = ess_per_chain * n_chains
    rows = []

    with warnings.catch_warnings():
        # constant quantities (a parameter held fixed) have no R-hat: NaN, ignored below, and no warning
        warnings.filterwarnings("ignore", message="invalid value encountered", category=RuntimeWarning)
        values = _convergence(filled)
    rhat, rhat_where = _worst(blank(values["rhat"]), np.nanargmax) if n_chains > 1 else (np.nan, "")
    rows.append(("max R-hat", rhat, f"< {rhat_max}", bool(rhat < rhat_max),
                 rhat_where, "needs at least 2 chains" if n_chains < 2 else
                 ("chains agree" if rhat < rhat_max else "chains disagree: not converged")))
    for label, method in (("min bulk ESS", "bulk"), ("min tail ESS", "tail")):
        ess, where = _worst(blank(values[f"ess_{method}"]), np.nanargmin)
        ok = bool(ess >= ess_min)
        rows.append((label, ess, f">= {ess_min:g}", ok, where,
                     "enough effective draws" if ok else "too few effective draws: run longer"))

    stats = getattr(idata, "sample_stats", None)
    if stats is not None and "diverging" in stats:
        n_div = int(stats["diverging"].sum())
        total = int(stats["diverging"].size)
        rows.append(("divergences", float(n_div), "0", n_div == 0, f"{n_div} of {total} draws",
                     "none" if n_div == 0 else "divergent transitions: estimates may be biased; "
                     "raise adapt_delta or reparameterise"))
    else:
        rows.append(("divergences", np.nan, "0", False, "", "no sampler statistics"))
    if stats is not None and "energy" in stats:
        bfmi = np.asarray(az.bfmi(idata), dtype=float)
        low = float(np.min(bfmi))
        rows.append(("min E-BFMI", low, f">= {bfmi_min}", bool(low >= bfmi_min), f"chain {int(np.argmin(bfmi))}",
                     "fine" if low >= bfmi_min else "low energy: the sampler explores the tails poorly"))
    else:
        rows.append(("min E-BFMI", np.nan, f">= {bfmi_min}", False, "", "no energy statistic"))

    table = pd.DataFrame(rows, columns=["check", "value", "threshold", "ok", "where", "message"]).set_index("check")
    table.attrs["trustworthy"] = bool(table["ok"].all())
    return table


def diagnose_by_group(
    idata: az.InferenceData,
    groups: Mapping[str, Sequence[str]] | None = None,
    *,
    rhat_max: float = 1.01,
    ess_per_chain: float = 100.0,
) -> pd.DataFrame:
    """Convergence of each group of quantities: where non-convergence lives.

    A fit can be flagged by :func:`diagnose` for quantities it never reports.
    This table says, group by group, whether the chains agree (R-hat) and
    have enough effective draws (bulk and tail ESS) for the quantities of that
    group alone. ``groups`` maps a label to variable names; by default
    ``{"reported": REPORTED, "beliefs and utilities": BELIEFS_AND_UTILITIES}``,
    each keeping the variables the posterior has. Rows: one per group, with
    ``variables``, ``max R-hat``, ``min bulk ESS``, ``min tail ESS``, the
    worst entry of each (``R-hat at``, ``bulk ESS at``) and ``ok``.

    >>> rng = np.random.default_rng(0)
    >>> stuck = rng.normal(size=(4, 400)) + np.array([[0.0], [0.0], [3.0], [3.0]])  # two chains elsewhere
    >>> idata = az.from_dict(posterior={"alpha": rng.normal(size=(4, 400)), "delta": stuck})
    >>> table = diagnose_by_group(idata)
    >>> table["ok"].to_dict()
    {'reported': True, 'beliefs and utilities': False}
    """
    if groups is None:
        groups = {"reported": REPORTED, "beliefs and utilities": BELIEFS_AND_UTILITIES}
    posterior = idata.posterior
    n_chains = posterior.sizes["chain"]
    ess_min = ess_per_chain * n_chains
    rows = {}
    for label, names in groups.items():
        present = [name for name in names if name in posterior]
        if not present:
            continue
        selected = posterior[present]
        padding = selected.isnull().any(("chain", "draw"))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="invalid value encountered", category=RuntimeWarning)
            values = {key: result.where(~padding) for key, result in _convergence(selected.fillna(0.0)).items()}
        rhat, rhat_at = _worst(values["rhat"], np.nanargmax) if n_chains > 1 else (np.nan, "")
        bulk, bulk_at = _worst(values["ess_bulk"], np.nanargmin)
        tail, _ = _worst(values["ess_tail"], np.nanargmin)
        rows[label] = {"variables": ", ".join(present), "max R-hat": rhat, "R-hat at": rhat_at,
                       "min bulk ESS": bulk, "bulk ESS at": bulk_at, "min tail ESS": tail,
                       "ok": bool(rhat < rhat_max and bulk >= ess_min and tail >= ess_min)}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.attrs.update(rhat_max=rhat_max, ess_min=ess_min)
    return table


def group_table(
    fits: Mapping[str, az.InferenceData],
    groups: Mapping[str, Sequence[str]] | None = None,
    **thresholds: float,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Convergence of several fits by group of quantities, one row per fit: ``(text, passed)``.

    ``text`` has one column per group (``groups``, by default
    :data:`HIERARCHY_GROUPS`; ``thresholds`` go to :func:`diagnose_by_group`)
    holding ``"max R-hat / min bulk ESS"``, with ``" *"`` appended where the
    group fails, ``"held fixed"`` where every quantity of the group is a
    constant (no R-hat) and ``"–"`` where the fit lacks the group, and a
    ``divergences`` column. ``passed`` holds each group's ``ok`` (NaN where
    held fixed or absent), for the prose.

    >>> rng = np.random.default_rng(0)
    >>> stuck = rng.normal(size=(4, 400)) + np.array([[0.0], [0.0], [3.0], [3.0]])  # two chains elsewhere
    >>> stats = {"diverging": np.zeros((4, 400), bool)}
    >>> fits = {"good": az.from_dict(posterior={"alpha": rng.normal(size=(4, 400))}, sample_stats=stats),
    ...         "stuck": az.from_dict(posterior={"alpha": stuck, "sigma_cell": np.zeros((4, 400))}, sample_stats=stats)}
    >>> text, passed = group_table(fits)
    >>> text.loc["stuck", ["regression", "sensitivities"]].tolist(), text.loc["good", "regression"]
    (['held fixed', '1.667 / 7 *'], '–')
    >>> passed["sensitivities"].tolist()
    [True, False]
    """
    groups = HIERARCHY_GROUPS if groups is None else groups
    text, passed = {}, {}
    for label, fit in fits.items():
        table = diagnose_by_group(fit, groups, **thresholds)
        fixed = table.index[table["max R-hat"].isna()]
        text[label] = {group: "held fixed" if group in fixed else
                       f"{row['max R-hat']:.3f} / {row['min bulk ESS']:.0f}" + ("" if row["ok"] else " *")
                       for group, row in table.iterrows()}
        text[label]["divergences"] = int(fit.sample_stats["diverging"].sum())
        passed[label] = table["ok"].where(~table.index.isin(fixed)).to_dict()
    return (pd.DataFrame.from_dict(text, orient="index").fillna("–"),
            pd.DataFrame.from_dict(passed, orient="index"))


def verdict(table: pd.DataFrame) -> str:
    """One plain sentence for a report: trustworthy, or which checks failed.

    >>> t = pd.DataFrame({"ok": [True, False], "message": ["fine", "3 divergent"]}, index=["a", "divergences"])
    >>> verdict(t)
    'This fit is NOT trustworthy: divergences (3 divergent).'
    """
    failed = table[~table["ok"].astype(bool)]
    if failed.empty:
        return "All convergence checks pass: the fit can be trusted."
    parts = [f"{check} ({row['message']})" for check, row in failed.iterrows()]
    return "This fit is NOT trustworthy: " + "; ".join(parts) + "."


#: display formats of the checks in a comparison table (pandas Styler.format)
COMPARISON_FORMATS = {"max R-hat": "{:.3f}", "min bulk ESS": "{:.0f}", "min tail ESS": "{:.0f}",
                      "divergences": "{:.0f}", "min E-BFMI": "{:.2f}"}


def compare(fits: Mapping[str, Any], **thresholds: Any) -> pd.DataFrame:
    """One row per fit: the worst value of each check of :func:`diagnose` and ``trustworthy``.

    ``fits`` maps a row name to an InferenceData, or to ``(idata, var_names)``
    to restrict the checks to some variables; ``thresholds`` go to
    :func:`diagnose`. Show it with ``table.style.format(COMPARISON_FORMATS)``.
    """
    rows = {}
    for name, entry in fits.items():
        idata, var_names = entry if isinstance(entry, tuple) else (entry, None)
        table = diagnose(idata, var_names=var_names, **thresholds)
        rows[name] = {**table["value"].to_dict(), "trustworthy": bool(table.attrs["trustworthy"])}
    return pd.DataFrame.from_dict(rows, orient="index")


def compare_means(fits: Mapping[str, az.InferenceData], var_names: Sequence[str]) -> pd.DataFrame:
    """Posterior means of the same quantities in two fits, and their difference in Monte Carlo errors.

    ``fits`` maps two labels to fits of the same posterior by different
    programs or samplers (e.g. a centred and a non-centred parameterisation).
    One row per scalar entry of ``var_names`` (``"gamma[x]"`` for labelled
    entries); columns ``"<label>: mean"`` and ``"<label>: MCSE"`` for each fit
    (the ESS-based standard error of the mean, ArviZ's ``mcse``),
    ``difference`` (first minus second) and ``in MCSEs``:
    ``|difference| / sqrt(MCSE_1^2 + MCSE_2^2)``. For independent fits of the
    same posterior that ratio is about half-normal, so values above 4 are
    rare (probability about 6e-5 each) and point to different posteriors, or
    to a fit that did not explore its posterior.

    >>> rng = np.random.default_rng(1)
    >>> fits = {name: az.from_dict(posterior={"mu": rng.normal(size=(2, 500))}) for name in ("a", "b")}
    >>> table = compare_means(fits, ["mu"])
    >>> list(table.columns)
    ['a: mean', 'a: MCSE', 'b: mean', 'b: MCSE', 'difference', 'in MCSEs']
    >>> bool(table.loc["mu", "in MCSEs"] < 4)
    True
    """
    if len(fits) != 2:
        raise ValueError(f"fits: need exactly two fits to compare, got {len(fits)}")
    (first, a), (second, b) = fits.items()
    columns: dict[str, dict[str, float]] = {}
    for label, idata in ((first, a), (second, b)):
        missing = [name for name in var_names if name not in idata.posterior]
        if missing:
            raise ValueError(f"fits[{label!r}]: no posterior variable(s) {missing}")
        means = idata.posterior[list(var_names)].mean(("chain", "draw"))
        mcses = az.mcse(idata, var_names=list(var_names), method="mean")
        for kind, dataset in (("mean", means), ("MCSE", mcses)):
            column = columns.setdefault(f"{label}: {kind}", {})
            for name in var_names:
                array = dataset[name]
                for index in np.ndindex(array.shape):
                    labels = [str(array[dim].values[i]) for dim, i in zip(array.dims, index)]
                    column[name + (f"[{', '.join(labels)}]" if labels else "")] = float(array.values[index])
    table = pd.DataFrame(columns)
    table["difference"] = table[f"{first}: mean"] - table[f"{second}: mean"]
    table["in MCSEs"] = table["difference"].abs() / np.hypot(table[f"{first}: MCSE"], table[f"{second}: MCSE"])
    return table
