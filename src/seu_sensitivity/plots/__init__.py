"""Shared figure helpers and the book's house style.

Chapter-specific figures live in submodules (``plots.primer``,
``plots.choice``, ...); everything here is used across chapters.

>>> import matplotlib
>>> matplotlib.use("Agg")
>>> use_house_style()
>>> PALETTE[0]
'#1f77b4'
"""

from __future__ import annotations

from typing import Iterable

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["PALETTE", "HOUSE_STYLE", "use_house_style", "cell_colors", "interval_plot", "levels_in_order"]

#: colour-blind-friendly cycle (matplotlib's tab10 order, used everywhere in the book)
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]

#: rcParams of the house style: light grid, no top/right spines, readable sizes
HOUSE_STYLE = {
    "figure.figsize": (7.0, 4.2),
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "savefig.bbox": "tight",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.prop_cycle": mpl.cycler(color=PALETTE),
}


def use_house_style() -> None:
    """Apply the book's matplotlib style (call once at the top of a chapter)."""
    mpl.rcParams.update(HOUSE_STYLE)


def cell_colors(n: int) -> list[str]:
    """n distinct colours for cells (cycles the palette, then a continuous map)."""
    if n <= len(PALETTE):
        return PALETTE[:n]
    cmap = plt.get_cmap("viridis")
    return [mpl.colors.to_hex(cmap(x)) for x in np.linspace(0, 0.95, n)]


def interval_plot(
    ax: plt.Axes,
    labels: Iterable[str],
    centre: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    *,
    offset: float = 0.0,
    color: str | None = None,
    label: str | None = None,
    truth: np.ndarray | None = None,
) -> plt.Axes:
    """Horizontal point-and-interval rows (a forest plot), one per label.

    Draws ``centre`` with a line from ``lower`` to ``upper``; ``offset`` shifts
    the rows so several estimates of the same quantities can sit side by side;
    ``truth`` adds open markers for known values (simulations).
    """
    labels = list(labels)
    rows = np.arange(len(labels)) + offset
    ax.hlines(rows, lower, upper, color=color, lw=1.6, label=None)
    ax.plot(centre, rows, "o", color=color, ms=4.5, label=label)
    if truth is not None:
        ax.plot(truth, np.arange(len(labels)), "D", mfc="none", mec="black", ms=5, label="truth")
    ax.set_yticks(np.arange(len(labels)))
    ax.set_yticklabels(labels)
    ax.invert_yaxis()
    return ax


def levels_in_order(series: pd.Series) -> list:
    """The distinct values of a column in the order a figure shows them.

    A Categorical keeps its category order (levels that do not occur are
    dropped); other columns keep the order of first appearance.

    >>> import pandas as pd
    >>> levels_in_order(pd.Series(["b", "a", "b"]))
    ['b', 'a']
    >>> levels_in_order(pd.Series(pd.Categorical(["b", "a"], categories=["a", "c", "b"])))
    ['a', 'b']
    """
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series)
        return [level for level in series.cat.categories if level in present]
    return list(dict.fromkeys(series))
