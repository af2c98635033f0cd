"""Statistics of validation records: recovery, coverage tests, SBC ranks and their uniformity, flags by group.

Every function reads records (the dicts :func:`~seu_sensitivity.validation.runner.replicate`
returns) or tables made from them; none fits or touches files, so each can be
tested on synthetic records with a known answer. Failed replications
(``status`` other than ``"ok"``) are skipped by the statistics and counted by
:func:`summarize_run`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence, Union

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from seu_sensitivity.validation.runner import ValidationRun

__all__ = [
    "FAMILY_FIELDS",
    "WHOLE_FIT",
    "convergence_thresholds",
    "coverage_checks",
    "coverage_threshold",
    "default_groups",
    "ecdf_difference",
    "ecdf_difference_band",
    "family_flag_counts",
    "flag_counts",
    "group_flag_rates",
    "group_verdicts",
    "mean_scaled_rank",
    "parameter_group",
    "rank_statistic",
    "recovery_metrics",
    "sbc_ranks",
    "summarize_run",
    "uniformity_tests",
]

#: interquartile range of a normal distribution in standard deviations (2 x 0.6745)
IQR_PER_SD = 1.3489795003921634

#: a run's records, or a run (anything with a ``records`` list, as :class:`ValidationRun`)
Records = Union["ValidationRun", Sequence[Mapping[str, Any]]]


def _records_of(run: Records) -> list[Mapping[str, Any]]:
    """The records of a :class:`ValidationRun`, or the records given."""
    records = getattr(run, "records", run)
    return list(records)


def rank_statistic(draws: np.ndarray, truth: float, thin: int) -> int:
    """SBC rank: number of thinned draws below the true value (0..L).

    Draws are pooled chain-major, so taking every ``thin``-th keeps draws that
    are ``thin`` iterations apart within a chain (Talts et al. 2018, sec. 5).
    """
    kept = np.asarray(draws, dtype=float)[::thin]
    return int(np.sum(kept < truth))


def _ok(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The records of replications that completed."""
    return [r for r in records if r.get("status") == "ok"]


def parameter_group(name: str) -> str:
    """``gamma[a]`` -> ``gamma``; used to pool cells/levels in tables and figures."""
    return name.split("[", 1)[0]


def recovery_metrics(records: Iterable[Mapping[str, Any]], *, by: str = "parameter",
                     log_groups: Sequence[str] = ()) -> pd.DataFrame:
    """Bias, RMSE and 50%/90% central-interval coverage over replications, per parameter (or per ``by="group"``).

    Summarises many fits against their known truths (compare
    :func:`seu_sensitivity.inference.prior_predictive.recovery_table`, which
    tabulates one fit). Coverage is the share of entries whose interval contains the truth. Its
    Monte Carlo standard error is the binomial sqrt(p (1 - p) / reps) at the
    nominal p (so that it does not collapse when coverage is 0 or 1), with
    ``reps`` the number of *replications*, not of entries: the entries of a
    group within one replication (cells, simplex increments) are dependent,
    and whatever that dependence, the mean of a replication's coverage
    indicators has variance at most p (1 - p); replications are independent.
    For one parameter (``by="parameter"``) ``n == reps`` and this is the exact
    binomial standard error; for a group it is an upper bound.
    Bias and RMSE use the posterior mean; ``rel_rmse`` divides RMSE by the mean
    posterior sd (below ~1.5 means the error is what the posterior admits).

    A positive parameter whose values span orders of magnitude (the
    sensitivities alpha) is better judged on the log scale, where its
    regression lives: the posterior mean of a skewed parameter sits above its
    median, and a natural-scale bias is dominated by the largest truths. For
    the groups in ``log_groups`` every entry is therefore measured on the log
    scale: the estimate is the posterior median of log(theta), which is
    log(q50) exactly (quantiles follow a monotone transformation), the error
    is log(q50 / truth), and the posterior sd of log(theta) is estimated by
    the interquartile range log(q75 / q25) / 1.349 (exact for a normal
    posterior of log(theta)). Interval coverage is the same on either scale.
    Their rows are labelled ``log <group>`` (or ``log <parameter>``) and the
    column ``scale`` says which scale a row is on.

    Parameters
    ----------
    records
        Records of a run; failed replications are skipped.
    by
        ``"parameter"`` (one row per scalar, e.g. ``gamma[a]``) or ``"group"``
        (pooled by :func:`parameter_group`, e.g. ``gamma``).

    Returns
    -------
    DataFrame
        Columns ``scale`` (``"natural"`` or ``"log"``), ``n`` (entries), ``reps``
        (replications), ``bias``, ``rmse``, ``rel_rmse``, ``cov50``,
        ``cov50_mcse``, ``cov90``, ``cov90_mcse``.
    """
    columns = ["scale", "n", "reps", "bias", "rmse", "rel_rmse", "cov50", "cov50_mcse", "cov90", "cov90_mcse"]
    log_groups = set(log_groups)
    rows = []
    for rec in _ok(records):
        for name, s in rec["params"].items():
            group = parameter_group(name)
            if group in log_groups:
                error = math.log(s["q50"] / s["truth"])
                sd = math.log(s["q75"] / s["q25"]) / IQR_PER_SD
                name, group, scale = f"log {name}", f"log {group}", "log"
            else:
                error, sd, scale = s["mean"] - s["truth"], s["sd"], "natural"
            rows.append({
                "parameter": name, "group": group, "scale": scale, "rep": rec["rep"], "truth": s["truth"],
                "error": error, "sd": sd,
                "in50": s["q25"] <= s["truth"] <= s["q75"], "in90": s["q05"] <= s["truth"] <= s["q95"],
            })
    if not rows:
        return pd.DataFrame(columns=columns)
    long = pd.DataFrame(rows)
    out = long.groupby(by, sort=False).agg(
        scale=("scale", "first"), n=("error", "size"), reps=("rep", "nunique"), bias=("error", "mean"),
        rmse=("error", lambda e: float(np.sqrt(np.mean(e**2)))),
        mean_sd=("sd", "mean"), cov50=("in50", "mean"), cov90=("in90", "mean"),
    )
    out["rel_rmse"] = out["rmse"] / out["mean_sd"]
    out["cov50_mcse"] = np.sqrt(0.5 * 0.5 / out["reps"])
    out["cov90_mcse"] = np.sqrt(0.9 * 0.1 / out["reps"])
    return out[columns]


def coverage_threshold(nominal: float, reps: int, *, n_tests: int = 1, alpha: float = 0.01) -> float:
    """Highest coverage that counts as under-coverage: a coverage ``<=`` this value fails.

    The threshold is ``k / reps`` with ``k`` the largest count whose lower tail
    ``P(Binomial(reps, nominal) <= k)`` is at most ``alpha / n_tests``: an exact
    one-sided binomial test of each of ``n_tests`` coverages, Bonferroni-corrected,
    so that with nominal intervals any of them fails with probability at most
    ``alpha``. The binomial is the exact distribution of ``reps`` x the coverage
    of one parameter, and of a group pooled over entries that are all contained
    or all missed together; with less dependent entries the pooled coverage is
    less spread out (the binomial is its most dispersed case in the convex
    order), so the test is conservative. When even ``k = 0`` is too likely the
    threshold is ``-1 / reps``: no coverage fails.
    """
    from scipy import stats

    if not 0 < nominal < 1 or reps < 1 or n_tests < 1 or not 0 < alpha < 1:
        raise ValueError("coverage_threshold: need 0 < nominal < 1, reps >= 1, n_tests >= 1, 0 < alpha < 1")
    cdf = stats.binom.cdf(np.arange(reps + 1), reps, nominal)
    allowed = np.flatnonzero(cdf <= alpha / n_tests)
    k = int(allowed[-1]) if len(allowed) else -1
    return k / reps


def coverage_checks(table: pd.DataFrame, *, levels: Sequence[float] = (0.5, 0.9), alpha: float = 0.01) -> pd.DataFrame:
    """The recovery failure rule applied to every row of a :func:`recovery_metrics` and every level.

    One row per (table row, level): ``coverage``, its binomial ``mcse`` over the
    row's ``reps`` replications, the ``threshold`` of :func:`coverage_threshold`
    with ``n_tests`` = rows x levels (the whole table is one family, with
    family-wise level ``alpha``), ``z`` (how many standard errors the threshold
    lies below nominal) and ``ok`` (coverage above the threshold). Only
    under-coverage fails: at a fixed truth, shrinkage towards a prior centred
    near the truth legitimately raises coverage above nominal.
    """
    n_tests = len(table) * len(levels)
    if n_tests == 0:
        raise ValueError("coverage_checks: empty table")
    rows = []
    for label, row in table.iterrows():
        reps = int(row["reps"])
        for level in levels:
            column = f"cov{int(round(100 * level))}"
            if column not in row:
                raise ValueError(f"coverage_checks: no column {column} for level {level}")
            mcse = math.sqrt(level * (1 - level) / reps)
            threshold = coverage_threshold(level, reps, n_tests=n_tests, alpha=alpha)
            rows.append({"row": label, "level": level, "coverage": float(row[column]), "mcse": mcse, "reps": reps,
                         "threshold": threshold, "z": (level - threshold) / mcse})
    out = pd.DataFrame(rows)
    out["ok"] = out["coverage"] > out["threshold"]
    out.attrs.update(alpha=alpha, n_tests=n_tests)
    return out


def sbc_ranks(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Ranks as a (replication x parameter) table of ints 0..L."""
    rows = {rec["rep"]: {k: s["rank"] for k, s in rec["params"].items()} for rec in _ok(records)}
    return pd.DataFrame.from_dict(rows, orient="index").sort_index()


def mean_scaled_rank(ranks: pd.DataFrame, L: int) -> pd.DataFrame:
    """Mean SBC rank / L per parameter, with its standard error under uniform ranks.

    A calibrated parameter's scaled rank is uniform on [0, 1] (mean 1/2, sd
    √(1/12)), so ``z = (mean - 1/2) / se`` is about standard normal; a
    posterior that sits below the truth pushes the mean up, one above it
    pushes it down.

    >>> ranks = pd.DataFrame({"gamma0": [200] * 4 + [0] * 4})
    >>> mean_scaled_rank(ranks, 200).round(3).loc["gamma0"].to_dict()
    {'mean': 0.5, 'se': 0.102, 'z': 0.0}
    """
    scaled = ranks / L
    mean = scaled.mean()
    se = np.sqrt(1 / 12) / np.sqrt(scaled.count())
    return pd.DataFrame({"mean": mean, "se": se, "z": (mean - 0.5) / se})


def _holm(pvalues: np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (controls the family-wise error rate)."""
    p = np.asarray(pvalues, dtype=float)
    m = len(p)
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[idx]))
        adjusted[idx] = running
    return adjusted


def uniformity_tests(ranks: pd.DataFrame, L: int, *, bins: int | None = None, alpha: float = 0.05,
                     correction: str = "holm") -> pd.DataFrame:
    """Chi-square test of uniform ranks per parameter, with a multiplicity correction.

    Under calibration each rank is uniform on 0..L (L + 1 values). Ranks are
    grouped into ``bins`` equal-width bins (default: about n / 5 so expected
    counts stay >= 5, at most 20, and a divisor-friendly split of the L + 1
    values). ``correction``: ``"holm"`` or ``"bonferroni"`` over the
    parameters; ``reject`` is adjusted p < ``alpha``.
    """
    from scipy import stats

    n = len(ranks)
    if bins is None:
        bins = int(max(2, min(20, n // 5, L + 1)))
    # bin edges on the L + 1 rank values; probabilities from the exact counts of values per bin
    edges = np.linspace(0, L + 1, bins + 1)
    values_per_bin = np.diff(np.ceil(edges))
    probs = values_per_bin / (L + 1)
    rows = []
    for name in ranks.columns:
        r = ranks[name].dropna().to_numpy(dtype=float)
        counts = np.histogram(r, bins=np.ceil(edges) - 0.5)[0]
        expected = probs * len(r)
        stat, p = stats.chisquare(counts, expected)
        rows.append({"parameter": name, "n": len(r), "bins": bins, "chi2": float(stat), "p": float(p)})
    out = pd.DataFrame(rows).set_index("parameter")
    if correction == "holm":
        out["p_adj"] = _holm(out["p"].to_numpy())
    elif correction == "bonferroni":
        out["p_adj"] = np.minimum(1.0, out["p"] * len(out))
    else:
        raise ValueError(f"correction: expected 'holm' or 'bonferroni', got {correction!r}")
    out["reject"] = out["p_adj"] < alpha
    out.attrs.update(alpha=alpha, correction=correction)
    return out


def ecdf_difference(ranks: np.ndarray, L: int) -> tuple[np.ndarray, np.ndarray]:
    """ECDF of the scaled ranks minus the uniform CDF, at z = (1..L+1)/(L+1)."""
    r = np.asarray(ranks, dtype=float)
    z = np.arange(1, L + 2) / (L + 1)
    ecdf = np.array([(r < k).mean() for k in range(1, L + 2)])  # share of ranks <= k-1
    return z, ecdf - z


def ecdf_difference_band(n: int, L: int, *, level: float = 0.95, n_sim: int | None = None,
                         seed: int = 0) -> np.ndarray:
    """Half-width of a simultaneous ``level`` band for the ECDF difference of ``n`` uniform ranks.

    By simulation: draw ``n`` ranks uniform on 0..L, ``n_sim`` times, and take the
    ``level`` quantile of the largest absolute ECDF difference, standardised by
    the pointwise binomial sd sqrt(z (1 - z) / n) so the band is narrow at the
    ends and wide in the middle (as in Säilynoja et al. 2022). Returns the
    half-width at each z of :func:`ecdf_difference`; the whole curve of a
    calibrated model stays inside with probability ``level``. ``n_sim``
    defaults to enough simulations to leave about 20 beyond the quantile
    (at least 2000), so a band for a Bonferroni level such as 0.999 is not
    set by one or two extreme draws.
    """
    if not 0 < level < 1:
        raise ValueError(f"ecdf_difference_band: level must lie in (0, 1), got {level}")
    if n_sim is None:
        n_sim = max(2000, int(np.ceil(20 / (1 - level))))
    rng = np.random.default_rng(seed)
    z = np.arange(1, L + 2) / (L + 1)
    sd = np.sqrt(np.maximum(z * (1 - z), 1e-12) / n)
    sims = rng.integers(0, L + 1, size=(n_sim, n))
    # ECDF at k-1 for k = 1..L+1 via cumulative counts
    counts = np.stack([np.bincount(row, minlength=L + 1) for row in sims])
    ecdf = np.cumsum(counts, axis=1) / n
    dev = np.abs(ecdf - z)[:, :-1] / sd[:-1]  # the last point is exactly 0
    crit = float(np.quantile(dev.max(axis=1), level))
    band = crit * sd
    band[-1] = 0.0
    return band


def ecdf_band_exits(ranks: pd.DataFrame, L: int, *, level: float = 0.95, seed: int = 0) -> pd.Series:
    """Whether each parameter's ECDF difference leaves the simultaneous ``level`` band.

    ``ranks`` has one column of SBC ranks (0..L) per parameter, as
    :func:`sbc_ranks` gives them; the band is :func:`ecdf_difference_band` for
    their number of replications. For a family of m parameters, ``level`` =
    1 - a / m keeps the chance that any calibrated curve leaves its band at
    most a (Bonferroni).

    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> ranks = pd.DataFrame({"uniform": rng.integers(0, 101, 200), "piled": np.full(200, 100)})
    >>> ecdf_band_exits(ranks, 100, level=0.99).to_dict()
    {'uniform': False, 'piled': True}
    """
    exits = {}
    bands: dict[int, np.ndarray] = {}
    for name in ranks.columns:
        r = ranks[name].dropna().to_numpy()
        band = bands.setdefault(len(r), ecdf_difference_band(len(r), L, level=level, seed=seed))
        exits[name] = bool(np.any(np.abs(ecdf_difference(r, L)[1]) > band + 1e-12))
    return pd.Series(exits, name="leaves band")


def flag_counts(runs: Mapping[str, Records]) -> pd.DataFrame:
    """Which convergence checks flag the fits of each run: one row per run, one column per check.

    ``fits`` counts the replications that ran, ``flagged`` those with at least
    one failed check of :func:`seu_sensitivity.diagnose`; each further column
    counts the fits failing that check (a fit can fail several). Which
    quantities the flags come from is :func:`group_flag_rates` and
    :func:`family_flag_counts`.

    >>> ok = {"status": "ok", "diagnostics": {"trustworthy": False, "failed_checks": ["max R-hat"]}}
    >>> clean = {"status": "ok", "diagnostics": {"trustworthy": True, "failed_checks": []}}
    >>> flag_counts({"demo": [ok, clean, {"status": "failed"}]}).loc["demo"].to_dict()
    {'fits': 2, 'flagged': 1, 'max R-hat': 1}
    """
    rows = {}
    for name, run in runs.items():
        ok = _ok(_records_of(run))
        counts: dict[str, int] = {"fits": len(ok), "flagged": sum(not r["diagnostics"]["trustworthy"] for r in ok)}
        for record in ok:
            for check in record["diagnostics"]["failed_checks"]:
                counts[check] = counts.get(check, 0) + 1
        rows[name] = counts
    return pd.DataFrame.from_dict(rows, orient="index").fillna(0).astype(int)


def summarize_run(run: Records) -> dict[str, Any]:
    """Counts and timing: replications, failed (with their seeds), untrustworthy fits, seconds per replication."""
    records = _records_of(run)
    failed = [r for r in records if r.get("status") != "ok"]
    ok = _ok(records)
    seconds = [r["seconds"] for r in ok if np.isfinite(r.get("seconds", np.nan))]
    return {
        "replications": len(records),
        "ok": len(ok),
        "failed": len(failed),
        "failed_reps": [{"rep": r["rep"], "seeds": r.get("seeds"), "error": r.get("error")} for r in failed],
        "untrustworthy": sum(not r["diagnostics"]["trustworthy"] for r in ok),
        "divergent_fits": sum(r["diagnostics"]["divergences"] > 0 for r in ok),
        "seconds_per_rep": float(np.mean(seconds)) if seconds else math.nan,
    }


# ----------------------------------------------------------------------------- convergence by group

#: the figures a record keeps of each posterior variable (family), named as by
#: :func:`~seu_sensitivity.diagnose_by_group`
FAMILY_FIELDS = ("max R-hat", "R-hat at", "min bulk ESS", "bulk ESS at", "min tail ESS")

#: the row of :func:`group_flag_rates` that counts fits flagged by :func:`~seu_sensitivity.diagnose` (every check)
WHOLE_FIT = "whole fit (diagnose)"


def default_groups() -> dict[str, tuple[str, ...]]:
    """The groups :func:`~seu_sensitivity.diagnose_by_group` uses by default, read from ``diagnostics`` when called.

    ``{"reported": diagnostics.REPORTED, "beliefs and utilities":
    diagnostics.BELIEFS_AND_UTILITIES}``: what the book reports, and the
    beliefs and utilities identified only jointly. Read at call time, so a
    changed definition of the reported quantities is followed without a change
    here.
    """
    from seu_sensitivity.inference import diagnostics

    return {"reported": tuple(diagnostics.REPORTED), "beliefs and utilities": tuple(diagnostics.BELIEFS_AND_UTILITIES)}


def convergence_thresholds() -> dict[str, float]:
    """``{"rhat_max", "ess_per_chain"}``: the default thresholds of :func:`~seu_sensitivity.diagnose_by_group`.

    Read from its signature, so they stay those of the diagnostics (R-hat
    below 1.01, at least 100 effective draws per chain).

    >>> convergence_thresholds()
    {'rhat_max': 1.01, 'ess_per_chain': 100.0}
    """
    import inspect

    from seu_sensitivity.inference.diagnostics import diagnose_by_group

    parameters = inspect.signature(diagnose_by_group).parameters
    return {name: float(parameters[name].default) for name in ("rhat_max", "ess_per_chain")}


def group_verdicts(families: Mapping[str, Mapping[str, Any]], groups: Mapping[str, Sequence[str]], *,
                   rhat_max: float, ess_min: float) -> dict[str, dict[str, Any]]:
    """Each group's convergence verdict from its families' figures, as :func:`~seu_sensitivity.diagnose_by_group` gives it.

    A group's largest R-hat is the largest of its families' (NaN ignored, as
    for padded entries), its smallest bulk and tail ESS the smallest of
    theirs; ``ok`` requires R-hat below ``rhat_max`` and both ESS at least
    ``ess_min`` (total over chains). A NaN figure fails, as in
    ``diagnose_by_group`` (one chain gives no R-hat). Families a group names
    but ``families`` lacks are skipped; a group with none is left out.

    >>> fam = {"alpha": {"max R-hat": 1.002, "min bulk ESS": 900.0, "min tail ESS": 700.0},
    ...        "delta": {"max R-hat": 1.2, "min bulk ESS": 15.0, "min tail ESS": 40.0}}
    >>> out = group_verdicts(fam, {"reported": ["alpha", "eta"], "beliefs": ["delta"]}, rhat_max=1.01, ess_min=400)
    >>> out["reported"]["ok"], out["reported"]["variables"], out["beliefs"]["ok"]
    (True, ['alpha'], False)
    """
    out: dict[str, dict[str, Any]] = {}
    for label, names in groups.items():
        present = [name for name in names if name in families]
        if not present:
            continue

        def worst(field: str, pick: Any) -> float:
            values = np.array([families[name][field] for name in present], dtype=float)
            return float(pick(values)) if not np.all(np.isnan(values)) else math.nan

        with np.errstate(invalid="ignore"):
            rhat = worst("max R-hat", np.nanmax)
            bulk, tail = worst("min bulk ESS", np.nanmin), worst("min tail ESS", np.nanmin)
        out[label] = {"variables": present, "max R-hat": rhat, "min bulk ESS": bulk, "min tail ESS": tail,
                      "ok": bool(rhat < rhat_max and bulk >= ess_min and tail >= ess_min)}
    return out


def _families(record: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """The per-family convergence figures of a record; a clear error for records written before they existed."""
    diagnostics = record.get("diagnostics", {})
    if "families" not in diagnostics or "chains" not in diagnostics:
        missing = "families" if "families" not in diagnostics else "chains"
        raise ValueError(
            f"replication {record.get('rep')} (record version {record.get('version')}): no diagnostics[{missing!r}]; "
            "records before version 2 do not keep convergence by variable. Their run key differs from the current "
            "one, so running the configuration again (run_validation) computes records that have it")
    return diagnostics["families"]


def group_flag_rates(runs: Mapping[str, Records], groups: Mapping[str, Sequence[str]] | None = None, *,
                     rhat_max: float | None = None, ess_per_chain: float | None = None) -> pd.DataFrame:
    """Share of fits flagged, per run: the whole fit beside each group of quantities, with Monte Carlo errors.

    The first row of each run counts the fits flagged by
    :func:`~seu_sensitivity.diagnose` (``WHOLE_FIT``: any check on any
    quantity, divergences and E-BFMI included). Each further row recomputes a
    group's verdict from the per-family figures stored in the records
    (:func:`group_verdicts`): R-hat and bulk and tail ESS of that group's
    variables alone, so the same records answer for any grouping and any
    thresholds without refitting. Divergences and E-BFMI belong to the whole
    fit and are not in the group rows.

    Parameters
    ----------
    runs
        ``{name: records or ValidationRun}``; failed replications are skipped.
    groups
        ``{label: variable names}``; default :func:`default_groups`.
    rhat_max, ess_per_chain
        Thresholds; default :func:`convergence_thresholds` (those of the
        diagnostics). The ESS threshold is ``ess_per_chain`` x the chains of
        each fit.

    Returns
    -------
    DataFrame
        Index (``run``, ``group``); columns ``fits``, ``flagged``, ``rate``
        and ``mcse``, the binomial sqrt(rate (1 - rate) / fits).

    Raises
    ------
    ValueError
        For a record without the per-family figures (record version 1),
        naming the replication and the missing field.
    """
    groups = default_groups() if groups is None else groups
    defaults = convergence_thresholds()
    rhat_max = defaults["rhat_max"] if rhat_max is None else rhat_max
    ess_per_chain = defaults["ess_per_chain"] if ess_per_chain is None else ess_per_chain
    rows = []
    for name, run in runs.items():
        ok = _ok(_records_of(run))
        flags: dict[str, list[bool]] = {WHOLE_FIT: [not r["diagnostics"]["trustworthy"] for r in ok]}
        flags.update({label: [] for label in groups})
        for record in ok:
            families = _families(record)
            verdicts = group_verdicts(families, groups, rhat_max=rhat_max,
                                      ess_min=ess_per_chain * record["diagnostics"]["chains"])
            for label, verdict in verdicts.items():
                flags[label].append(not verdict["ok"])
        for label, flagged in flags.items():
            n, k = len(flagged), int(sum(flagged))
            rate = k / n if n else math.nan
            rows.append({"run": name, "group": label, "fits": n, "flagged": k, "rate": rate,
                         "mcse": math.sqrt(rate * (1 - rate) / n) if n else math.nan})
    table = pd.DataFrame(rows, columns=["run", "group", "fits", "flagged", "rate", "mcse"]).set_index(["run", "group"])
    table.attrs.update(rhat_max=rhat_max, ess_per_chain=ess_per_chain, groups={k: list(v) for k, v in groups.items()})
    return table


def family_flag_counts(runs: Mapping[str, Records], *, rhat_max: float | None = None,
                       ess_per_chain: float | None = None) -> pd.DataFrame:
    """Where the flags live: per run and posterior variable, the fits whose R-hat or ESS of that variable fails.

    One row per run, one column per family (``alpha``, ``delta``, ...), counts
    of fits; a column ``fits`` counts the replications that ran. Thresholds as
    in :func:`group_flag_rates`. Columns are sorted by the total count, most
    frequent first.
    """
    defaults = convergence_thresholds()
    rhat_max = defaults["rhat_max"] if rhat_max is None else rhat_max
    ess_per_chain = defaults["ess_per_chain"] if ess_per_chain is None else ess_per_chain
    rows = {}
    for name, run in runs.items():
        ok = _ok(_records_of(run))
        counts: dict[str, int] = {}
        for record in ok:
            families = _families(record)
            ess_min = ess_per_chain * record["diagnostics"]["chains"]
            for family, verdict in group_verdicts(families, {f: [f] for f in families}, rhat_max=rhat_max,
                                                  ess_min=ess_min).items():
                counts[family] = counts.get(family, 0) + (not verdict["ok"])
        rows[name] = {"fits": len(ok), **counts}
    table = pd.DataFrame.from_dict(rows, orient="index").fillna(0).astype(int)
    order = table.drop(columns="fits").sum().sort_values(ascending=False, kind="stable").index
    return table[["fits", *order]]
