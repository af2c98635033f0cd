"""Figures of the single-cell choice model: the softmax rule and its ingredients.

All quantities are computed by :mod:`seu_sensitivity.model.choice`; these functions
only draw them.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from seu_sensitivity.model import choice
from seu_sensitivity.plots import PALETTE

__all__ = [
    "plot_choice_vs_alpha",
    "plot_subjective_probabilities",
    "plot_utilities",
    "plot_expected_utilities",
    "plot_menu_position_check",
    "integer_ticks",
]


def plot_choice_vs_alpha(eta: np.ndarray, alphas: np.ndarray, ax: plt.Axes | None = None) -> plt.Axes:
    """Choice probability of every alternative of one menu as alpha grows (x axis linear to 1, log beyond).

    ``eta``: expected utilities of the menu's alternatives. The SEU maximiser's
    curve is drawn thick; the dotted line is uniform choice, 1 / menu size.
    """
    ax = ax or plt.gca()
    eta = np.asarray(eta, dtype=float)
    menu = np.ones((1, eta.size), dtype=int)
    probs = choice.choice_probabilities(np.asarray(alphas, dtype=float), eta, menu)[:, 0, :]  # (alphas, R)
    best = int(np.argmax(eta))
    for r in range(eta.size):
        ax.plot(alphas, probs[:, r], color=PALETTE[r % len(PALETTE)], lw=2.6 if r == best else 1.4,
                label=rf"$\eta = {eta[r]:.2f}$" + (" (SEU max)" if r == best else ""))
    ax.axhline(1 / eta.size, color="grey", ls=":", lw=1)
    ax.set_xscale("symlog", linthresh=1.0)  # linear on [0, 1], so that alpha = 0 is on the axis; log beyond
    top = float(np.max(alphas))
    ticks = [t for t in (0, 1, 3, 10, 30, 100, 300, 1000, 3000, 10000) if t <= top]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])  # plain numbers, not powers of ten
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_xlim(0, top)
    ax.set_xlabel(r"sensitivity $\alpha$")
    ax.set_ylabel("choice probability")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="center left")
    return ax


def plot_subjective_probabilities(psi: np.ndarray, ax: plt.Axes | None = None, labels: Sequence[str] | None = None) -> plt.Axes:
    """Stacked bars of psi_r: each alternative's probabilities over the K consequences.

    The legend (one short entry per consequence, ``1`` worst to ``K`` best)
    sits above the panel, outside the bars, in one row.
    """
    ax = ax or plt.gca()
    psi = np.asarray(psi)
    R, K = psi.shape
    bottom = np.zeros(R)
    for k in range(K):
        ax.bar(np.arange(R), psi[:, k], bottom=bottom, width=0.7, color=PALETTE[k % len(PALETTE)], label=f"{k + 1}")
        bottom += psi[:, k]
    integer_ticks(ax, R, labels)
    ax.set_xlabel("alternative $r$")
    ax.set_ylabel(r"subjective probability $\psi_{rk}$")
    ax.set_ylim(0, 1)
    ax.legend(title="consequence $k$", ncol=K, loc="lower center", bbox_to_anchor=(0.5, 1.0),
              handlelength=1.0, columnspacing=0.8, title_fontsize=9, borderaxespad=0.2)
    return ax


def integer_ticks(ax: plt.Axes, n: int, labels: Sequence[str] | None = None, max_ticks: int = 12) -> list[int]:
    """Label the x axis of n categories at 0..n-1 with 1..n (or ``labels``), at most ``max_ticks`` of them.

    Beyond ``max_ticks`` categories only every k-th is labelled, so the labels
    never run together; returns the labelled positions.

    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> fig, ax = plt.subplots()
    >>> integer_ticks(ax, 30)[:4]
    [0, 3, 6, 9]
    >>> plt.close(fig)
    """
    step = max(1, int(np.ceil(n / max_ticks)))
    positions = list(range(0, n, step))
    ax.set_xticks(positions)
    names = list(labels) if labels is not None else [str(r + 1) for r in range(n)]
    ax.set_xticklabels([names[i] for i in positions])
    ax.set_xlim(-0.6, n - 0.4)
    ax.grid(False, axis="x")
    return positions


def plot_utilities(delta: np.ndarray, ax: plt.Axes | None = None) -> plt.Axes:
    """The utility ladder: upsilon_k as points joined by lines, each increment delta_i labelled beside its segment.

    Labels alternate between the upper-left of their segment's midpoint (the
    1st, 3rd, ...) and its lower-right (the 2nd, 4th, ...): for a ladder that
    never falls both corners are free of every segment, and neighbouring
    labels lie on opposite sides, so they neither cross the line nor each
    other, however small an increment is.
    """
    ax = ax or plt.gca()
    delta = np.asarray(delta, dtype=float)
    upsilon = choice.utilities(delta)
    k = np.arange(1, upsilon.size + 1)
    ax.plot(k, upsilon, "-", color="grey", lw=1.2, zorder=1)
    ax.plot(k, upsilon, "o", color=PALETTE[0], ms=7, zorder=2)
    bottom = -0.05
    for i, d in enumerate(delta):
        middle = (upsilon[i] + upsilon[i + 1]) / 2
        above = i % 2 == 0
        ax.annotate(rf"$\delta_{i + 1} = {d:.2f}$", xy=(k[i] + 0.5, middle),
                    xytext=(-4, 6) if above else (4, -6), textcoords="offset points",
                    ha="right" if above else "left", va="bottom" if above else "top", fontsize=9)
        if not above:
            bottom = min(bottom, middle - 0.2)  # room for a label below a low segment
    ax.set_xticks(k)
    ax.set_xlim(k[0] - 0.75, k[-1] + 0.5)  # room for the first label on the left, the last on the right
    ax.grid(False, axis="x")
    ax.set_xlabel("consequence $k$ (worst to best)")
    ax.set_ylabel(r"utility $\upsilon_k$")
    ax.set_ylim(bottom, 1.1)
    return ax


def plot_expected_utilities(eta: np.ndarray, ax: plt.Axes | None = None) -> plt.Axes:
    """Bar chart of expected utilities eta_r, the maximiser highlighted (and named in a legend)."""
    ax = ax or plt.gca()
    eta = np.asarray(eta)
    best = int(np.argmax(eta))
    colors = [PALETTE[3] if r == best else PALETTE[0] for r in range(eta.size)]
    bars = ax.bar(np.arange(eta.size), eta, width=0.7, color=colors)
    integer_ticks(ax, eta.size)
    ax.set_xlabel("alternative $r$")
    ax.set_ylabel(r"expected utility $\eta_r$")
    ax.set_ylim(0, 1)
    ax.legend([bars[best]], ["SEU maximiser"], loc="upper right")
    return ax


def plot_menu_position_check(observed: np.ndarray, replicated: np.ndarray, ax: plt.Axes | None = None,
                             label: str = "statistic", headroom: float = 0.3) -> plt.Axes:
    """Posterior predictive check of one statistic: histogram of replications, observed value as a line.

    The y axis leaves ``headroom`` (a share of its height) free above the
    tallest bar for the legend.
    """
    ax = ax or plt.gca()
    values = np.asarray(replicated, dtype=float).ravel()
    distinct = np.unique(values)
    if distinct.size <= 40:  # a discrete statistic: one bar per value, no gaps between bins
        step = np.min(np.diff(distinct)) if distinct.size > 1 else 1.0
        bins = np.append(distinct - step / 2, distinct[-1] + step / 2)
    else:
        bins = 30
    heights, _, _ = ax.hist(values, bins=bins, color=PALETTE[0], alpha=0.6, label="replicated data")
    ax.axvline(float(observed), color=PALETTE[3], lw=2.2, label="observed data")
    ax.set_xlabel(label)
    ax.set_ylabel("replications")
    ax.set_ylim(0, float(np.max(heights)) / (1 - headroom))  # the legend sits in the free band at the top
    ax.legend(loc="upper left")
    return ax
