"""Figures that set a study's estimates beside published ones.

* :func:`alpha_panels`: alpha against temperature, a panel per LLM x task,
  several estimates (published, independent fits, hierarchical fit) side by
  side at each temperature, on a log axis with plain-number ticks.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> import pandas as pd
>>> t = pd.DataFrame({"llm": ["a", "a"], "task": ["t", "t"], "temperature": [0.0, 1.0],
...                   "upstream": [50.0, 40.0], "upstream_lower": [30.0, 25.0], "upstream_upper": [80.0, 60.0]})
>>> fig = alpha_panels(t, estimates={"upstream": "published"})
>>> fig.axes[0].get_title(), fig.axes[0].get_xlabel()
('a, t', 'temperature')
"""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from seu_sensitivity.plots import PALETTE, levels_in_order

__all__ = ["alpha_panels", "PUBLISHED_COLORS"]

#: colours of the estimates: the same as the study's figures, published results in grey
PUBLISHED_COLORS = {"upstream": "0.35", "independent": PALETTE[0], "hierarchical": PALETTE[1]}


def alpha_panels(
    table: pd.DataFrame,
    *,
    estimates: Mapping[str, str],
    rows: str = "llm",
    columns: str = "task",
    x: str = "temperature",
    ylabel: str = r"$\alpha$ (log scale)",
    xlabel: str | None = None,
    figsize: tuple[float, float] | None = None,
) -> plt.Figure:
    """alpha against ``x``, a panel per ``rows`` x ``columns``; ``estimates`` maps a column prefix to its legend label.

    ``table`` has, for each prefix, the columns ``<prefix>``,
    ``<prefix>_lower`` and ``<prefix>_upper``
    (:func:`seu_sensitivity.studies.published.alpha_comparison`). The
    estimates at one ``x`` are drawn side by side; the x axis shows the
    panel's own values (providers' temperature grids may differ).
    """
    row_levels, col_levels = levels_in_order(table[rows]), levels_in_order(table[columns])
    fig, axes = plt.subplots(len(row_levels), len(col_levels), squeeze=False, sharey=True,
                             figsize=figsize or (4.0 * len(col_levels), 2.9 * len(row_levels)))
    n = len(estimates)
    offsets = (np.arange(n) - (n - 1) / 2) * 0.22
    for r, row_level in enumerate(row_levels):
        for c, col_level in enumerate(col_levels):
            ax = axes[r, c]
            part = table[(table[rows].astype(str) == str(row_level)) & (table[columns].astype(str) == str(col_level))]
            part = part.sort_values(x)
            xs = np.arange(len(part))
            for k, (prefix, label) in enumerate(estimates.items()):
                colour = PUBLISHED_COLORS.get(prefix, PALETTE[(k + 3) % len(PALETTE)])
                ax.vlines(xs + offsets[k], part[f"{prefix}_lower"], part[f"{prefix}_upper"], color=colour, lw=1.6)
                ax.plot(xs + offsets[k], part[prefix], "o", color=colour, ms=4.5, label=label)
            ax.set_xticks(xs)
            ax.set_xticklabels([f"{v:g}" for v in part[x]])
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
            ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(mticker.NullFormatter())
            ax.set_title(f"{row_level}, {col_level}")
            if c == 0:
                ax.set_ylabel(ylabel)
            if r == len(row_levels) - 1:
                ax.set_xlabel(xlabel or x)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig
