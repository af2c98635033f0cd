"""Figures of partial pooling in the normal-means model: shrinkage, the funnel, the population scale, prediction.

Each function draws on a given Axes and returns it, so a chapter can lay out
panels as it likes:

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import matplotlib.pyplot as plt, numpy as np
>>> fig, ax = plt.subplots()
>>> _ = shrinkage_arrows(ax, ["a", "b"], [10.0, -4.0], [6.0, -1.0], population_mean=2.0, size=[5, 50])
>>> sum(text.arrow_patch is not None for text in ax.texts)  # one arrow per group
2
>>> plt.close(fig)
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from seu_sensitivity.plots import PALETTE

__all__ = ["shrinkage_arrows", "funnel_scatter", "tau_posteriors", "predictive_densities"]


def shrinkage_arrows(
    ax: plt.Axes,
    labels: Sequence[str],
    no_pooling: Sequence[float],
    partial_pooling: Sequence[float],
    *,
    population_mean: float,
    size: Sequence[float] | None = None,
    size_label: str = "n",
    complete_pooling: float | None = None,
    xlabel: str = "estimate",
) -> plt.Axes:
    """One row per group: an arrow from its no-pooling to its partial-pooling estimate.

    The population mean is a dashed vertical line (and the complete-pooling
    estimate, if given, a dotted one). ``size`` (data per group) labels each
    row and scales the markers, so it is visible that groups with less data
    travel further.
    """
    labels = list(labels)
    no_pooling = np.asarray(no_pooling, dtype=float)
    partial_pooling = np.asarray(partial_pooling, dtype=float)
    rows = np.arange(len(labels))
    if size is not None:
        size = np.asarray(size, dtype=float)
        marker = 20 + 80 * (size - size.min()) / max(np.ptp(size), 1e-12)
        labels = [f"{name} ({size_label} = {s:g})" for name, s in zip(labels, size)]
    else:
        marker = np.full(len(labels), 40.0)
    ax.axvline(population_mean, color="black", ls="--", lw=1, label="population mean")
    if complete_pooling is not None:
        ax.axvline(complete_pooling, color="grey", ls=":", lw=1.2, label="complete pooling")
    for row, start, end in zip(rows, no_pooling, partial_pooling):
        ax.annotate(
            "", xy=(end, row), xytext=(start, row),
            arrowprops=dict(arrowstyle="-|>", color="grey", lw=1.4, shrinkA=3, shrinkB=3),
        )
    ax.scatter(no_pooling, rows, s=marker, marker="o", facecolor="white", edgecolor=PALETTE[1], lw=1.5, zorder=3,
               label="no pooling")
    ax.scatter(partial_pooling, rows, s=marker, marker="X", color=PALETTE[0], zorder=4, label="partial pooling")
    ax.set_yticks(rows)
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    return ax


def funnel_scatter(
    ax: plt.Axes,
    log_tau: np.ndarray,
    theta: np.ndarray,
    diverging: np.ndarray,
    *,
    title: str = "",
    theta_label: str = r"$\theta_1$",
    scale_label: str = r"$\log\tau$",
) -> plt.Axes:
    """Posterior draws of (log tau, theta_1) with divergent transitions marked in red.

    Any funnel works: ``log_tau`` is the log of the population scale (x axis,
    labelled ``scale_label``) and ``theta`` one group's quantity (y axis,
    ``theta_label``); ``diverging`` flags the draws whose transition diverged.
    """
    log_tau = np.asarray(log_tau).ravel()
    theta = np.asarray(theta).ravel()
    diverging = np.asarray(diverging, dtype=bool).ravel()
    ax.scatter(log_tau[~diverging], theta[~diverging], s=4, alpha=0.35, color=PALETTE[0], label="draw")
    ax.scatter(log_tau[diverging], theta[diverging], s=14, color=PALETTE[3], label=f"divergent ({diverging.sum()})")
    ax.set_xlabel(scale_label)
    ax.set_ylabel(theta_label)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left")
    return ax


def tau_posteriors(
    ax: plt.Axes,
    grids: Sequence[np.ndarray],
    densities: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    draws: Sequence[np.ndarray] | None = None,
    priors: Sequence[np.ndarray] | None = None,
    xmax: float = 40.0,
) -> plt.Axes:
    """Exact posterior densities of tau (lines), optionally with the priors (dashed) and Stan draws (histograms)."""
    bins = np.linspace(0.0, xmax, 61)
    for index, (grid, density, label) in enumerate(zip(grids, densities, labels)):
        color = PALETTE[index % len(PALETTE)]
        keep = grid <= xmax
        ax.plot(grid[keep], density[keep], color=color, lw=2, label=f"{label}: posterior")
        if priors is not None:
            ax.plot(grid[keep], priors[index][keep], color=color, lw=1, ls="--", label=f"{label}: prior")
        if draws is not None:
            ax.hist(np.asarray(draws[index]).ravel(), bins=bins, density=True, color=color, alpha=0.18)
    ax.set_xlim(0.0, xmax)
    ax.set_xlabel(r"population scale $\tau$")
    ax.set_ylabel("density")
    return ax


def predictive_densities(
    ax: plt.Axes,
    samples: Sequence[np.ndarray],
    labels: Sequence[str],
    *,
    observed: float | None = None,
    xlabel: str = "",
    bins: int = 80,
    headroom: float = 0.35,
) -> plt.Axes:
    """Overlaid histograms (as step lines) of predictive draws; the observed value as a vertical line.

    The y axis leaves ``headroom`` (a share of its height) free above the
    tallest bar, where the legend goes, so the legend never covers the data.
    """
    pooled = np.concatenate([np.asarray(s).ravel() for s in samples])
    low, high = np.quantile(pooled, [0.002, 0.998])
    edges = np.linspace(low, high, bins + 1)
    tallest = 0.0
    for index, (sample, label) in enumerate(zip(samples, labels)):
        sample = np.asarray(sample).ravel()
        heights, _, _ = ax.hist(sample, bins=edges, density=True, histtype="stepfilled", alpha=0.25,
                                color=PALETTE[index])
        tallest = max(tallest, float(np.max(heights)))
        ax.hist(sample, bins=edges, density=True, histtype="step", lw=1.8, color=PALETTE[index],
                label=f"{label} (sd {np.std(sample):.1f})")
    if observed is not None:
        ax.axvline(observed, color="black", lw=1.2, label="observed")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_ylim(0.0, tallest / (1.0 - headroom))
    ax.legend(loc="upper left", frameon=True, facecolor="white", edgecolor="none", framealpha=1.0)  # hides the line
    return ax
