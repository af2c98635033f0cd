"""Figures of the validation runs: recovery intervals and coverage, SBC rank histograms, ECDF differences,
and the well- versus mis-specified SBC contrast."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from seu_sensitivity.validation.statistics import ecdf_difference, ecdf_difference_band, parameter_group, sbc_ranks

__all__ = ["rank_histograms", "ecdf_difference_plot", "recovery_scatter", "centred_intervals_plot", "coverage_plot",
           "sbc_contrast_plot"]

#: colours of intervals that contain / miss the truth
INSIDE, OUTSIDE = "C0", "C3"


#: width of a figure at the page's width, in inches (fonts of the house style stay >= 9 pt at this size)
PAGE_WIDTH = 8.0

#: how the chapter names the parameters in titles (mathtext)
LABELS = {"gamma0": r"$\gamma_0$", "sigma_cell": r"$\sigma_{\mathrm{cell}}$", "gamma": r"$\gamma$",
          "alpha": r"$\alpha$", "delta": r"$\delta$"}


def _parameter_label(name: str) -> str:
    """A readable title for a parameter: ``gamma0`` -> γ₀, ``gamma[a[T.a2]]`` -> γ[a2], ``alpha[c]`` -> α[c]."""
    group = name.split("[", 1)[0]
    label = LABELS.get(group, group)
    if "[" in name:
        inner = name.split("[", 1)[1][:-1]
        inner = inner.split("[T.", 1)[1].rstrip("]") if "[T." in inner else inner
        label = f"{label}[{inner.replace('__', ' ')}]"
    return label


def _grid(n: int, ncols: int = 3, height: float = 2.3, width: float = PAGE_WIDTH):
    """``n`` panels in rows of ``ncols`` at the page's width."""
    ncols = min(ncols, max(n, 1))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, height * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def _default_bins(n: int, L: int) -> int:
    """Histogram bins: about n / 5 (expected counts >= 5), at most 20 and at most L + 1."""
    return int(max(2, min(20, n // 5, L + 1)))


def _hist_panel(ax, ranks: np.ndarray, L: int, bins: int, level: float) -> None:
    """Rank histogram with the pointwise ``level`` band of a uniform bin count."""
    n = len(ranks)
    edges = np.ceil(np.linspace(0, L + 1, bins + 1)) - 0.5
    p = 1.0 / bins
    lo, hi = stats.binom.ppf([(1 - level) / 2, (1 + level) / 2], n, p)
    ax.axhspan(lo, hi, color="0.85", zorder=0)
    ax.axhline(n * p, color="0.5", lw=0.8)
    ax.hist(ranks, bins=edges, color="C0", edgecolor="white")
    ax.set_ylabel("replications")


def _ecdf_panel(ax, ranks: np.ndarray, L: int, band: np.ndarray, *, color: str = "C0", label: str | None = None,
                draw_band: bool = True) -> bool:
    """ECDF difference of the ranks inside a simultaneous band; returns whether the curve leaves it
    (then drawn in red)."""
    z, diff = ecdf_difference(ranks, L)
    outside = bool(np.any(np.abs(diff) > band + 1e-12))
    if draw_band:
        ax.fill_between(z, -band, band, color="0.87", step="post", lw=0)
        ax.axhline(0, color="0.5", lw=0.8)
    ax.step(z, diff, where="post", color=OUTSIDE if outside else color, lw=1.6, label=label)
    ax.set_xlim(0, 1)
    ax.set_xticks([0, 0.5, 1])
    return outside


def rank_histograms(records: Iterable[Mapping], L: int, *, parameters: Sequence[str] | None = None,
                    bins: int | None = None, level: float = 0.99) -> plt.Figure:
    """One histogram of SBC ranks per parameter, with the ``level`` band of a
    uniform bin count (binomial quantiles; pointwise, as in Talts et al. 2018, fig. 3).

    The bins default to about one per five replications (at most 20): a
    histogram needs a few dozen replications to show a shape; with fewer,
    :func:`ecdf_difference_plot` is the display to use."""
    ranks = sbc_ranks(records)
    names = list(parameters or ranks.columns)
    bins = bins or _default_bins(len(ranks), L)
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        _hist_panel(ax, ranks[name].dropna().to_numpy(), L, bins, level)
        ax.set_title(_parameter_label(name))
        ax.set_xlabel(f"rank (0 to {L})")
    fig.tight_layout()
    return fig


def ecdf_difference_plot(records: Iterable[Mapping], L: int, *, parameters: Sequence[str] | None = None,
                         level: float = 0.95, seed: int = 0, ncols: int = 3) -> plt.Figure:
    """ECDF of ranks minus the uniform CDF per parameter, inside a simultaneous ``level`` band
    (a curve that leaves the band is drawn in red).

    Works for any number of replications (no binning): the band of
    :func:`~seu_sensitivity.validation.statistics.ecdf_difference_band` widens
    as the replications get fewer. Panels in rows of ``ncols`` at the page's
    width, sharing the vertical axis; each is titled by the parameter's name."""
    ranks = sbc_ranks(records)
    names = list(parameters or ranks.columns)
    band = ecdf_difference_band(len(ranks), L, level=level, seed=seed)
    fig, axes = _grid(len(names), ncols=ncols, height=2.0)
    axes = list(axes)
    for ax in axes[1:len(names)]:
        ax.sharey(axes[0])
    for k, (ax, name) in enumerate(zip(axes, names)):
        _ecdf_panel(ax, ranks[name].dropna().to_numpy(), L, band)
        ax.set_title(_parameter_label(name))
        if k % ncols == 0:
            ax.set_ylabel("ECDF − uniform")
        if k >= len(names) - ncols:
            ax.set_xlabel("scaled rank")
    fig.tight_layout()
    return fig


def sbc_contrast_plot(runs: Mapping[str, tuple[Iterable[Mapping], int]], *, parameters: Sequence[str] = ("gamma0",),
                      band_level: float = 0.95, seed: int = 0) -> plt.Figure:
    """Calibrated and miscalibrated SBC in one panel per parameter: each run's ECDF
    difference (a curve leaving the simultaneous ``band_level`` band is drawn in red,
    dashed for the second run), with each run's band.

    ``runs`` maps a legend label (e.g. ``"well-specified"``) to ``(records, L)``.
    Unlike a rank histogram, the display needs no bins and reads the same for
    any number of replications.
    """
    fig, axes = plt.subplots(1, len(parameters), figsize=(PAGE_WIDTH, 3.0), squeeze=False, sharey=True)
    styles = ["-", "--", ":"]
    for j, name in enumerate(parameters):
        ax = axes[0, j]
        for i, (label, (records, L)) in enumerate(runs.items()):
            ranks = sbc_ranks(records)
            band = ecdf_difference_band(len(ranks), L, level=band_level, seed=seed)
            _ecdf_panel(ax, ranks[name].dropna().to_numpy(), L, band, color=f"C{i}", label=label, draw_band=(i == 0))
            ax.lines[-1].set_linestyle(styles[i % len(styles)])
        ax.set_title(LABELS.get(name, name))
        ax.set_xlabel("scaled rank")
    axes[0, 0].set_ylabel("ECDF − uniform")
    axes[0, -1].legend(loc="lower left", fontsize=9)
    fig.tight_layout()
    return fig


def recovery_scatter(records: Iterable[Mapping], *, parameters: Sequence[str] | None = None) -> plt.Figure:
    """Posterior mean with its 90% interval against the true value, one panel per parameter."""
    rows = [{"parameter": k, **s} for r in records if r.get("status") == "ok" for k, s in r["params"].items()]
    long = pd.DataFrame(rows)
    names = list(parameters or long["parameter"].unique())
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        d = long[long["parameter"] == name]
        inside = (d["q05"] <= d["truth"]) & (d["truth"] <= d["q95"])
        ax.vlines(d["truth"], d["q05"], d["q95"], color=np.where(inside, "C0", "C3"), lw=0.8, alpha=0.7)
        ax.plot(d["truth"], d["mean"], "o", ms=2.5, color="k")
        lims = [min(d["truth"].min(), d["q05"].min()), max(d["truth"].max(), d["q95"].max())]
        ax.plot(lims, lims, color="0.5", lw=0.8)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def _centred(d: pd.DataFrame, log: bool) -> pd.DataFrame:
    """Posterior mean and 5%/95% quantiles minus the truth, or, on the log scale, the posterior
    median and the quantiles as log ratios to the truth (the median of log(theta) is log of theta's median)."""
    if log:
        cols = ["q50", "q05", "q95"]
        return np.log(d[cols].clip(lower=1e-300).div(d["truth"], axis=0))
    cols = ["mean", "q05", "q95"]
    return d[cols].sub(d["truth"], axis=0)


def centred_intervals_plot(runs: Mapping[str, Iterable[Mapping]] | Iterable[Mapping], *,
                           groups: Sequence[str] = ("gamma0", "gamma", "sigma_cell", "alpha", "delta"),
                           log_groups: Sequence[str] = ("alpha",), max_intervals: int = 300,
                           seed: int = 0) -> plt.Figure:
    """90% posterior intervals of every recovered entry, centred at its true value.

    One panel per run and parameter group (``runs``: label -> records, or just
    records), pooling the group's entries over cells and replications, at the
    page's width: with one run, the groups in rows of three; with several,
    one column per run and one row per group. Each vertical line is an
    interval minus the truth (log ratio to the truth for ``log_groups``, whose
    scale spans orders of magnitude), sorted by the error of the posterior
    mean (for ``log_groups``: of the posterior median, as in
    :func:`~seu_sensitivity.validation.statistics.recovery_metrics`);
    blue intervals contain the truth (cross zero), red ones miss it. At most
    ``max_intervals`` entries are drawn per panel (a fixed random subset); the
    coverage in the title uses them all.
    """
    if not isinstance(runs, Mapping):
        runs = {"": runs}
    rng = np.random.default_rng(seed)
    ncols = 3 if len(runs) == 1 else len(runs)
    panels = [(label, records, group) for label, records in runs.items() for group in groups]
    if len(runs) > 1:  # one column per run: order the panels row by row (group), column by column (run)
        panels = [(label, runs[label], group) for group in groups for label in runs]
    fig, axes = _grid(len(panels), ncols=ncols, height=2.2)
    for ax, (label, records, group) in zip(axes, panels):
        rows = [{"parameter": k, **s} for r in records if r.get("status") == "ok" for k, s in r["params"].items()]
        long = pd.DataFrame(rows)
        long["group"] = long["parameter"].map(parameter_group)
        d = long[long["group"] == group]
        if d.empty:
            ax.set_visible(False)
            continue
        inside = ((d["q05"] <= d["truth"]) & (d["truth"] <= d["q95"])).to_numpy()
        coverage = inside.mean()
        keep = np.arange(len(d))
        if len(d) > max_intervals:
            keep = np.sort(rng.choice(len(d), size=max_intervals, replace=False))
        c = _centred(d, group in log_groups).to_numpy()[keep]
        order = np.argsort(c[:, 0])
        x = np.arange(len(order))
        ax.vlines(x, c[order, 1], c[order, 2], color=np.where(inside[keep][order], INSIDE, OUTSIDE),
                  lw=1.0 if len(order) < 100 else 0.6)
        ax.plot(x, c[order, 0], ".", ms=2.5, color="k")
        ax.axhline(0, color="0.3", lw=0.8)
        ax.set_xticks([])
        ax.set_xlabel(f"{len(d)} entries" + (f" ({len(keep)} shown)" if len(keep) < len(d) else ""), fontsize=9)
        name = LABELS.get(group, group)
        ax.set_title((f"{label}: " if label else "") + f"{name}, coverage {coverage:.2f}", fontsize=10)
        ax.set_ylabel(f"log({name} est. / truth)" if group in log_groups else "estimate − truth", fontsize=9)
    fig.tight_layout()
    return fig


def coverage_plot(checks: pd.DataFrame, *, se_multiple: float = 2.0) -> plt.Figure:
    """Coverage of each group at each level with its Monte Carlo error and the failure threshold.

    ``checks`` is the output of :func:`~seu_sensitivity.validation.statistics.coverage_checks`
    (its ``row`` labels: a group, or a ``(design, group)`` tuple). One panel per
    level: the observed coverage with a bar of +/- ``se_multiple`` MC standard
    errors, the nominal level (dashed) and the threshold below which the
    coverage counts as a failure (red tick; none when no coverage can fail). A failed
    row is drawn in red.
    """
    levels = sorted(checks["level"].unique())
    labels = list(dict.fromkeys(checks["row"]))
    names = [" ".join(map(str, r)) if isinstance(r, tuple) else str(r) for r in labels]
    fig, axes = plt.subplots(1, len(levels), figsize=(3.4 * len(levels), 0.35 * len(labels) + 1.2), squeeze=False,
                             sharey=True)
    y = {label: k for k, label in enumerate(labels)}
    for ax, level in zip(axes[0], levels):
        d = checks[checks["level"] == level]
        ys = np.array([y[r] for r in d["row"]])
        colors = np.where(d["ok"], "C0", OUTSIDE)
        ax.errorbar(d["coverage"], ys, xerr=se_multiple * d["mcse"], fmt="none", ecolor=colors, elinewidth=1.2)
        ax.scatter(d["coverage"], ys, color=colors, s=18, zorder=3)
        can_fail = d["threshold"] >= 0  # a negative threshold: no coverage can fail, nothing to mark
        ax.scatter(d["threshold"][can_fail], ys[can_fail.to_numpy()], marker="|", color=OUTSIDE, s=80, zorder=2)
        ax.axvline(level, color="0.4", ls="--", lw=0.8)
        low = min(d["threshold"][can_fail].min() if can_fail.any() else level, d["coverage"].min())
        ax.set_xlim(max(-0.04, low - 0.05), 1.02)
        ax.set_title(f"{level:.0%} intervals", fontsize=10)
        ax.set_xlabel("coverage")
    axes[0, 0].set_yticks(range(len(labels)), names)
    axes[0, 0].invert_yaxis()
    fig.tight_layout()
    return fig
