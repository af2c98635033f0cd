"""Figures of the single-cell choice model: the softmax rule and its ingredients.

All quantities are computed by :mod:`seu_sensitivity.model.choice`; these functions
only draw them.
"""

from __future__ import annotations

from typing import Sequence

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
]


def plot_choice_vs_alpha(eta: np.ndarray, alphas: np.ndarray, ax: plt.Axes | None = None) -> plt.Axes:
    """Choice probability of every alternative of one menu as alpha grows (log-scaled x axis).

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
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlabel(r"sensitivity $\alpha$")
    ax.set_ylabel("choice probability")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="center left")
    return ax


def plot_subjective_probabilities(psi: np.ndarray, ax: plt.Axes | None = None, labels: Sequence[str] | None = None) -> plt.Axes:
    """Stacked bars of psi_r: each alternative's probabilities over the K consequences."""
    ax = ax or plt.gca()
    psi = np.asarray(psi)
    R, K = psi.shape
    bottom = np.zeros(R)
    for k in range(K):
        ax.bar(np.arange(R), psi[:, k], bottom=bottom, color=PALETTE[k % len(PALETTE)], label=f"consequence {k + 1}")
        bottom += psi[:, k]
    ax.set_xticks(np.arange(R))
    ax.set_xticklabels(labels if labels is not None else [str(r + 1) for r in range(R)])
    ax.set_xlabel("alternative $r$")
    ax.set_ylabel(r"$\psi_{rk}$")
    ax.set_ylim(0, 1)
    ax.legend(ncol=min(K, 4), loc="upper center", bbox_to_anchor=(0.5, 1.15))
    return ax


def plot_utilities(delta: np.ndarray, ax: plt.Axes | None = None) -> plt.Axes:
    """The utility ladder: upsilon_k as points, the increments delta as the steps between them."""
    ax = ax or plt.gca()
    upsilon = choice.utilities(delta)
    k = np.arange(1, upsilon.size + 1)
    ax.step(k, upsilon, where="post", color="grey", lw=1)
    ax.plot(k, upsilon, "o", color=PALETTE[0], ms=7)
    for i, d in enumerate(np.asarray(delta)):
        ax.annotate(rf"$\delta_{i + 1} = {d:.2f}$", xy=(k[i] + 0.5, (upsilon[i] + upsilon[i + 1]) / 2),
                    ha="center", va="center", fontsize=9, bbox=dict(fc="white", ec="none", alpha=0.8))
    ax.set_xticks(k)
    ax.set_xlabel("consequence $k$ (worst to best)")
    ax.set_ylabel(r"utility $\upsilon_k$")
    ax.set_ylim(-0.05, 1.05)
    return ax


def plot_expected_utilities(eta: np.ndarray, ax: plt.Axes | None = None) -> plt.Axes:
    """Bar chart of expected utilities eta_r, the maximiser highlighted."""
    ax = ax or plt.gca()
    eta = np.asarray(eta)
    colors = [PALETTE[3] if r == np.argmax(eta) else PALETTE[0] for r in range(eta.size)]
    ax.bar(np.arange(eta.size), eta, color=colors)
    ax.set_xticks(np.arange(eta.size))
    ax.set_xticklabels([str(r + 1) for r in range(eta.size)])
    ax.set_xlabel("alternative $r$")
    ax.set_ylabel(r"expected utility $\eta_r$")
    ax.set_ylim(0, 1)
    return ax


def plot_menu_position_check(observed: np.ndarray, replicated: np.ndarray, ax: plt.Axes | None = None,
                             label: str = "statistic") -> plt.Axes:
    """Posterior predictive check of one statistic: histogram of replications, observed value as a line."""
    ax = ax or plt.gca()
    values = np.asarray(replicated, dtype=float).ravel()
    distinct = np.unique(values)
    if distinct.size <= 40:  # a discrete statistic: one bar per value, no gaps between bins
        step = np.min(np.diff(distinct)) if distinct.size > 1 else 1.0
        bins = np.append(distinct - step / 2, distinct[-1] + step / 2)
    else:
        bins = 30
    ax.hist(values, bins=bins, color=PALETTE[0], alpha=0.6, label="replicated data")
    ax.axvline(float(observed), color=PALETTE[3], lw=2.2, label="observed data")
    ax.set_xlabel(label)
    ax.set_ylabel("replications")
    ax.legend()
    return ax
