"""Figures of predictive checks: observed statistics against their predictive intervals, and LOO-PIT.

* :func:`interval_panels`: a statistic per cell against a numeric factor, a
  panel per combination of two other factors, the observed value against the
  replicated median and interval (e.g. repeat consistency against
  temperature, a panel per LLM x task);
* :func:`discrepancy_plot`: observed minus predicted for a few pooled
  statistics, with the predictive interval around zero, one marker per group;
* :func:`pit_ecdf`: the ECDF of PIT values minus the uniform CDF, with the
  simultaneous band inside which it stays with the given probability when the
  values are uniform (Säilynoja et al. 2022).

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> table = pd.DataFrame({"llm": ["a", "a"], "task": ["t", "t"], "temperature": [0.0, 1.0], "observed": [0.9, 0.8],
...                       "replicated": [0.85, 0.8], "lower": [0.8, 0.7], "upper": [0.9, 0.88]})
>>> fig = interval_panels(table, x="temperature", rows="task", columns="llm", ylabel="consistency")
>>> len(fig.axes), fig.axes[0].get_ylabel()
(1, 'consistency')
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from seu_sensitivity.plots import PALETTE, levels_in_order

__all__ = ["interval_panels", "discrepancy_plot", "pit_ecdf", "OBSERVED_COLOR", "PREDICTED_COLOR"]

#: the observed value and the predictive distribution, the same in every check
OBSERVED_COLOR = PALETTE[3]
PREDICTED_COLOR = PALETTE[0]


def interval_panels(
    table: pd.DataFrame,
    *,
    x: str,
    rows: str | None = None,
    columns: str | None = None,
    ylabel: str,
    xlabel: str | None = None,
    prob: float = 0.9,
    figsize: tuple[float, float] | None = None,
    flag: str | None = "p",
    flag_level: float = 0.05,
) -> plt.Figure:
    """Observed statistic (red dot) against its predictive median (tick) and ``prob`` interval (bar), by ``x``.

    ``table`` has the factor columns and ``observed``, ``replicated``,
    ``lower`` and ``upper``; a panel per level of ``rows`` x ``columns``, all
    panels on one y axis fitted to the data. With ``flag``, an observed value
    whose p-value column is below ``flag_level`` or above 1 - ``flag_level``
    is drawn filled, the others open.
    """
    row_levels = levels_in_order(table[rows]) if rows else [None]
    col_levels = levels_in_order(table[columns]) if columns else [None]
    fig, axes = plt.subplots(len(row_levels), len(col_levels), squeeze=False, sharey=True,
                             figsize=figsize or (4.0 * len(col_levels), 2.8 * len(row_levels)))
    values = table[["observed", "lower", "upper"]].to_numpy(float)
    span = max(values.max() - values.min(), 0.05)
    for r, row_level in enumerate(row_levels):
        for c, col_level in enumerate(col_levels):
            ax = axes[r, c]
            part = table
            if rows:
                part = part[part[rows].astype(str) == str(row_level)]
            if columns:
                part = part[part[columns].astype(str) == str(col_level)]
            part = part.sort_values(x)
            xs = np.arange(len(part))
            ax.vlines(xs, part["lower"], part["upper"], color=PREDICTED_COLOR, lw=5, alpha=0.35,
                      label=f"predicted, {prob:.0%} interval")
            ax.plot(xs, part["replicated"], "_", color=PREDICTED_COLOR, ms=14, mew=2, label="predicted, median")
            extreme = np.zeros(len(part), dtype=bool)
            if flag and flag in part.columns:
                extreme = ((part[flag] < flag_level) | (part[flag] > 1 - flag_level)).to_numpy()
            ax.plot(xs[~extreme], part["observed"].to_numpy()[~extreme], "o", mfc="white", mec=OBSERVED_COLOR,
                    mew=1.6, ms=6, label="observed")
            if extreme.any():
                ax.plot(xs[extreme], part["observed"].to_numpy()[extreme], "o", color=OBSERVED_COLOR, ms=6,
                        label=f"observed, p < {flag_level:g} or > {1 - flag_level:g}")
            ax.set_xticks(xs)
            ax.set_xticklabels([f"{v:g}" if isinstance(v, (int, float, np.number)) else str(v) for v in part[x]])
            ax.set_xlim(-0.5, len(part) - 0.5)
            ax.set_title(", ".join(str(v) for v in (row_level, col_level) if v is not None))
            if c == 0:
                ax.set_ylabel(ylabel)
            if r == len(row_levels) - 1:
                ax.set_xlabel(xlabel or x)
    axes[0, 0].set_ylim(values.min() - 0.08 * span, values.max() + 0.08 * span)
    handles, labels = [], []
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels()):
            if label not in labels:
                handles.append(h)
                labels.append(label)
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def discrepancy_plot(
    table: pd.DataFrame,
    *,
    category: str,
    group: str,
    ax: plt.Axes | None = None,
    scale: float = 100.0,
    ylabel: str = "observed − predicted (percentage points)",
    xlabel: str | None = None,
) -> plt.Axes:
    """Observed minus predicted median for pooled statistics, with the predictive interval around zero.

    ``table`` is indexed by (``group``, ``category``), e.g.
    :func:`seu_sensitivity.studies.checks.consistency_by_size`, with
    ``observed``, ``replicated``, ``lower``, ``upper``; each group gets a
    colour and a small horizontal offset. Values are multiplied by ``scale``
    (100: shares in percentage points).
    """
    if ax is None:
        _, ax = plt.subplots()
    groups = levels_in_order(table.index.get_level_values(group).to_series())
    categories = list(dict.fromkeys(table.index.get_level_values(category)))
    offsets = (np.arange(len(groups)) - (len(groups) - 1) / 2) * 0.25
    for k, g in enumerate(groups):
        part = table.xs(g, level=group).reindex(categories)
        xs = np.arange(len(categories)) + offsets[k]
        colour = PALETTE[k % len(PALETTE)]
        centre = part["replicated"].to_numpy(float)
        ax.vlines(xs, (part["lower"] - centre) * scale, (part["upper"] - centre) * scale, color=colour, lw=5, alpha=0.3)
        ax.plot(xs, (part["observed"] - centre) * scale, "o", color=colour, ms=6, label=str(g))
    ax.axhline(0.0, color="0.4", lw=1, ls=":")
    ax.set_xticks(np.arange(len(categories)))
    ax.set_xticklabels([str(c) for c in categories])
    ax.set_xlabel(xlabel or category)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False)
    return ax


def pit_ecdf(
    pit: Mapping[str, np.ndarray],
    *,
    ax: plt.Axes | None = None,
    band_prob: float = 0.95,
    colors: Sequence[str] | None = None,
) -> plt.Axes:
    """ECDF of each group's PIT values minus the uniform CDF, and the simultaneous ``band_prob`` band.

    The band (ArviZ's ``ecdf_confidence_band``) is drawn for the smallest
    group, the widest; an ECDF that leaves its band is evidence against
    uniformity. Above zero at small u: too many small PIT values.
    """
    from arviz.stats.ecdf_utils import ecdf_confidence_band

    if not pit:
        raise ValueError("pit_ecdf: no PIT values")
    if ax is None:
        _, ax = plt.subplots()
    grid = np.linspace(0, 1, 201)
    n = min(len(v) for v in pit.values())
    lower, upper = ecdf_confidence_band(n, grid, grid, prob=band_prob)
    ax.fill_between(grid, lower - grid, upper - grid, color="0.85", step="mid",
                    label=f"{band_prob:.0%} simultaneous band, n = {n}")
    for k, (name, values) in enumerate(pit.items()):
        u = np.sort(np.asarray(values, dtype=float))
        ecdf = np.searchsorted(u, grid, side="right") / len(u)
        colour = (colors or PALETTE)[k % len(colors or PALETTE)]
        ax.plot(grid, ecdf - grid, color=colour, lw=1.6, label=f"{name} (n = {len(u)})")
    ax.axhline(0.0, color="0.4", lw=1, ls=":")
    ax.set_xlabel("LOO-PIT value u")
    ax.set_ylabel("ECDF(u) − u")
    ax.set_xlim(0, 1)
    ax.legend(frameon=False, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=len(pit) + 1)
    return ax
