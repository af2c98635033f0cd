"""Figures of the validation runs: recovery scatter, SBC rank histograms and ECDF differences."""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats

from seu_sensitivity.validation import ecdf_difference, ecdf_difference_band, sbc_ranks

__all__ = ["rank_histograms", "ecdf_difference_plot", "recovery_scatter"]


def _grid(n: int, ncols: int = 4, size: float = 2.4):
    ncols = min(ncols, max(n, 1))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def rank_histograms(records: Iterable[Mapping], L: int, *, parameters: Sequence[str] | None = None,
                    bins: int | None = None, level: float = 0.99):
    """One histogram of SBC ranks per parameter, with the ``level`` band of a
    uniform bin count (binomial quantiles; pointwise, as in Talts et al. 2018, fig. 3)."""
    ranks = sbc_ranks(records)
    names = list(parameters or ranks.columns)
    n = len(ranks)
    bins = bins or int(max(2, min(20, n // 5, L + 1)))
    edges = np.ceil(np.linspace(0, L + 1, bins + 1)) - 0.5
    p = 1.0 / bins
    lo, hi = stats.binom.ppf([(1 - level) / 2, (1 + level) / 2], n, p)
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        ax.axhspan(lo, hi, color="0.85", zorder=0)
        ax.axhline(n * p, color="0.5", lw=0.8)
        ax.hist(ranks[name].dropna(), bins=edges, color="C0", edgecolor="white")
        ax.set_title(name, fontsize=9)
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def ecdf_difference_plot(records: Iterable[Mapping], L: int, *, parameters: Sequence[str] | None = None,
                         level: float = 0.95, seed: int = 0):
    """ECDF of ranks minus the uniform CDF per parameter, inside a simultaneous ``level`` band."""
    ranks = sbc_ranks(records)
    names = list(parameters or ranks.columns)
    band = ecdf_difference_band(len(ranks), L, level=level, seed=seed)
    fig, axes = _grid(len(names))
    for ax, name in zip(axes, names):
        z, diff = ecdf_difference(ranks[name].dropna().to_numpy(), L)
        ax.fill_between(z, -band, band, color="0.85", step="post")
        ax.step(z, diff, where="post", color="C0")
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def recovery_scatter(records: Iterable[Mapping], *, parameters: Sequence[str] | None = None):
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
